package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"poselab/engine"
)

// visible returns a run's data as the charts show it: cut at the freeze
// point when frozen (the data itself is never cut).
func (m *Model) visible(id string) *runData {
	r, ok := m.st.runs[id]
	if !ok {
		return nil
	}
	if m.frozen == nil {
		return r
	}
	n, ok := m.frozen[id]
	if !ok {
		n = [2]int{0, 0}
	}
	// A rewind (a run resumed from its checkpoint) may have cut the data
	// below the freeze point.
	n = [2]int{min(n[0], len(r.step)), min(n[1], len(r.epochs))}
	c := *r
	c.step, c.wall, c.loss, c.lr = r.step[:n[0]], r.wall[:n[0]], r.loss[:n[0]], r.lr[:n[0]]
	c.epochs = r.epochs[:n[1]]
	sk := m.frozenSk[id] // none for a run first seen since: as its epochs
	c.samples, c.sampleEp = sk.samples, sk.epoch
	if c.bestEpoch >= n[1] {
		c.bestEpoch = -1
		for i := n[1] - 1; i >= 0; i-- {
			if c.epochs[i].Best {
				c.bestEpoch = i
				break
			}
		}
	}
	return &c
}

// layout sizes, shared by View and the mouse handlers.
type layout struct {
	runsTop, runsH, contentTop, contentH int
}

func (m *Model) layout() layout {
	capRows := 3
	if m.h >= 32 {
		capRows = 6
	}
	n := min(max(len(m.rows), 1), capRows)
	l := layout{runsTop: 1, runsH: 1 + n}
	l.contentTop = l.runsTop + l.runsH
	l.contentH = max(m.h-l.contentTop-2, 1)
	return l
}

// View draws the whole screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = m.windowTitle()
	return v
}

// windowTitle says how training goes in the terminal's title (its tab or
// window list), for a user looking at another tab: the selected running
// run, else the first, with its progress and time left.
func (m *Model) windowTitle() string {
	t := m.opts.Title
	if m.opts.ReadOnly {
		t += " (read-only)"
	}
	var shown *engine.RunInfo
	running := 0
	for i, r := range m.rows {
		if r.info.State != engine.Running {
			continue
		}
		running++
		if shown == nil || r.info.Spec.ID == m.selID {
			shown = &m.rows[i].info
		}
	}
	if shown == nil {
		return t
	}
	name := shown.Spec.Name
	if name == "" {
		name = shown.Spec.ID
	}
	t += " · " + name
	if shown.TotalSteps > 0 {
		t += fmt.Sprintf(" %d%%", 100*shown.Step/shown.TotalSteps)
	}
	if shown.ETA > 0 {
		t += " ETA " + fmtDur(shown.ETA)
	}
	if running > 1 {
		t += fmt.Sprintf(" (+%d running)", running-1)
	}
	return t
}

func (m *Model) render() string {
	w, h := max(m.w, 20), max(m.h, 6)
	l := m.layout()
	sel := m.selIndex()
	m.runsFirst = runsWindow(m.runsFirst, sel, l.runsH-1, len(m.rows))
	colors := map[string]int{}
	for _, r := range m.rows {
		colors[r.info.Spec.ID] = m.st.run(r.info.Spec.ID).color
	}
	parts := []string{
		m.header(w),
		renderRunsFrom(m.rows, sel, m.runsFirst, colors, m.marked, w, l.runsH, "  no runs yet"+m.newRunHint(": "), m.byBest),
	}
	var content string
	switch {
	case m.form != nil:
		content = m.overlay(showFocus(m.formView(), l.contentH, len(m.form.Errors()) > 0), w, l.contentH)
	case m.confirm != nil:
		box := m.confirm.view(w)
		if lipgloss.Height(box) > l.contentH {
			// Too tall for the content area, whose cut hid the answers:
			// the question takes the screen but the hint line, as the
			// help does.
			return padBlock(m.overlay(box, w, h-1)+"\n"+m.hintLine(w), w, h)
		}
		content = m.overlay(box, w, l.contentH)
	case m.help:
		// The help takes the whole screen but the hint line; a resize
		// may have shortened how far it scrolls.
		m.helpOff = min(m.helpOff, m.helpMaxOffset())
		return padBlock(m.overlay(helpView(w, h-1, m.helpOff, m.opts.ReadOnly), w, h-1)+"\n"+m.hintLine(w), w, h)
	default:
		content = m.content(w, l.contentH)
	}
	parts = append(parts, padBlock(content, w, l.contentH), m.footer(w))
	return padBlock(strings.Join(parts, "\n"), w, h)
}

