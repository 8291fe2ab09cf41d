// Package tui is poselab's workbench: a Bubble Tea program that shows what
// the engine publishes (runs, loss curves, learning rate, per-joint error,
// skeletons, resources) and steers it through engine.Controller. It
// computes no metric itself: every number comes in an engine event.
package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"poselab/engine"
)

type tab int

const (
	tabCurves tab = iota
	tabJoints
	tabSkeleton
	tabLog
)

var tabNames = []string{"Curves", "Joints", "Skeleton", "Log"}

// QuitChoice is what the user chose for active runs when quitting.
type QuitChoice int

// Quit choices.
const (
	QuitNoActiveRuns QuitChoice = iota // nothing was training
	QuitStopRuns                       // stop them (checkpointed)
	QuitKeepRuns                       // keep them training (server / background)
)

// Options configure a workbench session.
type Options struct {
	RunsDir string // where runs live (default export paths)
	// Remote marks a session of `poselab serve`: the engine lives in the
	// server, so leaving the session keeps runs training.
	Remote bool
	// Title is shown in the header and the terminal title.
	Title string
	// ReadOnly makes a viewer's session: runs can be watched but not
	// started, paused, resumed, stopped, chained, exported or deleted;
	// quitting leaves them as they are.
	ReadOnly bool
}

// Model is the workbench. Create it with New and run it with tea.NewProgram.
type Model struct {
	ctrl   engine.Controller // viewOnly in a read-only session
	hist   storedHistory     // the engine's stored steps (nil: none)
	logs   logReader         // the runs' log files (nil: none)
	opts   Options
	st     *store
	events <-chan engine.Event
	cancel func()

	rows   []listRow
	selID  string
	marked map[string]bool
	w, h   int
	tab    tab

	cv      curvesView
	jSorted bool
	byBest  bool // the runs list best validation first (a grid's answer), not oldest first
	sk      skelView
	lg      logView
	frozen  map[string][2]int // run -> steps, epochs shown while frozen; nil = live

	stopping map[string]bool // runs asked to stop that have not stopped yet

	help      bool
	helpOff   int // help screen scroll offset
	form      *huh.Form
	formFor   formKind
	formTitle string
	wait      formWait // keys held while a field change is pending
	newRun    *newRunValues
	export    *exportValues
	extend    *extendValues
	confirm   *confirmDialog

	status    string
	statusErr bool
	statusAt  time.Time
	quit      QuitChoice
	closed    bool
	runsFirst int // first list row shown (for mouse hits)
}

// New creates the workbench on a controller: it subscribes at once, so the
// first frame already shows the history of every run.
func New(ctrl engine.Controller, opts Options) *Model {
	if opts.Title == "" {
		opts.Title = "poselab"
	}
	m := &Model{ctrl: ctrl, opts: opts, st: newStore(), marked: map[string]bool{}, w: 80, h: 24,
		cv: newCurvesView()}
	m.hist, _ = ctrl.(storedHistory) // before wrapping: viewOnly hides it
	m.logs, _ = ctrl.(logReader)
	if opts.ReadOnly {
		m.ctrl = viewOnly{ctrl}
	}
	hist, ch, cancel := ctrl.Subscribe()
	for _, ev := range hist {
		m.st.apply(ev)
	}
	if m.hist != nil {
		m.st.backfill(m.hist)
	}
	m.events, m.cancel = ch, cancel
	m.refresh()
	if len(m.rows) > 0 {
		// Start on the newest running run, else the newest active one,
		// else the newest run.
		rank := func(s engine.State) int {
			switch s {
			case engine.Running:
				return 3
			case engine.Paused, engine.Queued:
				return 2
			}
			return 1
		}
		best := 0
		for _, r := range m.rows {
			if k := rank(r.info.State); k >= best {
				best, m.selID = k, r.info.Spec.ID
			}
		}
	}
	return m
}

// Init starts reading events and the summary tick.
func (m *Model) Init() tea.Cmd { return tea.Batch(waitEvents(m.events), tickEvery(), m.stepLoads()) }

// QuitChoice reports what to do with active runs after the program ended.
func (m *Model) QuitChoice() QuitChoice { return m.quit }

// Close ends the subscription.
func (m *Model) Close() {
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
}

