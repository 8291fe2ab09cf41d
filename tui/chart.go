package tui

import (
	"math"
	"strings"

	"charm.land/lipgloss/v2"
)

// series is one line on a chart. xs must be ascending.
type series struct {
	xs, ys []float64
	color  int  // palette index
	dotted bool // draw every other column (projections, the future)
	dots   bool // mark each point with a heavier dot (few points, e.g. epochs)
}

// chart is a line chart with a y axis on the left and an x axis below.
type chart struct {
	title      string // first line (may carry styled text)
	w, h       int    // total cells, including labels
	x0, x1     float64
	y0, y1     float64 // if y0 >= y1 the range is taken from the visible data
	logY       bool
	xFmt, yFmt func(float64) string
	xUnit      string
	timeX      bool // x counts seconds: ticks at round minutes and hours
	series     []series
	vlines     []vline // vertical markers (current step)
	empty      string  // text to show where there is no data
}

type vline struct {
	x     float64
	color int
}

const yGutter = 8 // width of the y labels plus the axis line

// render draws the chart into exactly h lines of w cells.
func (c chart) render() string {
	plotW, plotH := c.w-yGutter, c.h-3
	if plotW < 4 || plotH < 1 {
		return blankBlock(c.w, c.h, c.title)
	}
	cv := newCanvas(plotW, plotH)
	ty := func(y float64) float64 {
		if c.logY {
			if y <= 0 {
				return math.NaN()
			}
			return math.Log10(y)
		}
		return y
	}
	// Bucket every series to the pixel columns once: the y range and the
	// drawing both use the buckets, never the raw points.
	pw := cv.pw()
	buckets := make([][]bucket, len(c.series))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, s := range c.series {
		ys := s.ys
		if c.logY {
			ys = make([]float64, len(s.ys))
			for k, v := range s.ys {
				ys[k] = ty(v)
			}
		}
		buckets[i] = bucketize(s.xs, ys, c.x0, c.x1, pw)
		for _, b := range buckets[i] {
			if b.ok {
				lo, hi = math.Min(lo, b.min), math.Max(hi, b.max)
			}
		}
	}
	if c.y0 < c.y1 {
		lo, hi = ty(c.y0), ty(c.y1)
	}
	hasData := !math.IsInf(lo, 0)
	if !hasData {
		lo, hi = 0, 1
	}
	if hi-lo < 1e-12 {
		pad := math.Max(math.Abs(hi)*0.05, 1e-3)
		lo, hi = lo-pad, hi+pad
	} else if c.y0 >= c.y1 {
		pad := (hi - lo) * 0.05
		lo, hi = lo-pad, hi+pad
	}
	ph := cv.ph()
	py := func(y float64) int { return int(math.Round((hi - y) / (hi - lo) * float64(ph-1))) }
	for _, v := range c.vlines {
		if v.x < c.x0 || v.x > c.x1 {
			continue
		}
		px := int(math.Round((v.x - c.x0) / (c.x1 - c.x0) * float64(pw-1)))
		for y := 0; y < ph; y += 2 {
			cv.set(px, y, v.color)
		}
	}
	for i, s := range c.series {
		prevX, prevY := -1, 0
		for x, b := range buckets[i] {
			if !b.ok {
				continue
			}
			if s.dotted && x%2 == 1 {
				continue
			}
			top, bot, first, last := py(b.max), py(b.min), py(b.first), py(b.last)
			if prevX >= 0 && !s.dotted {
				cv.line(prevX, prevY, x, first, s.color)
			}
			cv.line(x, top, x, bot, s.color)
			if s.dots {
				cv.line(x-1, last, x+1, last, s.color)
				cv.line(x, last-1, x, last+1, s.color)
			}
			prevX, prevY = x, last
		}
	}
	rows := cv.rows(paletteStyle)
	var out []string
	out = append(out, fitStyled(c.title, c.w))
	yf := c.yFmt
	if yf == nil {
		yf = fmtNum
	}
	// y labels at round values (decades on a log axis), one per row at
	// most and never on neighbouring rows.
	yLabels := map[int]string{}
	if hasData {
		for _, t := range yTicks(lo, hi, max(2, plotH/3), c.logY) {
			row := int((hi - t) / (hi - lo) * float64(ph-1) / 4)
			if row < 0 || row >= plotH || yLabels[row] != "" || yLabels[row-1] != "" || yLabels[row+1] != "" {
				continue
			}
			v := t
			if c.logY {
				v = math.Pow(10, t)
			}
			yLabels[row] = yf(v)
		}
	}
	for r := 0; r < plotH; r++ {
		label := yLabels[r]
		axis := "│"
		if label != "" {
			axis = "┤"
		}
		g := stDim.Render(padLeft(label, yGutter-1) + axis)
		out = append(out, g+rows[r])
	}
	// x axis with ticks, then the tick labels and the unit.
	ticks, labels := c.xTicks(plotW)
	axis := []rune(strings.Repeat("─", plotW))
	for _, t := range ticks {
		axis[t] = '┬'
	}
	out = append(out, stDim.Render(strings.Repeat(" ", yGutter-1)+"└"+string(axis)))
	out = append(out, stDim.Render(strings.Repeat(" ", yGutter)+labels))
	if !hasData && c.empty != "" {
		mid := 1 + plotH/2
		msg := fitWidth("", max(0, (plotW-len([]rune(c.empty)))/2)) + c.empty
		out[mid] = stDim.Render(strings.Repeat(" ", yGutter-1)+"│") + stFaint.Render(fitWidth(msg, plotW))
	}
	return strings.Join(out, "\n")
}

