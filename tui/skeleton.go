package tui

import (
	"fmt"
	"math"
	"strings"

	"poselab/engine"
	"poselab/pose"
)

// skelView holds how the skeletons are looked at.
type skelView struct {
	sample int     // index into the run's validation samples
	yaw    float64 // degrees, rotation about the vertical axis
	layers int     // 0 both, 1 ground truth only, 2 prediction only
}

var layerNames = []string{"ground truth + prediction", "ground truth", "prediction"}

// projection picks two camera axes for a view: screen x from axis a, screen
// y from axis b (with sign; camera y points down, so +1 keeps it).
type projection struct {
	name   string
	a, b   int
	sa, sb float64
}

var projections = []projection{
	{"front (x-y)", 0, 1, 1, 1},
	{"side (z-y)", 2, 1, 1, 1},
	{"top (x-z)", 0, 2, 1, -1},
}

func sideColor(j int, gt bool) int {
	switch pose.JointSide[j] {
	case pose.Left:
		if gt {
			return colLeftGT
		}
		return colLeft
	case pose.Right:
		if gt {
			return colRightGT
		}
		return colRight
	}
	if gt {
		return colMidGT
	}
	return colMid
}

func rotateYaw(p pose.Pose3D, deg float64) pose.Pose3D {
	s, c := math.Sincos(deg * math.Pi / 180)
	var q pose.Pose3D
	for j, v := range p {
		q[j] = pose.Vec3{c*v[0] + s*v[2], v[1], -s*v[0] + c*v[2]}
	}
	return q
}

// renderSkeleton draws the chosen validation sample of a run.
func renderSkeleton(r *runData, v skelView, w, h int) string {
	if r == nil || len(r.samples) == 0 {
		if r != nil && len(r.epochs) > 0 && r.state != "" && !r.state.Active() {
			// A run from the store (an earlier process) will send none.
			return blankBlock(w, h, stTitle.Render("skeletons")+stDim.Render(" · none: samples come with validations seen live, the run store keeps none"))
		}
		return blankBlock(w, h, stTitle.Render("skeletons")+stDim.Render(" · waiting for validation samples…"))
	}
	idx := ((v.sample % len(r.samples)) + len(r.samples)) % len(r.samples)
	s := r.samples[idx]
	title := stTitle.Render("skeletons") + stDim.Render(fmt.Sprintf(" · sample %d/%d (validation #%d) · epoch %d",
		idx+1, len(r.samples), s.Index, epochNo(r.sampleEp)))
	// What t shows: both layers, or one of them.
	shown := []string{" · ground truth dim, prediction bright", " · ground truth only", " · prediction only"}[v.layers]
	legend := paletteStyle(colLeft).Render("■ left") + " " + paletteStyle(colRight).Render("■ right") + " " +
		paletteStyle(colMid).Render("■ centre") + stDim.Render(shown)
	var body string
	if s.Is2D() {
		// The engine's error of the sample (original-image pixels, as the
		// epoch's); a sample stored before samples carried it has none.
		if s.ErrorPx > 0 {
			title += stDim.Render(fmt.Sprintf(" · error %s px", fmtMM(s.ErrorPx)))
		}
		title += stDim.Render(" · " + layerNames[v.layers])
		legend = paletteStyle(colLeft).Render("■ left") + " " + paletteStyle(colRight).Render("■ right") + stDim.Render(" · o ground truth, x prediction, over the crop")
		body = render2D(s, v, w, h-2)
	} else {
		// The sample's own error, as the engine scored it. It comes
		// before the rest: on 80 columns the title ended "ground truth +
		// prediction ·…", the error and the rotation cut; the legend
		// says which layers show.
		title += stDim.Render(fmt.Sprintf(" · error %s mm · yaw %+.0f°", fmtMM(s.ErrorMM), v.yaw))
		body = render3D(s, v, w, h-2)
	}
	return fitStyled(title, w) + "\n" + body + "\n" + fitStyled(legend, w)
}

