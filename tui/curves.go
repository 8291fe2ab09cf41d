package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"poselab/engine"
)

// xMode is what the x axis of the loss chart counts.
type xMode int

const (
	xStep    xMode = iota // training step
	xElapsed              // seconds since the run started
	xWall                 // wall-clock time
)

func (x xMode) String() string {
	return [...]string{"step", "elapsed", "wall clock"}[x]
}

// smoothLadder are the EMA weights `[` and `]` step through. 0.999 is the
// ceiling TensorBoard uses; the debiased EMA reaches the newest point at
// every weight.
var smoothLadder = []float64{0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999}

// curvesView holds how the curves are looked at (not the data).
type curvesView struct {
	zoom   float64 // 1 = all steps; 2 = the newest half, ...
	pan    float64 // how many window widths the view is moved back from the newest point
	logY   bool
	x      xMode
	smooth int  // index into smoothLadder
	valX   bool // validation chart shows loss instead of MPJPE
}

func newCurvesView() curvesView { return curvesView{zoom: 1, smooth: 5} }

func (v *curvesView) zoomBy(f float64) {
	v.zoom = math.Min(math.Max(v.zoom*f, 1), 1e5)
	v.pan = math.Min(v.pan, v.zoom-1)
}

// panBy moves the window by d window widths, no further back than the
// first point (zoom-1 widths): presses beyond it used to pile up, and the
// way back to the newest steps had to undo each before the view moved.
func (v *curvesView) panBy(d float64) {
	v.pan = math.Min(math.Max(0, v.pan+d), v.zoom-1)
}

// window maps the full x range to the visible one: the zoomed window ends
// at the newest point (following it) unless panned back.
func (v curvesView) window(lo, hi float64) (float64, float64) {
	if !(hi > lo) {
		return lo, lo + 1
	}
	span := (hi - lo) / v.zoom
	right := hi - v.pan*span
	if right-span < lo {
		right = lo + span
	}
	return right - span, right
}

// plotted is a run the charts draw, with its data cut at the freeze point.
type plotted struct {
	r        *runData
	info     engine.RunInfo
	selected bool
}

// renderCurves draws the loss, validation and learning-rate charts into
// w x h cells.
func renderCurves(v curvesView, runs []plotted, sched *engine.Schedule, w, h int) string {
	if w < 20 || h < 6 {
		return blankBlock(w, h, "enlarge the terminal to see the curves")
	}
	var sel *plotted
	for i := range runs {
		if runs[i].selected {
			sel = &runs[i]
		}
	}
	if w >= 100 {
		// Wide: loss | validation above, learning rate below. On a
		// short terminal the learning rate keeps its title line only:
		// its 5 lines used to leave the loss chart no plot at all.
		lrH := max(5, h/4)
		if h-lrH < 6 {
			lrH = 1
		}
		top := h - lrH
		lw := w * 62 / 100
		loss := lossChart(v, runs, lw, top)
		val := valChart(v, runs, w-lw-1, top)
		return lipgloss.JoinVertical(lipgloss.Left,
			lipgloss.JoinHorizontal(lipgloss.Top, loss, " ", val),
			lrChart(sel, sched, w, lrH))
	}
	// Narrow: loss above, validation | learning rate below.
	top := max(6, h*55/100)
	bot := h - top
	lw := w / 2
	return lipgloss.JoinVertical(lipgloss.Left,
		lossChart(v, runs, w, top),
		lipgloss.JoinHorizontal(lipgloss.Top, valChart(v, runs, lw, bot), " ", lrChart(sel, sched, w-lw-1, bot)))
}