// refresh re-reads the run summaries and keeps the selection on its run.
func (m *Model) refresh() {
	listed := map[string]bool{}
	for _, r := range m.rows {
		listed[r.info.Spec.ID] = true
	}
	m.rows = orderRuns(m.ctrl.Runs())
	for _, r := range m.rows {
		delete(listed, r.info.Spec.ID)
	}
	for id := range listed {
		// Deleted (here or by another session): forget its data, so that
		// memory does not keep it and a run given its id later (ids
		// are model and second) does not start with its curves.
		m.st.remove(id)
		delete(m.marked, id)
		delete(m.frozen, id)
	}
	hist := m.hist
	for i, r := range m.rows {
		d := m.st.run(r.info.Spec.ID)
		if d.spec.ID == "" {
			d.spec = r.info.Spec
		}
		switch {
		case hist == nil || d.loaded:
		case r.info.Foreign:
			// Another process trains it: its events here begin when this
			// engine first saw it; what came before is in the store.
			m.st.loadForeign(hist, r.info)
		case !r.info.State.Active() && len(d.step) == 0:
			m.st.loadStored(hist, r.info)
		}
		if engine.ValIn2D(r.info.Spec.Model, d.epochs) {
			m.rows[i].px = true
		}
	}
	if m.byBest {
		sortByBest(m.rows)
	}
	if m.selIndex() < 0 && len(m.rows) > 0 {
		m.selID = m.rows[0].info.Spec.ID
	}
	m.reportStops()
}

// reportStops tells how the runs asked to stop have ended, once they have.
func (m *Model) reportStops() {
	for id := range m.stopping {
		info, ok := m.ctrl.Run(id)
		switch {
		case !ok:
			delete(m.stopping, id)
		case info.State.Active():
			continue
		case info.State == engine.Stopped && strings.Contains(info.Reason, "before it started"):
			m.setStatus("stopped "+id+" (before it started: nothing to checkpoint)", false)
		case info.State == engine.Stopped:
			m.setStatus("stopped "+id+" (checkpointed)", false)
		default:
			msg := id + " " + string(info.State) + " before it stopped"
			if info.Reason != "" {
				msg += ": " + info.Reason
			}
			m.setStatus(msg, info.State == engine.Failed)
		}
		delete(m.stopping, id)
	}
}

// doneText is the status line after a pause or resume: of a run another
// process trains, only the request is done (the run list shows when that
// process has acted).
func doneText(past, verb string, info engine.RunInfo) string {
	if !info.Foreign {
		return past + " " + info.Spec.ID
	}
	return fmt.Sprintf("asked %s to %s %s", info.Owner(), verb, info.Spec.ID)
}

func (m *Model) selIndex() int {
	for i, r := range m.rows {
		if r.info.Spec.ID == m.selID {
			return i
		}
	}
	return -1
}

func (m *Model) selected() (engine.RunInfo, bool) {
	if i := m.selIndex(); i >= 0 {
		return m.rows[i].info, true
	}
	return engine.RunInfo{}, false
}

// activeRuns are the active runs this process trains (the question on
// quitting is not about other processes' runs: they go on).
func (m *Model) activeRuns() []string {
	var ids []string
	for _, r := range m.rows {
		if r.info.State.Active() && !r.info.Foreign {
			ids = append(ids, r.info.Spec.ID)
		}
	}
	return ids
}

// setStatus shows a message on the status line; it gives way to the
// resource line after statusTTL (errors stay twice as long).
func (m *Model) setStatus(s string, isErr bool) {
	m.status, m.statusErr, m.statusAt = s, isErr, time.Now()
}

const statusTTL = 8 * time.Second

// Update routes a message to its handler.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := m.update(msg)
	// After every message: a run paused, ended or first shown has its
	// stored steps read, off the UI goroutine (stepLoads).
	if load := m.stepLoads(); load != nil {
		if cmd == nil {
			return m, load
		}
		return m, tea.Batch(cmd, load)
	}
	return m, cmd
}