// helpPage is how far pgup and pgdown scroll the help: its rows but one.
func (m *Model) helpPage() int {
	_, rows := helpBody(max(m.w, 20), max(m.h, 6)-1, m.opts.ReadOnly)
	return max(rows-1, 1)
}

// helpMaxOffset is how far the help scrolls at the current size (render
// gives it the screen but the hint line).
func (m *Model) helpMaxOffset() int {
	return helpMaxOffset(max(m.w, 20), max(m.h, 6)-1, m.opts.ReadOnly)
}

func (m *Model) content(w, h int) string {
	info, ok := m.selected()
	if !ok {
		if m.opts.ReadOnly {
			return blankBlock(w, h, stDim.Render(" No runs yet. This session is read-only: runs started by others show here."))
		}
		return blankBlock(w, h, stDim.Render(" No runs yet. Press n to start one (or run `poselab` on an empty runs folder for the demo)."))
	}
	switch m.tab {
	case tabJoints:
		return renderJoints(m.visible(info.Spec.ID), m.jSorted, w, h)
	case tabSkeleton:
		return renderSkeleton(m.visible(info.Spec.ID), m.sk, w, h)
	case tabLog:
		return renderLog(&m.lg, m.logs, info.Spec.ID, m.opts.RunsDir, w, h)
	}
	var runs []plotted
	for _, r := range m.rows {
		id := r.info.Spec.ID
		if id == info.Spec.ID || m.marked[id] {
			p := plotted{r: m.visible(id), info: r.info, selected: id == info.Spec.ID}
			if m.frozen != nil {
				// The live summary's step is past the freeze point: the
				// learning-rate chart's "now" comes from the data shown.
				p.info.Step = 0
			}
			runs = append(runs, p)
		}
	}
	var sched *engine.Schedule
	if s, ok := m.ctrl.Schedule(info.Spec.ID); ok {
		sched = &s
	}
	return renderCurves(m.cv, runs, sched, w, h)
}

// logPage is how far pgup and pgdown scroll the log: a screen but a row.
func (m *Model) logPage() int { return max(m.layout().contentH-2, 1) }

// newRunHint tells how to start a run, after sep; a read-only session
// cannot, so it says nothing.
func (m *Model) newRunHint(sep string) string {
	if m.opts.ReadOnly {
		return ""
	}
	return sep + "press n for a new run"
}

// headerTitle is the header left of the tabs (the mouse handler measures
// it to find the tabs).
func (m *Model) headerTitle() string {
	s := stTitle.Render(" "+m.opts.Title+" ") + " "
	if m.opts.ReadOnly {
		s += stBadge.Render("read-only") + " "
	}
	return s
}

func (m *Model) header(w int) string {
	left := m.headerTitle()
	for i, n := range tabNames {
		label := fmt.Sprintf("%d %s", i+1, n)
		if tab(i) == m.tab {
			left += stTabOn.Render(label)
		} else {
			left += stTabOff.Render(label)
		}
	}
	active := 0 // here and in other processes
	for _, r := range m.rows {
		if r.info.State.Active() {
			active++
		}
	}
	right := fmt.Sprintf("%s · %d active ", plural(len(m.rows), "run"), active)
	if m.frozen != nil {
		right = stBadge.Render("FROZEN") + " " + right
	}
	right += stKey.Render("?") + stDim.Render(" help ")
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		if m.frozen != nil {
			// Frozen charts look like a stalled run: the badge stays
			// when the rest of the right side does not fit.
			badge := stBadge.Render("FROZEN")
			return fitStyled(left, w-lipgloss.Width(badge)) + badge
		}
		return fitStyled(left, w)
	}
	return left + strings.Repeat(" ", gap) + right
}