func lossChart(v curvesView, runs []plotted, w, h int) string {
	weight := smoothLadder[v.smooth]
	lo, hi := math.Inf(1), math.Inf(-1)
	empty := "waiting for the first training step…"
	for _, p := range runs {
		n := len(p.r.step)
		xs := p.r.xs(v.x, n)
		if len(xs) == 0 {
			if n > 0 {
				// Steps from the run store (an earlier process) carry
				// no times: they are not "to come".
				empty = "stored steps have no times: press x for steps"
			}
			continue
		}
		lo, hi = math.Min(lo, xs[0]), math.Max(hi, xs[n-1])
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	} else if v.x == xStep {
		lo = 0
	}
	x0, x1 := v.window(lo, hi)
	c := chart{w: w, h: h, logY: v.logY, xUnit: v.x.String(), x0: x0, x1: x1, empty: empty}
	switch v.x {
	case xElapsed:
		c.timeX = true
		c.xFmt = func(s float64) string {
			if s < 0.5 {
				return "0s"
			}
			return fmtDur(time.Duration(s * float64(time.Second)))
		}
	case xWall:
		c.timeX = true
		// the local clock of the machine that trains
		c.xFmt = func(s float64) string { return time.Unix(int64(s), 0).Format("15:04:05") }
	}
	var now, at string
	// Raw data of the selected run first (faint), then the smoothed
	// curves, the selected one last so that it is on top.
	for _, sel := range []bool{false, true} {
		for _, p := range runs {
			n := len(p.r.step)
			xs := p.r.xs(v.x, n)
			if p.selected != sel || len(xs) == 0 {
				continue
			}
			if sel && weight > 0 {
				c.series = append([]series{{xs: xs, ys: p.r.loss, color: colRaw}}, c.series...)
			}
			ys := p.r.loss
			if weight > 0 && p.r.ema != nil {
				ys = p.r.ema.smoothed(ys, weight)
			} else if weight > 0 {
				ys = smoothEMA(ys, weight)
			}
			c.series = append(c.series, series{xs: xs, ys: ys, color: p.r.color})
			if sel {
				now = fmt.Sprintf(" · now %s", fmtNum(p.r.loss[n-1]))
				if weight > 0 && len(runs) == 1 {
					now += fmt.Sprintf(" (EMA %s)", fmtNum(ys[n-1]))
				}
				at = " @ step " + fmtCount(int(p.r.step[n-1]))
			}
		}
	}
	title := stTitle.Render("train loss")
	if l := lossName(runs); l != "" {
		title += stDim.Render(" (" + l + ")")
	}
	tags := []string{}
	if v.logY {
		tags = append(tags, "log")
	}
	if weight > 0 {
		tags = append(tags, "EMA "+fmtNum(weight))
	} else {
		tags = append(tags, "raw")
	}
	if v.zoom > 1 {
		tags = append(tags, fmt.Sprintf("zoom %sx", fmtNum(v.zoom)))
	}
	if v.pan > 0 {
		tags = append(tags, "panned")
	}
	title += stDim.Render(" [" + strings.Join(tags, ", ") + "]")
	legend := ""
	if len(runs) > 1 {
		// Overlaid runs: a legend in their colours, the selected first.
		for _, sel := range []bool{true, false} {
			for _, p := range runs {
				if p.selected == sel {
					legend += " " + paletteStyle(p.r.color).Render("■ "+runName(p))
				}
			}
		}
	}
	// Narrow, the step goes (the runs list has it), then the legend goes
	// after the loss: cut at its end, the title lost the loss mid-number
	// ("now 0.…") beside two overlaid runs' names.
	c.title = title + legend + stDim.Render(now+at)
	if lipgloss.Width(c.title) > w {
		c.title = title + legend + stDim.Render(now)
	}
	if lipgloss.Width(c.title) > w && legend != "" {
		c.title = title + stDim.Render(now+" ·") + legend
	}
	return c.render()
}

func runName(p plotted) string {
	if p.info.Spec.Name != "" {
		return p.info.Spec.Name
	}
	return p.r.id
}

// lossName names the training loss when all drawn runs agree on it.
func lossName(runs []plotted) string {
	name := ""
	for _, p := range runs {
		l := p.info.Spec.Loss
		if l == "" {
			l = p.r.spec.Loss
		}
		if name != "" && l != name {
			return ""
		}
		name = l
	}
	return strings.ToUpper(name)
}

// valMetric picks what the validation chart shows for a run's epoch: MPJPE
// in mm, the 2D pixel error for 2D models, or the validation loss.
func valMetric(e engine.EpochInfo, loss bool) (float64, string) {
	switch {
	case loss:
		return e.ValLoss, ""
	case e.MPJPE > 0:
		return e.MPJPE, "mm"
	case e.Pixel > 0:
		return e.Pixel, "px"
	}
	return math.NaN(), "mm"
}