// stepLoads reads, in a command, the stored steps of the runs the curves
// draw (the selected and the overlaid) that are due: all steps of a run
// of an earlier session when first drawn (loadSteps), and those the events
// thinned of a run that has stopped training (exactSteps). Read in View,
// on the UI goroutine, a run of 500,000 steps held the screen 1.3 s at
// each pause. stepsLoadedMsg applies them.
func (m *Model) stepLoads() tea.Cmd {
	if m.hist == nil || m.tab != tabCurves {
		return nil
	}
	sel, ok := m.selected()
	if !ok {
		return nil
	}
	var loads []*stepLoad
	for _, r := range m.rows {
		id := r.info.Spec.ID
		if id != sel.Spec.ID && !m.marked[id] {
			continue
		}
		l, ok := (*stepLoad)(nil), false
		if m.frozen == nil { // a frozen view keeps the steps its freeze point counted
			l, ok = m.st.planExact(id)
		}
		if !ok {
			l, ok = m.st.planSteps(id)
		}
		if ok {
			l.r.loading = l
			loads = append(loads, l)
		}
	}
	if len(loads) == 0 {
		return nil
	}
	h := m.hist
	return func() tea.Msg {
		for _, l := range loads {
			l.read(h)
		}
		return stepsLoadedMsg{loads: loads}
	}
}

// applyLoads applies the stored steps stepLoads read, to the runs that
// are still those it read for.
func (m *Model) applyLoads(loads []*stepLoad) {
	for _, l := range loads {
		if !l.exact {
			if k := m.st.applySteps(l); k > 0 && m.frozen != nil {
				// The freeze point counted none of them: the steps
				// shown move up by what came before.
				n := m.frozen[l.id]
				n[0] += k
				m.frozen[l.id] = n
			}
			continue
		}
		if m.frozen != nil {
			// Frozen since: read again once live (the freeze point
			// counted the thinned steps).
			if r, ok := m.st.runs[l.id]; ok && r == l.r {
				r.loading, r.exactDue = nil, true
			}
			continue
		}
		m.st.applyExact(l)
	}
}

func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case stepsLoadedMsg:
		m.applyLoads(msg.loads)
		return m, nil
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		if m.form != nil {
			f, _ := m.form.WithWidth(m.formWidth()).Update(tea.WindowSizeMsg{Width: m.formWidth(), Height: max(m.layout().contentH-3, 5)})
			m.form = f.(*huh.Form)
		}
		return m, nil
	case eventsMsg:
		for _, ev := range msg.events {
			m.st.apply(ev)
			if ev.Run == m.lg.id && ev.Kind != engine.EvStep && ev.Kind != engine.EvResource {
				m.lg.dirty = true // its process wrote a line for it
			}
			if st := ev.State; st != nil && ev.Kind == engine.EvState && (st.To == engine.Failed || st.Diverged()) {
				// Said at once, of any run: the list only turned the
				// run's state to "paused", and its reason showed on the
				// status line when it was selected and the last message
				// ("resumed ...") had gone.
				name := ev.Run
				if info, ok := m.ctrl.Run(ev.Run); ok && info.Spec.Name != "" && info.Spec.Name != ev.Run {
					name = info.Spec.Name
				}
				m.setStatus(name+" "+string(st.To)+": "+st.Reason, true)
			}
			if st := ev.State; st != nil && ev.Kind == engine.EvState && st.To == engine.Running && strings.HasPrefix(m.status, "queued "+ev.Run+": ") {
				// What it waited for is done: "queued X: waits for a
				// trainer" stood for seconds over the run training.
				m.setStatus("started "+ev.Run, false)
			}
		}
		m.refresh()
		if msg.closed {
			m.closed = true
			m.setStatus("the engine closed the event stream", true)
			return m, nil
		}
		return m, waitEvents(m.events)
	case tickMsg:
		m.refresh()
		ttl := statusTTL
		if m.statusErr {
			ttl *= 2
		}
		if m.status != "" && time.Since(m.statusAt) > ttl && !strings.HasSuffix(m.status, "…") {
			m.status = ""
		}
		return m, tickEvery()
	case actionDoneMsg:
		switch {
		case msg.err != nil:
			m.setStatus(msg.err.Error(), true)
		case msg.stop != "":
			// The trainer stops after its step and checkpoint: until
			// then the status keeps saying it is stopping.
			if m.stopping == nil {
				m.stopping = map[string]bool{}
			}
			m.stopping[msg.stop] = true
		default:
			m.setStatus(msg.what, false)
		}
		m.refresh()
		return m, nil
	case submittedMsg:
		if msg.err != nil {
			var cmd tea.Cmd
			if m.form == nil && m.newRun != nil {
				// The engine refused what the form let through (TF32
				// on the CPU, say): open it again as it was, to fix.
				cmd = m.openNewRunWith(m.newRun)
			}
			m.setStatus("new run: "+msg.err.Error(), true)
			return m, cmd
		}
		m.refresh()
		m.selID = msg.id
		text := "started " + msg.id
		info, ok := m.ctrl.Run(msg.id)
		p, pok := m.ctrl.Run(info.Spec.After)
		if ok && info.State == engine.Queued && info.Reason != "" && (info.Spec.After == "" || pok && p.State == engine.Finished) {
			// It waits for a trainer (one held by a paused run, say),
			// also when chained after a run that has finished.
			text = "queued " + msg.id + ": " + info.Reason
		} else if ok && info.State == engine.Queued && info.Spec.After != "" {
			// A chained run waits for its predecessor, which may itself
			// be waiting for a resume. One chained after a finished run
			// starts now: "it starts when X finishes" stood on the status
			// line after the run had trained.
			a := info.Spec.After
			if !pok || p.State != engine.Finished {
				text = "queued " + msg.id + ": it starts when " + a + " finishes"
			}
			if pok && (p.State == engine.Stopped || p.State == engine.Failed) {
				text += " (" + a + " is " + string(p.State) + ": resume it with r)"
			}
		}
		m.setStatus(text, false)
		return m, nil
	}
	if fm, ok := msg.(formMsg); ok {
		return m, m.untag(fm)
	}
	if m.form != nil {
		return m, m.updateForm(msg)
	}
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return m, m.onKey(msg)
	case tea.MouseClickMsg:
		return m, m.onClick(msg.Mouse())
	case tea.MouseWheelMsg:
		return m, m.onWheel(msg.Mouse())
	}
	return m, nil
}

