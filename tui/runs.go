package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"poselab/engine"
)

// runColumn is one column of the runs list; columns are dropped from the
// lowest priority up until the list fits the width.
type runColumn struct {
	title string
	width int
	prio  int // 0 = always shown
	right bool
	grow  bool // takes the width left over
	cell  func(row listRow) string
	// val, set instead of cell, is a validation error column: its unit
	// (mm for 3D models, px for 2D ones) heads it where every run's
	// errors share one, and follows each value where they do not
	// (listUnit, valCell).
	val func(row listRow) float64
}

var runColumns = []runColumn{
	{title: "run", width: 16, grow: true, cell: func(r listRow) string {
		name := r.info.Spec.Name
		if name == "" {
			name = r.info.Spec.ID
		}
		if r.sameName {
			// the same grid run twice named its runs alike: which is which
			// is the ID that the commands take, from its time on (the
			// whole ID left the time cut off in the column)
			name += " · " + idFromTime(r.info.Spec.ID)
		}
		if r.info.Foreign && r.info.OwnerPID > 0 { // trained by another poselab process
			name += fmt.Sprintf(" @%d", r.info.OwnerPID)
		}
		return chainMark(r.depth) + name
	}},
	{title: "model", width: 9, prio: 2, cell: func(r listRow) string { return r.info.Spec.Model + "/" + r.info.Spec.Preset }},
	{title: "stage", width: 6, prio: 4, cell: func(r listRow) string {
		if r.info.Spec.Pipeline == "" {
			return "–"
		}
		return r.info.Spec.Pipeline
	}},
	{title: "state", width: 8, cell: func(r listRow) string { return string(r.info.State) }},
	// Epochs done: "epoch 0/25" read as an epoch 0, which people never
	// see (the log's first is "epoch 1").
	{title: "epochs", width: 9, right: true, prio: 1, cell: func(r listRow) string {
		return fmt.Sprintf("%d/%d", r.info.Epoch, r.info.Spec.Epochs)
	}},
	{title: "step", width: 13, right: true, cell: func(r listRow) string {
		if r.info.TotalSteps > 0 {
			s := fmtCount(r.info.Step) + "/" + fmtCount(r.info.TotalSteps)
			if len(s) > 13 {
				s = fmtCount(r.info.Step) + "/" + fmtSI(float64(r.info.TotalSteps))
			}
			return s
		}
		return fmtCount(r.info.Step)
	}},
	{title: "loss", width: 7, right: true, prio: 5, cell: func(r listRow) string {
		if r.info.Step == 0 {
			return "–"
		}
		return fmtNum(r.info.LastLoss)
	}},
	{title: "val", width: valW, right: true, val: func(r listRow) float64 { return r.info.LastValMPJPE }},
	{title: "best", width: valW, right: true, prio: 1, val: func(r listRow) float64 { return r.info.BestValMPJPE }},
	{title: "samples/s", width: 9, right: true, prio: 3, cell: func(r listRow) string {
		// Only a running run has a pace: a paused or queued one trains
		// nothing now, whatever its last sample said.
		if r.info.SamplesPerSec <= 0 || r.info.State != engine.Running {
			return "–"
		}
		return fmtSI(r.info.SamplesPerSec)
	}},
	{title: "ETA", width: 6, right: true, prio: 3, cell: func(r listRow) string {
		if r.info.State != engine.Running {
			return "–"
		}
		return fmtDur(r.info.ETA)
	}},
}

// idFromTime is a run ID (model-YYMMDD-HHMMSS, -N for the next of the
// same second) from its time on: what tells apart runs of one name.
func idFromTime(id string) string {
	if p := strings.SplitN(id, "-", 3); len(p) == 3 {
		return p[2]
	}
	return id
}

// fitColumns picks the columns that fit in w cells (2-cell swatch, one
// space between columns) and widens the growing one; a column whose
// cells are wider than it (model: "baseline/test" read "baseline…")
// first takes what it needs of the room left.
func fitColumns(w int, rows []listRow) []runColumn {
	for drop := 6; drop >= 0; drop-- {
		var cols []runColumn
		used := 2
		for _, c := range runColumns {
			if c.prio > drop {
				continue
			}
			cols = append(cols, c)
			used += c.width + 1
		}
		if used <= w || drop == 0 {
			for i := range cols {
				if cols[i].title != "model" {
					continue
				}
				need := 0
				for _, r := range rows {
					need = max(need, ansi.StringWidth(cols[i].cell(r)))
				}
				if more := min(need-cols[i].width, w-used); more > 0 {
					cols[i].width += more
					used += more
				}
			}
			for i := range cols {
				if cols[i].grow && w > used {
					cols[i].width += min(w-used, 20)
				}
			}
			return cols
		}
	}
	return nil
}

// renderRuns draws the runs list: a header and the visible rows, the
// selected one highlighted, a colour swatch per run (filled when the run is
// overlaid on the charts); empty is the line shown when there is no run;
// byBest says the rows are sorted best validation first (sortByBest).
func renderRuns(rows []listRow, sel int, colors map[string]int, marked map[string]bool, w, h int, empty string, byBest bool) string {
	return renderRunsFrom(rows, sel, runsWindow(0, sel, h-1, len(rows)), colors, marked, w, h, empty, byBest)
}

// runsWindow is the first row a list of n rows shows in body rows: first
// as it was while the selection stays in view, else moved just enough to
// show it. A click on a run of a scrolled list moved the list under the
// mouse (the selection was put at the foot or the list at its top), so a
// second click on the same ■ hit another run.
func runsWindow(first, sel, body, n int) int {
	switch {
	case sel < first:
		first = sel
	case sel >= first+body:
		first = sel - body + 1
	}
	return max(min(first, n-body), 0)
}