func valChart(v curvesView, runs []plotted, w, h int) string {
	c := chart{w: w, h: h, xUnit: "epoch", logY: v.logY, empty: "no validation yet"}
	c.xFmt = func(x float64) string { return fmt.Sprintf("%.0f", x) }
	lo, hi := math.Inf(1), math.Inf(-1)
	unit, noneYet := "mm", ""
	for _, p := range runs {
		if p.selected && len(p.r.epochs) == 0 {
			// None yet: the engine says what its validation will be in
			// (an SH run's empty chart read "val MPJPE (mm)").
			noneYet = engine.ValUnit(p.info.Spec.Model)
		}
	}
	var now, best, bestShort string
	for _, sel := range []bool{false, true} {
		for _, p := range runs {
			if p.selected != sel || len(p.r.epochs) == 0 {
				continue
			}
			xs := make([]float64, len(p.r.epochs))
			ys := make([]float64, len(p.r.epochs))
			for i, e := range p.r.epochs {
				xs[i] = float64(epochNo(e.Epoch))
				ys[i], unit = valMetric(e, v.valX)
			}
			lo, hi = math.Min(lo, xs[0]), math.Max(hi, xs[len(xs)-1])
			c.series = append(c.series, series{xs: xs, ys: ys, color: p.r.color, dots: len(xs) < w})
			if sel {
				f := fmtNum
				if unit == "mm" {
					f = fmtMM
				}
				now = " · now " + f(ys[len(ys)-1])
				if b := p.r.best(); b != nil && !v.valX {
					bv, _ := valMetric(*b, false)
					best = fmt.Sprintf(" · best %s (epoch %d)", f(bv), epochNo(b.Epoch))
					bestShort = fmt.Sprintf(" · best %s (ep %d)", f(bv), epochNo(b.Epoch))
				}
			}
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 1, 2
	}
	if hi-lo < 1 {
		hi = lo + 1
	}
	c.x0, c.x1 = lo, hi
	if noneYet != "" {
		unit = noneYet
	}
	name := "val MPJPE (" + unit + ")"
	if unit == "px" {
		name = "val 2D error (px)"
	}
	if v.valX {
		name = "val loss"
	}
	// Narrow (half of 80 columns), "now" goes, which the runs list
	// shows: cut at its end, the title lost the best epoch. Narrower (the
	// side chart of 100 columns, 3-digit epochs), "epoch" is "ep", then
	// the name loses "MPJPE" or "2D error" (its unit stays): the cut
	// read "(epoch 18…" for epoch 188.
	c.title = stTitle.Render(name) + stDim.Render(now+best)
	if best != "" {
		for _, t := range [][2]string{{name, best}, {name, bestShort}, {"val (" + unit + ")", bestShort}} {
			if lipgloss.Width(c.title) <= w {
				break
			}
			c.title = stTitle.Render(t[0]) + stDim.Render(t[1])
		}
	}
	return c.render()
}

func lrChart(sel *plotted, sched *engine.Schedule, w, h int) string {
	c := chart{w: w, h: h, xUnit: "step", empty: "no run selected"}
	if sel == nil {
		c.title = stTitle.Render("learning rate")
		c.x0, c.x1 = 0, 1
		return c.render()
	}
	r := sel.r
	total := sel.info.TotalSteps
	if total <= 0 && sched != nil {
		total = sched.TotalSteps
	}
	cur := sel.info.Step
	if n := len(r.step); n > 0 {
		cur = max(cur, int(r.step[n-1]))
	}
	total = max(total, cur, 1)
	c.x0, c.x1 = 0, float64(total)
	// The past as the engine reported it.
	if len(r.step) > 0 {
		c.series = append(c.series, series{xs: r.step, ys: r.lr, color: r.color})
	}
	lrNow := math.NaN()
	if n := len(r.lr); n > 0 {
		lrNow = r.lr[n-1]
	}
	kind := ""
	if sched != nil {
		// The future from the schedule itself, one sample per dot column.
		// The x axis counts steps done (as step events do): step number s
		// runs with the schedule's LR(s-1).
		cols := max(2, 2*(w-yGutter))
		var fx, fy []float64
		for i := 0; i <= cols; i++ {
			s := cur + int(math.Round(float64(i)/float64(cols)*float64(total-cur)))
			if len(fx) > 0 && float64(s) == fx[len(fx)-1] {
				continue
			}
			fx = append(fx, float64(s))
			fy = append(fy, sched.LR(max(s-1, 0)))
		}
		c.series = append(c.series, series{xs: fx, ys: fy, color: colFuture, dotted: true})
		if math.IsNaN(lrNow) {
			lrNow = sched.LR(max(cur-1, 0)) // the last step done's rate, as the forecast maps it
		}
		kind = sched.Kind
		if kind == "" {
			kind = "constant"
		}
		// Log scale when the schedule spans more than a decade.
		lo, hi := sched.LR(0), sched.LR(0)
		for _, y := range fy {
			lo, hi = math.Min(lo, y), math.Max(hi, y)
		}
		c.logY = lo > 0 && hi/lo > 10
	}
	c.vlines = []vline{{x: float64(cur), color: colMarker}}
	tags := kind
	if c.logY {
		tags += ", log"
	}
	// Narrow, "learning rate" is "lr" and the legend goes, then the step
	// (the runs list has it): cut at its end, the title lost the rate.
	for k := 0; k < 3; k++ {
		title := stTitle.Render("learning rate")
		if k > 0 {
			title = stTitle.Render("lr")
		}
		if tags != "" {
			title += stDim.Render(" [" + tags + "]")
		}
		title += stDim.Render(" · now " + fmtNum(lrNow))
		if k < 2 {
			title += stDim.Render(fmt.Sprintf(" @ step %s/%s", fmtCount(cur), fmtCount(total)))
		}
		if k == 0 {
			title += stDim.Render(" · ┊ future")
		}
		c.title = title
		if lipgloss.Width(title) <= w {
			break
		}
	}
	return c.render()
}