// xTicks places tick labels at round values (1, 2 or 5 times a power of
// ten; minutes and hours on time axes) without overlap, and ends the line
// with the unit.
func (c chart) xTicks(plotW int) ([]int, string) {
	xf := c.xFmt
	if xf == nil {
		xf = fmtSI
	}
	unit := []rune(c.xUnit)
	limit := plotW - len(unit) - 1
	var line []rune
	var ticks []int
	// On a narrow chart the few round ticks may all fall under the unit
	// (1..55 epochs: only 50): finer steps then, for at least two.
	for n := max(1, plotW/12); n <= 4*max(1, plotW/12); n *= 2 {
		line = []rune(strings.Repeat(" ", plotW))
		ticks = ticks[:0]
		next := 0
		for _, v := range niceTicks(c.x0, c.x1, n, c.timeX) {
			col := int(math.Round((v - c.x0) / (c.x1 - c.x0) * float64(plotW-1)))
			if col < 0 || col >= plotW {
				continue
			}
			lab := []rune(xf(v))
			start := max(col-len(lab)/2, 0)
			if start < next || start+len(lab) > limit {
				continue
			}
			copy(line[start:], lab)
			ticks = append(ticks, col)
			next = start + len(lab) + 2
		}
		if len(ticks) >= 2 {
			break
		}
	}
	if len(unit) > 0 && len(unit) < plotW {
		copy(line[plotW-len(unit):], unit)
	}
	return ticks, string(line)
}

// yTicks returns tick positions in the axis' own space (log10 of the value
// on a log axis): decades first, then 2x and 5x, then plain round values.
func yTicks(lo, hi float64, n int, logY bool) []float64 {
	if !logY {
		return niceTicks(lo, hi, n, false)
	}
	var out []float64
	for k := math.Ceil(lo); k <= hi; k++ {
		out = append(out, k)
	}
	if len(out) < 2 {
		out = out[:0]
		for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
			for _, m := range []float64{1, 2, 5} {
				if t := k + math.Log10(m); t >= lo && t <= hi {
					out = append(out, t)
				}
			}
		}
	}
	if len(out) < 2 {
		out = out[:0]
		for _, v := range niceTicks(math.Pow(10, lo), math.Pow(10, hi), n, false) {
			if v > 0 {
				out = append(out, math.Log10(v))
			}
		}
	}
	return out
}

// niceTicks returns round values in [lo, hi], about n of them.
func niceTicks(lo, hi float64, n int, timeAxis bool) []float64 {
	if !(hi > lo) || n < 1 {
		return nil
	}
	raw := (hi - lo) / float64(n)
	step := 0.0
	if timeAxis {
		for _, s := range []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400} {
			if s >= raw {
				step = s
				break
			}
		}
	}
	if step == 0 {
		p := math.Pow(10, math.Floor(math.Log10(raw)))
		for _, m := range []float64{1, 2, 5, 10} {
			if m*p >= raw {
				step = m * p
				break
			}
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9 && len(out) < 4*n+4; v += step {
		out = append(out, v)
	}
	return out
}

func padLeft(s string, w int) string {
	n := len([]rune(s))
	if n >= w {
		return string([]rune(s)[:w])
	}
	return strings.Repeat(" ", w-n) + s
}

// fitStyled pads or cuts a possibly styled line to w cells.
func fitStyled(s string, w int) string {
	n := lipgloss.Width(s)
	if n > w {
		// A wide rune across the cut goes whole, leaving w-1 cells: pad.
		s = truncate(s, w)
		n = lipgloss.Width(s)
	}
	return s + strings.Repeat(" ", max(w-n, 0))
}

// blankBlock is a w x h block with an optional first line.
func blankBlock(w, h int, first string) string {
	lines := make([]string, max(h, 1))
	for i := range lines {
		lines[i] = strings.Repeat(" ", max(w, 0))
	}
	if first != "" {
		lines[0] = fitStyled(first, w)
	}
	return strings.Join(lines, "\n")
}
