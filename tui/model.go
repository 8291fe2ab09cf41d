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
	// frozenSk are the skeleton samples each run had when frozen (a
	// validation replaces them whole): the skeletons view moved on.
	frozenSk map[string]frozenSamples

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
		delete(m.frozenSk, id)
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

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