// renderRunsFrom is renderRuns with the first row shown given (runsWindow).
func renderRunsFrom(rows []listRow, sel, first int, colors map[string]int, marked map[string]bool, w, h int, empty string, byBest bool) string {
	cols := fitColumns(w, rows)
	var b strings.Builder
	body := h - 1
	unit := listUnit(rows)
	hdr := "  "
	for i, c := range cols {
		title := c.title
		if c.val != nil && unit != "" {
			title += " " + unit
		}
		if i == 0 { // rows scrolled out of view, above and below
			if first > 0 {
				title += fmt.Sprintf(" ↑%d", first)
			}
			if below := len(rows) - first - body; below > 0 && body > 0 {
				title += fmt.Sprintf(" ↓%d", below)
			}
			if byBest {
				// After the counts, shorter where they leave no room:
				// " · best first" before them pushed them past the
				// column's width, and they were cut.
				mark := " · best first"
				if ansi.StringWidth(title+mark) > c.width {
					mark = " · best"
				}
				title += mark
			}
		}
		hdr += cellText(title, c.width, c.right) + " "
	}
	b.WriteString(stHeader.Render(fitWidth(hdr, w)))
	if len(rows) == 0 {
		b.WriteString("\n" + stDim.Render(fitWidth(empty, w)))
		for i := 1; i < body; i++ {
			b.WriteString("\n" + strings.Repeat(" ", w))
		}
		return b.String()
	}
	for i := first; i < first+body; i++ {
		b.WriteString("\n")
		if i >= len(rows) {
			b.WriteString(strings.Repeat(" ", w))
			continue
		}
		r := rows[i]
		id := r.info.Spec.ID
		sw := "□ "
		if marked[id] || i == sel {
			sw = "■ "
		}
		line := ""
		for _, c := range cols {
			var t string
			if c.val != nil {
				t = cellText(valCell(r, c.val(r), unit), c.width, c.right)
			} else {
				t = cellText(c.cell(r), c.width, c.right)
			}
			if c.title == "run" {
				t = cutMiddle(c.cell(r), c.width)
			}
			if c.title == "state" {
				t = stateStyle(string(r.info.State)).Render(t)
			}
			line += t + " "
		}
		swatch := paletteStyle(colors[id]).Render(sw)
		if i == sel {
			b.WriteString(swatch + stSelected.Render(fitStyled(line, w-2)))
		} else {
			b.WriteString(swatch + fitStyled(line, w-2))
		}
	}
	return b.String()
}

// cutMiddle fits a run's name to w cells by cutting out its middle: runs
// of one grid share the start of their names ("sweep lr=1e-3,seed=1") and
// differ at the end, where the list also marks another process's run
// (@PID) and tells alike names apart (· time): cut at the end, the rows
// read the same. Most of the room goes to the end.
func cutMiddle(s string, w int) string {
	n := ansi.StringWidth(s)
	if n <= w || w < 8 {
		return cellText(s, w, false)
	}
	head := w / 4 // the end says more: a grid's values, @PID, · time
	tail := w - 1 - head
	end := ansi.TruncateLeft(s, n-tail, "")
	if ansi.StringWidth(end) > tail {
		// TruncateLeft keeps whole a wide rune the cut goes through: one
		// cell too many, and fitWidth cut the end this keeps ("=2").
		end = ansi.TruncateLeft(s, n-tail+1, "")
	}
	return fitWidth(ansi.Truncate(s, head, "")+"…"+end, w)
}

func cellText(s string, w int, right bool) string {
	if right {
		r := []rune(s)
		if len(r) > w {
			// Cut the end, visibly: keeping the last cells made a
			// wrong number ("123/1000" epochs read "23/1000").
			return fitWidth(s, w)
		}
		return strings.Repeat(" ", w-len(r)) + s
	}
	return fitWidth(s, w)
}

// chainMark indents a chained run under the run it follows.
func chainMark(depth int) string {
	if depth == 0 {
		return ""
	}
	return strings.Repeat(" ", 2*(depth-1)) + "└▸"
}

// valW is the width of the validation columns.
const valW = 7

// listUnit is the unit of the list's validation columns: "mm" when every
// run with a validation error is a 3D model's (or none has one yet), "px"
// when every one is a 2D model's, "" when both are listed: then each
// value carries its own. The columns were headed "val mm" above 2D runs'
// pixels.
func listUnit(rows []listRow) string {
	mm, px := false, false
	for _, r := range rows {
		if !(r.info.LastValMPJPE > 0 || r.info.BestValMPJPE > 0) {
			continue // none yet: a queued 2D run is not known as one (r.px)
		}
		if r.px {
			px = true
		} else {
			mm = true
		}
	}
	switch {
	case mm && px:
		return ""
	case px:
		return "px"
	case !mm && len(rows) > 0:
		// No errors yet: the unit the models' validation will have
		// (engine.ValUnit), so that a list of SH runs is not headed
		// "val mm" until their first validation.
		for _, r := range rows {
			if engine.ValUnit(r.info.Spec.Model) != "px" {
				return "mm"
			}
		}
		return "px"
	}
	return "mm"
}

// valCell writes a validation error, with the run's unit (mm, or px for
// 2D models) when the list's columns name none (listUnit). A value too
// long for the column (a diverging model) is written compactly: the column
// keeps the last cells of what is too long, so 2345052.0 showed as
// 45052.0.
func valCell(r listRow, v float64, listUnit string) string {
	s, unit := fmtMM(v), ""
	if listUnit == "" && s != "–" {
		unit = "mm"
		if r.px {
			unit = "px"
		}
	}
	if len(s+unit) > valW {
		s = fmtNum(v)
	}
	return s + unit
}