func (m *Model) onKey(k tea.KeyPressMsg) tea.Cmd {
	ks := k.String()
	if m.confirm != nil {
		return m.answerConfirm(ks)
	}
	if m.help {
		switch ks {
		case "?", "esc", "q":
			m.help = false
		case "ctrl+c":
			// The help lists ctrl+c as quit; q closes the help instead.
			m.help = false
			return m.do(actQuit)
		case "down", "j":
			// Bounded here, not only when drawn: scrolled past the end,
			// up had to undo every extra press before the view moved.
			m.helpOff = min(m.helpOff+1, m.helpMaxOffset())
		case "up", "k":
			m.helpOff = max(m.helpOff-1, 0)
		case "pgdown", "space":
			m.helpOff = min(m.helpOff+m.helpPage(), m.helpMaxOffset())
		case "pgup":
			m.helpOff = max(m.helpOff-m.helpPage(), 0)
		}
		return nil
	}
	a := lookup(ks)
	if ks == "esc" {
		m.setStatus("", false)
		return nil
	}
	return m.do(a)
}

// do performs an action (from a key or the mouse).
func (m *Model) do(a action) tea.Cmd {
	info, haveSel := m.selected()
	id := info.Spec.ID
	needRun := func() bool {
		if !haveSel {
			m.setStatus("no run selected"+m.newRunHint(": "), true)
		}
		return haveSel
	}
	if m.opts.ReadOnly && mutates(a) {
		m.setStatus(refusal(a), true)
		return nil
	}
	switch a {
	case actHelp:
		m.help, m.helpOff = true, 0
	case actQuit:
		return m.askQuit()
	case actNextTab:
		m.tab = (m.tab + 1) % tab(len(tabNames))
	case actPrevTab:
		m.tab = (m.tab + tab(len(tabNames)) - 1) % tab(len(tabNames))
	case actTabCurves:
		m.tab = tabCurves
	case actTabJoints:
		m.tab = tabJoints
	case actTabSkeleton:
		m.tab = tabSkeleton
	case actTabLog:
		m.tab = tabLog
	case actLogOlder, actLogNewer, actLogEnd:
		m.lg.show(id) // scrolled before it was first drawn
		switch a {
		case actLogOlder:
			m.lg.scroll(m.logPage())
		case actLogNewer:
			m.lg.scroll(-m.logPage())
		default:
			m.lg.off = 0
		}
	case actUp, actDown:
		if i := m.selIndex(); i >= 0 {
			if a == actUp {
				i = max(i-1, 0)
			} else {
				i = min(i+1, len(m.rows)-1)
			}
			m.selID = m.rows[i].info.Spec.ID
		}
	case actMark:
		if needRun() {
			m.marked[id] = !m.marked[id]
		}
	case actSortRuns:
		m.byBest = !m.byBest
		m.refresh()
	case actMarkAll:
		// All unless every listed run is overlaid already: the map also
		// holds unmarked (false) and deleted runs, so its size says
		// nothing.
		all := false
		for _, r := range m.rows {
			all = all || !m.marked[r.info.Spec.ID]
		}
		m.marked = map[string]bool{}
		if all {
			for _, r := range m.rows {
				m.marked[r.info.Spec.ID] = true
			}
		}
	case actNew:
		return m.openNewRun("")
	case actChain:
		if needRun() {
			// A run that ended without outputs would feed a run that
			// fails when it starts: said at once, as d says an active run.
			if cc, ok := m.ctrl.(chainChecker); ok {
				if err := cc.CanChain(id); err != nil {
					m.setStatus(err.Error(), true)
					return nil
				}
			}
			return m.openNewRun(id)
		}
	case actPause:
		if needRun() {
			return m.call(doneText("paused", "pause", info), func() error { return m.ctrl.Pause(id) })
		}
	case actResume:
		if ext, ok := m.ctrl.(extender); ok && haveSel && info.State == engine.Finished && !info.Foreign {
			if err := ext.CanExtend(id); err != nil {
				m.setStatus(err.Error(), true)
				return nil
			}
			return m.openExtend(info)
		}
		if needRun() {
			return m.call(doneText("resumed", "resume", info), func() error { return m.ctrl.Resume(id) })
		}
	case actStop:
		if needRun() {
			m.setStatus("stopping "+id+" (saving a checkpoint)…", false)
			ctrl := m.ctrl
			return func() tea.Msg { return actionDoneMsg{err: ctrl.Stop(id), stop: id} }
		}
	case actExport:
		if needRun() {
			return m.openExport(id)
		}
	case actDelete:
		if needRun() {
			if dc, ok := m.ctrl.(deleteChecker); ok {
				if err := dc.CanDelete(id); err != nil {
					m.setStatus(err.Error(), true)
					return nil
				}
			}
			m.askDelete(info)
		}
	case actZoomIn:
		m.cv.zoomBy(1.5)
	case actZoomOut:
		m.cv.zoomBy(1 / 1.5)
	case actPanLeft:
		m.cv.panBy(0.25)
	case actPanRight:
		m.cv.panBy(-0.25)
	case actZoomReset:
		m.cv.zoom, m.cv.pan = 1, 0
	case actLogScale:
		m.cv.logY = !m.cv.logY
	case actXAxis:
		m.cv.x = (m.cv.x + 1) % 3
	case actSmoothLess:
		m.cv.smooth = max(m.cv.smooth-1, 0)
	case actSmoothMore:
		m.cv.smooth = min(m.cv.smooth+1, len(smoothLadder)-1)
	case actFreeze:
		m.toggleFreeze()
	case actValMetric:
		m.cv.valX = !m.cv.valX
	case actSortJoints:
		m.jSorted = !m.jSorted
	case actPrevSample:
		m.sk.sample--
	case actNextSample:
		m.sk.sample++
	case actRotLeft:
		m.sk.yaw = wrapDeg(m.sk.yaw - 15)
	case actRotRight:
		m.sk.yaw = wrapDeg(m.sk.yaw + 15)
	case actSkelLayers:
		m.sk.layers = (m.sk.layers + 1) % len(layerNames)
	}
	return nil
}

