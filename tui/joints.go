package tui

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"charm.land/lipgloss/v2"

	"poselab/engine"
	"poselab/pose"
)

// eighths are the partial blocks that give bars 1/8-cell resolution.
var eighths = []rune{' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'}

// bar draws a horizontal bar of v/max of w cells.
func bar(v, maxV float64, w int) []rune {
	out := []rune(strings.Repeat(" ", w))
	if !(maxV > 0) || !finite(v) || v <= 0 {
		return out
	}
	n := int(math.Round(math.Min(v/maxV, 1) * float64(w*8)))
	for i := 0; i < w; i++ {
		k := min(max(n-8*i, 0), 8)
		out[i] = eighths[k]
	}
	return out
}

// severity colours an error by how it compares with the epoch's mean: the
// colour is relative, so it stays meaningful whatever the data set's scale.
func severity(v, mean float64) int {
	switch {
	case !(mean > 0):
		return colDim
	case v <= 0.8*mean:
		return colGood
	case v <= 1.25*mean:
		return colWarn
	}
	return colBad
}

// renderJoints draws the 17 per-joint errors of the latest validation as
// bars, with the best epoch's value as a marker and number, and the
// per-action table beside them when the data has actions.
func renderJoints(r *runData, sorted bool, w, h int) string {
	ep, best := r.lastEpoch(), r.best()
	if ep == nil {
		return blankBlock(w, h, stTitle.Render("per-joint error")+stDim.Render(" · waiting for the first validation…"))
	}
	vals, unit := ep.PerJoint, "mm"
	var bestVals []float64
	mean := ep.MPJPE
	if len(vals) == 0 && len(ep.PerJointPx) > 0 {
		vals, unit, mean = ep.PerJointPx, "px", ep.Pixel
		if best != nil {
			bestVals = best.PerJointPx
		}
	} else if best != nil {
		bestVals = best.PerJoint
	}
	if len(vals) == 0 {
		return blankBlock(w, h, stTitle.Render("per-joint error")+stDim.Render(" · this model reports no per-joint error"))
	}
	actW := 0
	if w >= 78 {
		// From 80 columns on: the bars are shorter, but the epoch's
		// P-MPJPE, 3DPCK, AUC and the per-action table are nowhere else
		// (on 80 x 24 they did not show at all).
		actW = 34
	}
	jw := w - actW
	order := make([]int, len(vals))
	for i := range order {
		order[i] = i
	}
	if sorted {
		sort.SliceStable(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
	}
	maxV := 0.0
	for i, v := range vals {
		maxV = math.Max(maxV, v)
		if i < len(bestVals) {
			maxV = math.Max(maxV, bestVals[i])
		}
	}
	// The longest title that fits: narrow, the mean goes first (the side
	// panel has it), then the word "error", then "sorted" (the order
	// shows it); cut at its end, the title lost what the ┃ marks.
	var title string
	for k := 0; k < 4; k++ {
		name, meanText := "per-joint error ("+unit+")", fmt.Sprintf(", mean %s", fmtMM(mean))
		if k >= 1 && actW > 0 {
			meanText = ""
		}
		if k >= 2 {
			name = "per-joint (" + unit + ")"
		}
		title = stTitle.Render(name) + stDim.Render(fmt.Sprintf(" · epoch %d%s", epochNo(ep.Epoch), meanText))
		if best != nil {
			title += stDim.Render(fmt.Sprintf(" · ┃ best epoch %d", epochNo(best.Epoch)))
		}
		if sorted && k < 3 {
			title += stDim.Render(" · sorted")
		}
		if lipgloss.Width(title) <= jw {
			break
		}
	}
	lines := []string{fitStyled(title, jw)}
	const nameW, numW = 10, 20
	barW := max(4, jw-nameW-numW-2)
	for _, j := range order {
		v := vals[j]
		name := fmt.Sprintf("J%d", j)
		if j < pose.NumJoints && len(vals) == pose.NumJoints {
			name = pose.JointNames[j]
		}
		b := bar(v, maxV, barW)
		// One decimal in px too, as eval prints them: fmtNum wrote 28.0 px
		// as "28" under "21.2", a column that did not line up.
		num := fmt.Sprintf("%6s", fmtMM(v))
		if j == pose.Hip && v == 0 && len(vals) == pose.NumJoints {
			// Root-relative poses: the root's error is zero by definition.
			lines = append(lines, fitStyled(fitWidth(name, nameW)+stDim.Render("(root: poses are root-relative)"), jw))
			continue
		}
		if j < len(bestVals) && bestVals[j] > 0 && best != ep {
			// The best epoch's value as a marker on the bar.
			k := int(math.Round(bestVals[j] / maxV * float64(barW)))
			k = min(max(k-1, 0), barW-1)
			b[k] = '┃'
			num += stDim.Render("  best " + fmtMM(bestVals[j]))
		}
		line := fitWidth(name, nameW) + paletteStyle(severity(v, mean)).Render(string(b)) + " " + num
		lines = append(lines, fitStyled(line, jw))
		if len(lines) >= h {
			break
		}
	}
	if len(order) > h-1 && h >= 3 {
		// Say what is cut, as the per-action table does.
		more := len(order) - (h - 2)
		// Sorted, the cut ones are the best: o goes back to the skeleton's order.
		hint := "o: worst first"
		if sorted {
			hint = "o: skeleton order"
		}
		lines = append(lines[:h-1], stDim.Render(fitWidth(fmt.Sprintf(" … %d more joints (%s)", more, hint), jw)))
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", jw))
	}
	left := strings.Join(lines[:h], "\n")
	if actW == 0 {
		return left
	}
	return joinCols(left, renderActions(ep, best, actW, h))
}

// summaryLines are the epoch's headline metrics, as the engine sent them.
func summaryLines(ep *engine.EpochInfo) []string {
	var out []string
	add := func(name, v string) { out = append(out, fmt.Sprintf(" %-16s %15s", name, v)) }
	if ep.MPJPE > 0 {
		add("MPJPE", fmtMM(ep.MPJPE)+" mm")
	}
	if ep.PMPJPE > 0 {
		add("P-MPJPE", fmtMM(ep.PMPJPE)+" mm")
	}
	if ep.NMPJPE > 0 {
		add("N-MPJPE", fmtMM(ep.NMPJPE)+" mm")
	}
	// The run's numbers keep 3DPCK, AUC and PCKh as fractions (0..1); people
	// read percentages, as in the CLI.
	if ep.PCK150 > 0 {
		add("3DPCK@150", fmtPct(ep.PCK150))
	}
	if ep.AUC > 0 {
		add("AUC", fmtPct(ep.AUC))
	}
	if ep.Pixel > 0 {
		add("2D error", fmtNum(ep.Pixel)+" px")
	}
	if ep.PCKh > 0 {
		add("PCKh@0.5", fmtPct(ep.PCKh))
	}
	if ep.ValLoss != 0 {
		add("val loss", fmtNum(ep.ValLoss))
	}
	return out
}

// renderActions is the per-action table: current and best epoch, mm.
func renderActions(ep, best *engine.EpochInfo, w, h int) string {
	names := make([]string, 0, len(ep.PerAction))
	for a := range ep.PerAction {
		names = append(names, a)
	}
	sort.Strings(names)
	lines := []string{stTitle.Render(fitWidth(fmt.Sprintf(" epoch %d", epochNo(ep.Epoch)), w))}
	for _, l := range summaryLines(ep) {
		lines = append(lines, fitWidth(l, w))
	}
	if len(names) > 0 {
		lines = append(lines, strings.Repeat(" ", w), stTitle.Render(fitWidth(" per action (mm)", w)))
		lines = append(lines, stHeader.Render(fitWidth(fmt.Sprintf(" %-16s %7s %7s", "action", "now", "best"), w)))
	}
	for _, a := range names {
		bv := "–"
		if best != nil {
			if v, ok := best.PerAction[a]; ok {
				bv = fmtMM(v)
			}
		}
		v := ep.PerAction[a]
		// fitWidth gives the name its 16 cells; "%-16s" padded it again
		// by runes, pushing a wide-rune name's values right.
		row := " " + fitWidth(a, 16) + " " + paletteStyle(severity(v, ep.MPJPE)).Render(fmt.Sprintf("%7s", fmtMM(v))) + fmt.Sprintf(" %7s", bv)
		lines = append(lines, fitStyled(row, w))
	}
	if len(lines) > h {
		more := len(lines) - h + 1
		lines = append(lines[:h-1], stDim.Render(fitWidth(fmt.Sprintf(" … %d more", more), w)))
	}
	for len(lines) < h {
		lines = append(lines, strings.Repeat(" ", w))
	}
	return strings.Join(lines, "\n")
}

// joinCols puts two blocks of equal height side by side.
func joinCols(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range al {
		if i < len(bl) {
			al[i] += bl[i]
		}
	}
	return strings.Join(al, "\n")
}