func render3D(s engine.PoseSample, v skelView, w, h int) string {
	gt, pred := rotateYaw(s.GT, v.yaw), rotateYaw(s.Pred, v.yaw)
	n := len(projections)
	vw := (w - (n - 1)) / n
	if vw < 8 || h < 4 {
		return blankBlock(w, h, "enlarge the terminal to see the skeletons")
	}
	// One scale for all views, so that lengths compare across them; each
	// view is centred on the bounding box of both poses.
	type box struct{ lo, hi [3]float64 }
	bb := box{lo: [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}, hi: [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}}
	for _, p := range []*pose.Pose3D{&gt, &pred} {
		for _, j := range p {
			if !finite(j[0] + j[1] + j[2]) {
				continue
			}
			for k := 0; k < 3; k++ {
				bb.lo[k], bb.hi[k] = math.Min(bb.lo[k], j[k]), math.Max(bb.hi[k], j[k])
			}
		}
	}
	if math.IsInf(bb.lo[0], 0) {
		return blankBlock(w, h, "no finite joints in this sample")
	}
	pw, ph := float64(2*vw), float64(4*(h-1))
	scale := math.Inf(1)
	for _, pr := range projections {
		sa, sb := math.Max(bb.hi[pr.a]-bb.lo[pr.a], 1), math.Max(bb.hi[pr.b]-bb.lo[pr.b], 1)
		scale = math.Min(scale, math.Min((pw-3)/sa, (ph-3)/sb))
	}
	mid := func(k int) float64 { return (bb.lo[k] + bb.hi[k]) / 2 }
	var blocks []string
	for _, pr := range projections {
		cv := newCanvas(vw, h-1)
		to := func(p pose.Vec3) (int, int) {
			return int(math.Round(pw/2 + pr.sa*(p[pr.a]-mid(pr.a))*scale)), int(math.Round(ph/2 + pr.sb*(p[pr.b]-mid(pr.b))*scale))
		}
		draw := func(p *pose.Pose3D, isGT bool) {
			for _, b := range pose.Bones() {
				c, par := p[b.Child], p[b.Parent]
				if !finite(c[0] + c[1] + c[2] + par[0] + par[1] + par[2]) {
					continue
				}
				x0, y0 := to(par)
				x1, y1 := to(c)
				cv.line(x0, y0, x1, y1, sideColor(b.Child, isGT))
			}
		}
		if v.layers != 2 {
			draw(&gt, true)
		}
		if v.layers != 1 {
			draw(&pred, false)
		}
		rows := cv.rows(paletteStyle)
		lines := append([]string{stDim.Render(fitWidth(pr.name, vw))}, rows...)
		blocks = append(blocks, strings.Join(lines, "\n"))
	}
	out := blocks[0]
	for _, b := range blocks[1:] {
		out = joinCols(joinCols(out, blankBlock(1, h, "")), b)
	}
	return padBlock(out, w, h)
}

// shades renders a grey level as a character (works without colour).
var shades = []rune(" .:-=+*#%@")

// render2D draws the crop (or heatmap) coarsely with the 2D joints on top.
func render2D(s engine.PoseSample, v skelView, w, h int) string {
	img := s.Image
	// The crop keeps its aspect: one cell is about twice as tall as wide.
	cw, ch := w, h
	srcW, srcH := 1.0, 1.0
	if img != nil && img.W > 0 && img.H > 0 {
		srcW, srcH = float64(img.W), float64(img.H)
	} else {
		for _, p := range append(append([]pose.Vec2{}, s.GT2D...), s.Pred2D...) {
			srcW, srcH = math.Max(srcW, p[0]+1), math.Max(srcH, p[1]+1)
		}
	}
	if float64(cw) > float64(ch)*2*srcW/srcH {
		cw = int(float64(ch) * 2 * srcW / srcH)
	} else {
		ch = int(float64(cw) / 2 * srcH / srcW)
	}
	cw, ch = max(cw, 1), max(ch, 1)
	grid := make([][]rune, ch)
	cols := make([][]int, ch)
	for y := range grid {
		grid[y] = make([]rune, cw)
		cols[y] = make([]int, cw)
		for x := range grid[y] {
			grid[y][x] = ' '
			cols[y][x] = colDim
			if img != nil && len(img.Pix) >= img.W*img.H {
				ix := min(int((float64(x)+0.5)/float64(cw)*srcW), img.W-1)
				iy := min(int((float64(y)+0.5)/float64(ch)*srcH), img.H-1)
				g := int(img.Pix[iy*img.W+ix])
				grid[y][x] = shades[g*(len(shades)-1)/255]
			}
		}
	}
	mark := func(pts []pose.Vec2, r rune, isGT bool) {
		for j, p := range pts {
			if !finite(p[0]) || !finite(p[1]) || j >= pose.NumJoints {
				continue
			}
			x, y := int(p[0]/srcW*float64(cw)), int(p[1]/srcH*float64(ch))
			if x >= 0 && y >= 0 && x < cw && y < ch {
				grid[y][x] = r
				cols[y][x] = sideColor(j, isGT)
			}
		}
	}
	if v.layers != 2 {
		mark(s.GT2D, 'o', false)
	}
	if v.layers != 1 {
		mark(s.Pred2D, 'x', false)
	}
	lines := make([]string, ch)
	for y := range grid {
		var b strings.Builder
		for x, r := range grid[y] {
			b.WriteString(paletteStyle(cols[y][x]).Render(string(r)))
		}
		lines[y] = b.String()
	}
	return padBlock(strings.Join(lines, "\n"), w, h)
}

// padBlock makes a block exactly w x h cells (at least one line, like
// blankBlock: a view's title and legend can leave its body 0 or fewer).
func padBlock(s string, w, h int) string {
	w, h = max(w, 0), max(h, 1)
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i := range lines {
		lines[i] = fitStyled(lines[i], w)
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return strings.Join(lines, "\n")
}