func wrapDeg(d float64) float64 {
	for d > 180 {
		d -= 360
	}
	for d <= -180 {
		d += 360
	}
	return d
}

// call runs a controller call off the UI goroutine (a stop waits for its
// checkpoint) and reports back with actionDoneMsg.
func (m *Model) call(done string, f func() error) tea.Cmd {
	return func() tea.Msg { return actionDoneMsg{what: done, err: f()} }
}

// toggleFreeze holds the charts at what they show now; events keep being
// received, and unfreezing shows everything at once.
func (m *Model) toggleFreeze() {
	if m.frozen != nil {
		m.frozen = nil
		m.setStatus("live", false)
		return
	}
	m.frozen = map[string][2]int{}
	for id, r := range m.st.runs {
		m.frozen[id] = [2]int{len(r.step), len(r.epochs)}
	}
}

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
	if sel >= l.runsH-1 {
		m.runsFirst = sel - (l.runsH - 1) + 1
	} else {
		m.runsFirst = 0
	}
	colors := map[string]int{}
	for _, r := range m.rows {
		colors[r.info.Spec.ID] = m.st.run(r.info.Spec.ID).color
	}
	parts := []string{
		m.header(w),
		renderRuns(m.rows, sel, colors, m.marked, w, l.runsH, "  no runs yet"+m.newRunHint(": "), m.byBest),
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
	parts = append(parts, padBlock(content, w, l.contentH), m.statusLine(w), m.hintLine(w))
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
	parts := []string{}
	dev := info.Device
	if dev == "" {
		dev = info.Spec.Device
	}
	if r := m.st.runs[info.Spec.ID]; r != nil && r.res != nil {
		res := r.res
		if res.Device != "" {
			dev = res.Device
		}
		parts = append(parts, "device "+dev)
		if !info.State.Active() {
			// The last sample of a run that no longer trains is not
			// its memory or speed now (the runs list shows "–" too).
			res = &engine.Resource{}
		}
		if t := memText(res); t != "" {
			parts = append(parts, t)
		}
		if res.GPUUtil > 0 {
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
	if info.Foreign {
		parts = append(parts, "trained by "+info.Owner())
	}
	if info.Reason != "" {
		parts = append(parts, string(info.State)+": "+info.Reason)
	}
	if m.closed {
		parts = append(parts, "engine closed")
	}
	return fitStyled(stDim.Render(" "+oneLine(strings.Join(parts, " · "))), w)
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

// onClick selects a clicked run or tab.
func (m *Model) onClick(ms tea.Mouse) tea.Cmd {
	if m.confirm != nil || m.help {
		// What is behind a question or the help stays as it is: a
		// click there changed the run while "delete <run>?" was asked.
		return nil
	}
	l := m.layout()
	if ms.Y == 0 {
		// tabs: find by the rendered header's text positions
		x := lipgloss.Width(m.headerTitle())
		for i, n := range tabNames {
			wd := lipgloss.Width(stTabOff.Render(fmt.Sprintf("%d %s", i+1, n)))
			if ms.X >= x && ms.X < x+wd {
				m.tab = tab(i)
			}
			x += wd
		}
		return nil
	}
	row := ms.Y - l.runsTop - 1
	if row >= 0 && row < l.runsH-1 {
		i := m.runsFirst + row
		if i < len(m.rows) {
			m.selID = m.rows[i].info.Spec.ID
			if ms.X < 2 {
				m.marked[m.selID] = !m.marked[m.selID]
			}
		}
	}
	return nil
}

// onWheel zooms the curves (wheel over the content) or moves the selection
// (wheel over the runs list).
func (m *Model) onWheel(ms tea.Mouse) tea.Cmd {
	l := m.layout()
	up := ms.Button == tea.MouseWheelUp
	switch {
	case m.confirm != nil:
		return nil
	case m.help:
		if up {
			m.helpOff = max(m.helpOff-1, 0)
		} else {
			m.helpOff = min(m.helpOff+1, m.helpMaxOffset())
		}
		return nil
	}
	if ms.Y >= l.contentTop {
		switch {
		case m.tab == tabCurves && up:
			m.cv.zoomBy(1.25)
		case m.tab == tabCurves:
			m.cv.zoomBy(1 / 1.25)
		case m.tab == tabSkeleton && up:
			m.sk.yaw = wrapDeg(m.sk.yaw + 15)
		case m.tab == tabSkeleton:
			m.sk.yaw = wrapDeg(m.sk.yaw - 15)
		case m.tab == tabLog:
			info, _ := m.selected()
			m.lg.show(info.Spec.ID)
			if up {
				m.lg.scroll(3)
			} else {
				m.lg.scroll(-3)
			}
		}
		return nil
	}
	if up {
		return m.do(actUp)
	}
	return m.do(actDown)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