// footer is the status line and the hint line. A message longer than the
// line (an engine's refusal on 80 columns) takes the hint line too, for
// the while it shows: cut at its end, it lost what to do about it
// ("... predicts none:…" without "feed it from an sh or ir run").
func (m *Model) footer(w int) string {
	text := " " + oneLine(m.status)
	if m.status == "" || lipgloss.Width(text) <= w {
		return m.statusLine(w) + "\n" + m.hintLine(w)
	}
	st := stOK
	if m.statusErr {
		st = stErr
	}
	lines := strings.Split(ansi.Wrap(text, w-1, ""), "\n")
	second := " " + strings.TrimSpace(strings.Join(lines[1:], " "))
	return fitStyled(st.Render(lines[0]), w) + "\n" + fitStyled(st.Render(second), w)
}

// statusLine shows the last message, or the selected run's resources.
func (m *Model) statusLine(w int) string {
	if m.status != "" {
		st := stOK
		if m.statusErr {
			st = stErr
		}
		return fitStyled(" "+st.Render(oneLine(m.status)), w)
	}
	info, ok := m.selected()
	if !ok {
		return strings.Repeat(" ", w)
	}
	// Narrow (80 columns, a GPU's long name, the CPU's "(2 cores,
	// OpenBLAS)"), the memory's total goes first, then the memory and
	// the GPU's load, then another process's "trained by" (the list's
	// @PID says it): the cut at the end took the ETA, which is nowhere
	// else on 80 x 24 (the runs list drops its columns), then the reason.
	var line string
	for level := 0; level < 4; level++ {
		line = " " + oneLine(strings.Join(m.statusParts(info, level), " · "))
		if lipgloss.Width(line) <= w {
			break
		}
	}
	return fitStyled(stDim.Render(line), w)
}

// statusParts are the status line's parts for a run: level 0 all, 1 the
// memory without its total, 2 without memory and GPU load, 3 without
// "trained by" too (where the list says @PID).
func (m *Model) statusParts(info engine.RunInfo, level int) []string {
	parts := []string{}
	dev := info.Device
	if dev == "" {
		dev = info.Spec.Device
	}
	if r := m.st.runs[info.Spec.ID]; r != nil && r.res != nil {
		res := *r.res
		if res.Device != "" {
			dev = res.Device
		}
		parts = append(parts, "device "+dev)
		if !info.State.Active() {
			// The last sample of a run that no longer trains is not
			// its memory or speed now (the runs list shows "–" too).
			res = engine.Resource{}
		}
		if level >= 1 {
			res.MemTotalBytes = 0
		}
		if t := memText(&res); t != "" && level < 2 {
			parts = append(parts, t)
		}
		if res.GPUUtil > 0 && level < 2 {
			parts = append(parts, fmt.Sprintf("GPU %.0f%%", res.GPUUtil))
		}
		// A paused run keeps its memory but trains nothing.
		if res.SamplesPerSec > 0 && info.State == engine.Running {
			parts = append(parts, fmt.Sprintf("%s samples/s", fmtSI(res.SamplesPerSec)))
		}
	} else {
		parts = append(parts, "device "+dev)
		if info.SamplesPerSec > 0 && info.State == engine.Running {
			parts = append(parts, fmt.Sprintf("%s samples/s", fmtSI(info.SamplesPerSec)))
		}
	}
	if info.State == engine.Running && info.ETA > 0 {
		parts = append(parts, "ETA "+fmtDur(info.ETA))
	}
	if info.Foreign && (level < 3 || info.OwnerPID == 0) {
		parts = append(parts, "trained by "+info.Owner())
	}
	if info.Reason != "" {
		parts = append(parts, string(info.State)+": "+info.Reason)
	}
	if m.closed {
		parts = append(parts, "engine closed")
	}
	return parts
}

// oneLine keeps a message on the status line: an error or a run's reason
// may span lines (a CUDA compile error carries its log), which pushed the
// hint line off the screen.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// hintLine lists the keys that matter most now, generated from keyMap.
func (m *Model) hintLine(w int) string {
	var acts []action
	switch {
	case m.form != nil:
		// shift+tab goes back a field (huh's key; nothing said so).
		return fitStyled(stDim.Render(" enter next field · shift+tab back · ←/→ change choice · esc cancel"), w)
	case m.confirm != nil:
		return fitStyled(stDim.Render(" answer with the keys shown · esc cancel"), w)
	case m.help:
		return fitStyled(stDim.Render(" ? or esc closes the help"), w)
	case m.tab == tabCurves:
		acts = []action{actNew, actPause, actResume, actStop, actExport, actMark, actZoomIn, actSmoothMore, actLogScale, actXAxis, actFreeze, actHelp, actQuit}
	case m.tab == tabJoints:
		acts = []action{actNew, actPause, actResume, actStop, actSortJoints, actHelp, actQuit}
	case m.tab == tabLog:
		acts = []action{actNew, actPause, actResume, actStop, actLogOlder, actLogEnd, actHelp, actQuit}
	default:
		acts = []action{actNew, actPause, actResume, actStop, actNextSample, actRotRight, actSkelLayers, actHelp, actQuit}
	}
	item := func(a action) string {
		b := bindingOf(a)
		k := b.key.Keys()[0]
		if pair, ok := hintPairs[a]; ok {
			k = pair
		}
		return stKey.Render(k) + " " + stDim.Render(b.short) + "  "
	}
	// "? help" is kept when the others do not all fit: on a narrow
	// terminal the header's "? help" goes too, and nothing said how to
	// find the keys.
	help := item(actHelp)
	line, helpIn := "", false
	for _, a := range acts {
		if m.opts.ReadOnly && bindingOf(a).mutates {
			continue
		}
		it, room := item(a), w-1
		if !helpIn && a != actHelp {
			room -= lipgloss.Width(help)
		}
		if lipgloss.Width(line)+lipgloss.Width(it) > room {
			break
		}
		line += it
		helpIn = helpIn || a == actHelp
	}
	if !helpIn && lipgloss.Width(line)+lipgloss.Width(help) <= w-1 {
		line += help
	}
	return fitStyled(" "+line, w)
}

// hintPairs show a key and its opposite as one hint.
var hintPairs = map[action]string{actZoomIn: "+/-", actSmoothMore: "[/]", actNextSample: ",/.", actRotRight: "</>", actLogOlder: "pgup/pgdn"}

// overlay centres a box in the content area.
func (m *Model) overlay(box string, w, h int) string {
	return lipgloss.Place(w, h, lipgloss.Center, lipgloss.Center, box)
}

// showFocus cuts a form's box taller than h lines to the h lines around
// its focused field (marked by the theme's thick left border): the box is
// placed from its top, so on a short terminal the lower fields were typed
// into unseen.
func showFocus(box string, h int, toEnd bool) string {
	lines := strings.Split(box, "\n")
	if len(lines) <= h {
		return box
	}
	first, last := -1, -1
	for i, l := range lines {
		if strings.Contains(ansi.Strip(l), "┃") {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if toEnd && first >= 0 {
		// A field refused its value: huh writes why under the columns, at
		// the box's foot, which the cut hid (on 80x24 enter on a bad
		// Patience did nothing visible). Keep the foot in view too, as far
		// as the focused field stays in it.
		last = len(lines) - 1
	}
	start := 0
	if last >= h {
		start = min(last-h+2, first, len(lines)-h) // a line of what follows, when it fits
	}
	return strings.Join(lines[start:start+h], "\n")
}
