package tui

import (
	"math"
	"sort"
	"time"

	"poselab/engine"
)

// runData is what the TUI has received about one run: the series it
// draws, as published by the engine. Nothing here is computed from them.
type runData struct {
	id      string
	spec    engine.Spec
	color   int
	lastSeq int64

	// One entry per received step event, in arrival order.
	step  []float64 // training step
	wall  []float64 // unix seconds of the event
	loss  []float64
	lr    []float64
	start time.Time
	ema   *emaCache // smoothed loss, shared by frozen copies

	epochs    []engine.EpochInfo
	bestEpoch int // index into epochs of the last epoch flagged Best, -1 before
	samples   []engine.PoseSample
	sampleEp  int // epoch the samples belong to

	loaded   bool // filled from the engine's store (see loadStored)
	stepsDue bool // its stored steps are read when it is first drawn (loadSteps)
	// exactDue: the run stopped training (paused, stopped, finished,
	// failed) after step events, which the engine thins to a few a second:
	// its stored steps, every one, replace them when it is next drawn
	// (exactSteps).
	exactDue bool
	// loading: a read of its stored steps is under way (stepLoads); no
	// other is planned until it is applied.
	loading *stepLoad

	res   *engine.Resource
	state engine.State
}

// store keeps every run's data; it is fed by events only.
type store struct {
	runs   map[string]*runData
	order  []string // first appearance, gives stable colours
	events int
}

func newStore() *store { return &store{runs: map[string]*runData{}} }

func (s *store) run(id string) *runData {
	r, ok := s.runs[id]
	if !ok {
		r = &runData{id: id, color: len(s.order), bestEpoch: -1, lastSeq: -1, ema: &emaCache{}}
		s.runs[id] = r
		s.order = append(s.order, id)
	}
	return r
}

// apply adds one event. Events already seen (same run, Seq not newer) are
// dropped, so history and live channel may overlap safely.
func (s *store) apply(ev engine.Event) {
	if ev.Run == "" {
		return
	}
	r := s.run(ev.Run)
	if ev.Seq != 0 && ev.Seq <= r.lastSeq {
		return
	}
	r.lastSeq = ev.Seq
	s.events++
	if ev.Spec != nil {
		r.spec = *ev.Spec
	}
	switch ev.Kind {
	case engine.EvStarted:
		if r.start.IsZero() {
			r.start = ev.Time
		}
	case engine.EvStep:
		if st := ev.Step; st != nil {
			n, ne := len(r.step), len(r.epochs)
			// The validations count too: a stored run's steps are read
			// only when it is drawn, so a resume may come while it has
			// none but its validations.
			if (n > 0 && float64(st.Step) <= r.step[n-1]) || (ne > 0 && st.Step < r.epochs[ne-1].Step) {
				r.rewind(float64(st.Step))
			}
			if r.start.IsZero() {
				r.start = ev.Time
			}
			r.step = append(r.step, float64(st.Step))
			r.wall = append(r.wall, float64(ev.Time.UnixNano())/1e9)
			r.loss = append(r.loss, st.Loss)
			r.lr = append(r.lr, st.LR)
		}
	case engine.EvEpoch:
		if e := ev.Epoch; e != nil {
			ep := *e
			if len(ep.Samples) > 0 {
				r.samples, r.sampleEp = ep.Samples, ep.Epoch
			}
			ep.Samples = nil
			if k := r.epochIndex(ep); k >= 0 {
				// Read from the store already: a run of another process
				// is loaded from the store while the watcher publishes
				// what it stored since its last look.
				r.epochs[k] = ep
				r.bestEpoch = -1
				for i := len(r.epochs) - 1; i >= 0 && r.bestEpoch < 0; i-- {
					if r.epochs[i].Best {
						r.bestEpoch = i
					}
				}
			} else {
				r.epochs = append(r.epochs, ep)
				if ep.Best {
					r.bestEpoch = len(r.epochs) - 1
				}
			}
		}
	case engine.EvState, engine.EvFinished, engine.EvFailed:
		if ev.State != nil {
			r.state = ev.State.To
			if len(r.step) > 0 && r.state != engine.Running && r.state != engine.Queued {
				r.exactDue = true
			}
			if r.state == engine.Queued {
				// Queued for a new session (resumed, extended): the last
				// one's sample is not its use while it waits for a
				// trainer; the new session sends its own.
				r.res = nil
			}
		}
	case engine.EvResource:
		if ev.Res != nil {
			res := *ev.Res
			r.res = &res
		}
	}
}

// epochIndex is the index of a validation already received (same epoch,
// same step), or -1. The validations are in epoch order.
func (r *runData) epochIndex(ep engine.EpochInfo) int {
	for k := len(r.epochs) - 1; k >= 0 && r.epochs[k].Epoch >= ep.Epoch; k-- {
		if e := r.epochs[k]; e.Epoch == ep.Epoch && e.Step == ep.Step {
			return k
		}
	}
	return -1
}

// rewind forgets what the run did from step on: a run resumed after
// divergence (or failure) trains again from its last checkpoint, and the
// engine's store replaces those steps too. The series stay ascending (the
// charts rely on it) and the validations of the abandoned steps go.
func (r *runData) rewind(step float64) {
	k := sort.SearchFloat64s(r.step, step)
	r.step, r.wall, r.loss, r.lr = r.step[:k], r.wall[:k], r.loss[:k], r.lr[:k]
	r.ema = &emaCache{} // it only ever extends; a frozen view keeps the old one
	keep := 0
	for keep < len(r.epochs) && float64(r.epochs[keep].Step) < step {
		keep++
	}
	r.epochs = r.epochs[:keep]
	r.bestEpoch = -1
	for i := keep - 1; i >= 0; i-- {
		if r.epochs[i].Best {
			r.bestEpoch = i
			break
		}
	}
	if len(r.samples) > 0 && (keep == 0 || r.sampleEp > r.epochs[keep-1].Epoch) { // sampleEp 0 is the first epoch
		r.samples, r.sampleEp = nil, 0
	}
}

// storedHistory is implemented by engines that keep every run's steps and
// validations (also of runs trained by an earlier process, whose events
// are not in the subscription history).
type storedHistory interface {
	Steps(id string) ([]engine.StepPoint, error)
	Epochs(id string) ([]engine.EpochInfo, error)
}

// loadStored fills a run that no event has described yet from the engine's
// store: its validations now, its steps when it is first drawn (loadSteps).
// Every step of every stored run, read at start on the UI goroutine, made
// the first frame wait about 0.2 s per 100,000 steps.
func (s *store) loadStored(h storedHistory, info engine.RunInfo) {
	r := s.run(info.Spec.ID)
	if r.loaded || len(r.step) > 0 || len(r.epochs) > 0 {
		return
	}
	r.loaded, r.stepsDue = true, true
	if eps, err := h.Epochs(info.Spec.ID); err == nil {
		for _, e := range eps {
			e.Samples = nil
			r.epochs = append(r.epochs, e)
			if e.Best {
				r.bestEpoch = len(r.epochs) - 1
			}
		}
	}
	if ss, ok := h.(storedSamples); ok {
		if smp, ep, err := ss.Samples(info.Spec.ID); err == nil && len(smp) > 0 && len(r.epochs) > 0 && ep <= r.epochs[len(r.epochs)-1].Epoch {
			r.samples, r.sampleEp = smp, ep
		}
	}
	r.start = info.Started
	r.state = info.State
}

// storedSamples is implemented by engines that keep the skeleton samples
// of a run's newest validation.
type storedSamples interface {
	Samples(id string) ([]engine.PoseSample, int, error)
}

// loadForeign fills a run another process trains: its events here begin
// when this process first saw it, the rest is read from the store.
func (s *store) loadForeign(h storedHistory, info engine.RunInfo) {
	r := s.run(info.Spec.ID)
	if r.loaded {
		return
	}
	if len(r.step) == 0 && len(r.epochs) == 0 {
		s.loadStored(h, info)
		return
	}
	s.backfillRun(h, info.Spec.ID, r)
	r.loaded = true
}

// backfill marks what a run's events no longer tell from its start: the
// engine keeps only the newest step events for late subscribers (an SSH
// session that joins a long run), and a run resumed after a restart has
// no events from before. Its earlier steps are read when it is drawn
// (loadSteps); its earlier validations now.
func (s *store) backfill(h storedHistory) {
	for id, r := range s.runs {
		if !r.loaded {
			s.backfillRun(h, id, r)
		}
	}
}

// backfillRun is backfill of one run.
func (s *store) backfillRun(h storedHistory, id string, r *runData) {
	if len(r.step) > 0 && r.step[0] > 1 { // live steps count from 1
		r.stepsDue = true
	}
	if len(r.epochs) > 0 && r.epochs[0].Epoch <= 0 { // validations count from 0
		return
	}
	if len(r.epochs) == 0 && (len(r.step) == 0 || r.step[0] <= 1) {
		return // nothing came before its events
	}
	eps, err := h.Epochs(id)
	if err != nil {
		return
	}
	var early []engine.EpochInfo
	for _, e := range eps {
		// Before its first validation event, or, with none yet (a long
		// epoch), before its first step event: the stored ones after
		// it are a resumed run's abandoned ones.
		if len(r.epochs) > 0 && e.Epoch < r.epochs[0].Epoch || len(r.epochs) == 0 && float64(e.Step) <= r.step[0] {
			e.Samples = nil
			early = append(early, e)
		}
	}
	r.epochs = append(early, r.epochs...)
	r.bestEpoch = -1
	for i := len(r.epochs) - 1; i >= 0; i-- {
		if r.epochs[i].Best {
			r.bestEpoch = i
			break
		}
	}
	if ss, ok := h.(storedSamples); ok && len(r.samples) == 0 && len(early) > 0 {
		// The skeletons of the newest of them, until a validation
		// event brings newer ones.
		if smp, ep, err := ss.Samples(id); err == nil && len(smp) > 0 && ep == early[len(early)-1].Epoch {
			r.samples, r.sampleEp = smp, ep
		}
	}
}

// exactSteps replaces the steps of a run that stopped training (exactDue)
// with its stored ones, up to the newest step the events showed. Step
// events are thinned to a few a second: a run of a few seconds drew a
// smooth line through a handful of them, and a loss that jumped to 411
// between two of them (a learning rate too high) never showed, until the
// workbench was restarted and read the store. The engine stores every
// step before it pauses, stops or ends a run. Only the steps from the
// first gap in the series on are read (storedRange): reading every step
// of a long run at each pause held the UI goroutine 1.3 s per 500,000
// steps, also when the events had thinned nothing. It reports whether the
// series changed. The workbench plans, reads and applies it in three
// steps, the read off the UI goroutine (stepLoads); this is all three.
func (s *store) exactSteps(h storedHistory, id string) bool {
	l, ok := s.planExact(id)
	if !ok {
		return false
	}
	l.read(h)
	return s.applyExact(l)
}

// stepLoad is a read of a run's stored steps: planned on the UI goroutine
// (planExact, planSteps), read off it (read: a long run's steps took
// seconds, the screen frozen meanwhile), applied on it (applyExact,
// applySteps) if the run is still the one planned for.
type stepLoad struct {
	id    string
	r     *runData // deleted meanwhile (or deleted and its id reused), the read is dropped
	exact bool     // exactSteps' read, else loadSteps'
	// exact: the index of the first step after a gap (the series is
	// exact before it), the step before it (0: none) and the newest step
	// the events showed.
	from       int
	prev, last float64

	steps []engine.StepPoint
	err   error
}

// planExact is exactSteps' first part: whether and what to read.
func (s *store) planExact(id string) (*stepLoad, bool) {
	r, ok := s.runs[id]
	if !ok || !r.exactDue || r.loading != nil {
		return nil, false
	}
	r.exactDue = false
	if len(r.step) == 0 {
		return nil, false
	}
	// from: the index of the first step after a gap; the series is
	// exact before it (events count steps done, from 1). Earlier steps
	// not read yet (stepsDue) are a gap at the start.
	from, prev := len(r.step), 0.0
	if !r.stepsDue {
		for i, v := range r.step {
			if v != prev+1 {
				from = i
				break
			}
			prev = v
		}
	} else {
		from = 0
	}
	if from == len(r.step) {
		return nil, false // nothing was thinned out
	}
	return &stepLoad{id: id, r: r, exact: true, from: from, prev: prev, last: r.step[len(r.step)-1]}, true
}

// planSteps is loadSteps' first part: whether to read.
func (s *store) planSteps(id string) (*stepLoad, bool) {
	r, ok := s.runs[id]
	if !ok || !r.stepsDue || r.loading != nil {
		return nil, false
	}
	return &stepLoad{id: id, r: r}, true
}

// read reads what l needs from the store; it touches no run data, so it
// may run off the UI goroutine.
func (l *stepLoad) read(h storedHistory) {
	rh, ranged := h.(storedRange)
	switch {
	case l.exact && ranged:
		// Stored step k is k+1 steps done.
		l.steps, l.err = rh.StepsBetween(l.id, int(l.prev)-1, int(l.last)-1)
	default:
		l.steps, l.err = h.Steps(l.id)
	}
}

// applyExact is exactSteps' last part. Events that came since the plan
// stay: steps after the newest it read follow the stored ones (the run
// resumed); a series rewound below it (resumed from an earlier
// checkpoint) is left as it is.
func (s *store) applyExact(l *stepLoad) bool {
	r, ok := s.runs[l.id]
	if !ok || r != l.r {
		return false
	}
	if r.loading == l {
		r.loading = nil
	}
	if l.err != nil || len(l.steps) == 0 {
		return false
	}
	from, prev, last := l.from, l.prev, l.last
	if len(r.step) <= from || (from > 0 && r.step[from-1] != prev) {
		return false // rewound meanwhile
	}
	end := sort.SearchFloat64s(r.step, last) // the newest step planned for
	if end == len(r.step) || r.step[end] != last {
		return false
	}
	end++
	steps := l.steps
	if float64(steps[len(steps)-1].Step+1) < last {
		return false // the store lags behind the events: keep them
	}
	st, wall, loss, lr := storedSeries(steps, last+0.5) // up to the last step shown
	k := sort.SearchFloat64s(st, prev+0.5)              // after the exact ones
	st, wall, loss, lr = st[k:], wall[k:], loss[k:], lr[k:]
	if len(st) <= end-from {
		return false // nothing was thinned out
	}
	r.step = append(append(r.step[:from:from], st...), r.step[end:]...)
	r.wall = append(append(r.wall[:from:from], wall...), r.wall[end:]...)
	r.loss = append(append(r.loss[:from:from], loss...), r.loss[end:]...)
	r.lr = append(append(r.lr[:from:from], lr...), r.lr[end:]...)
	r.stepsDue = false // these are all of them
	r.ema = &emaCache{}
	if t0 := float64(r.start.UnixNano()) / 1e9; from == 0 && wall[0] > 0 && (r.start.IsZero() || wall[0] < t0) {
		r.start = time.Unix(0, int64(wall[0]*1e9))
	}
	return true
}

// storedRange is implemented by engines that read a range of a run's
// stored steps (*engine.Engine does): a long run's are not all read again
// for the few since its last pause.
type storedRange interface {
	StepsBetween(id string, lo, hi int) ([]engine.StepPoint, error)
}

var _ storedRange = (*engine.Engine)(nil)

// storedSeries turns stored steps, numbered from 0, into the series the
// charts draw, which count steps done (as live step events do), before
// the step done first (exclusive). Stored steps without a time get NaN.
func storedSeries(steps []engine.StepPoint, first float64) (st, wall, loss, lr []float64) {
	for _, p := range steps {
		done := float64(p.Step + 1)
		if done >= first {
			break // stored in step order
		}
		at := p.Time
		if !(at > 0) {
			at = math.NaN() // the store has no time for it
		}
		st, wall = append(st, done), append(wall, at)
		loss, lr = append(loss, p.Loss), append(lr, p.LR)
	}
	return st, wall, loss, lr
}

// loadSteps reads the stored steps of a run loadStored filled, once. Stored
// steps have no wall time, so they show on the step axis only. Steps that
// came in events meanwhile (the run was resumed) follow the stored ones.
// It returns how many steps it put before them. The workbench reads off
// the UI goroutine (stepLoads); this is planSteps, read and applySteps.
func (s *store) loadSteps(h storedHistory, id string) int {
	l, ok := s.planSteps(id)
	if !ok {
		return 0
	}
	l.read(h)
	return s.applySteps(l)
}

// applySteps is loadSteps' last part. The steps that came in events
// meanwhile are those it puts the stored ones before.
func (s *store) applySteps(l *stepLoad) int {
	r, ok := s.runs[l.id]
	if !ok || r != l.r {
		return 0 // deleted meanwhile
	}
	if r.loading == l {
		r.loading = nil
	}
	if !r.stepsDue {
		return 0 // read since (an exact read from the start)
	}
	r.stepsDue = false
	if l.err != nil {
		return 0
	}
	first := math.Inf(1)
	if len(r.step) > 0 {
		first = r.step[0]
	}
	// The events replace what the store has from their first step on.
	st, wall, loss, lr := storedSeries(l.steps, first)
	if len(st) == 0 {
		return 0
	}
	if t0 := float64(r.start.UnixNano()) / 1e9; wall[0] > 0 && (r.start.IsZero() || wall[0] < t0) {
		// The run's start is its latest session's (RunInfo.Started, or
		// this process's events): steps of an earlier session came
		// before it, and drew at negative elapsed times.
		r.start = time.Unix(0, int64(wall[0]*1e9))
	}
	r.step, r.wall = append(st, r.step...), append(wall, r.wall...)
	r.loss, r.lr = append(loss, r.loss...), append(lr, r.lr...)
	r.ema = &emaCache{} // the series changed at its start
	return len(st)
}

// remove forgets a deleted run (its colour stays reserved).
func (s *store) remove(id string) { delete(s.runs, id) }

// lastEpoch is the newest validation, or nil.
func (r *runData) lastEpoch() *engine.EpochInfo {
	if r == nil || len(r.epochs) == 0 {
		return nil
	}
	return &r.epochs[len(r.epochs)-1]
}

// best is the epoch the engine flagged best, or nil.
func (r *runData) best() *engine.EpochInfo {
	if r == nil || r.bestEpoch < 0 {
		return nil
	}
	return &r.epochs[r.bestEpoch]
}

// xs returns the step series' x values in the chosen x-axis mode (nil
// when the run has no times, e.g. steps loaded from the store).
func (r *runData) xs(mode xMode, n int) []float64 {
	if mode != xStep && n > 0 && math.IsNaN(r.wall[0]) {
		return nil
	}
	switch mode {
	case xElapsed:
		out := make([]float64, n)
		t0 := float64(r.start.UnixNano()) / 1e9
		for i := 0; i < n; i++ {
			out[i] = r.wall[i] - t0
		}
		return out
	case xWall:
		return r.wall[:n]
	}
	return r.step[:n]
}

// listRow is one line of the runs list: a run and its depth in a chain.
type listRow struct {
	info     engine.RunInfo
	depth    int  // 0 for a run that waits for no other, 1 for its follower, ...
	px       bool // a 2D model: its validation error is in pixels, not mm
	sameName bool // another run has its name (a grid run twice): the list adds the ID
}

// sortByBest orders the list best validation first, the way a grid's
// table does (engine.SortBestFirst: mm, then px, then none). Chain marks
// go: a run's follower is no longer under it.
func sortByBest(rows []listRow) {
	engine.SortBestFirst(rows, func(r listRow) (float64, bool) { return r.info.BestValMPJPE, r.px })
	for i := range rows {
		rows[i].depth = 0
	}
}

// orderRuns orders runs for the list: in the engine's order (oldest
// first, as `poselab runs ls` lists them), and a chained run (Spec.After)
// right under the run it follows. Not by RunInfo.Started: that is the
// run's latest session's start, so a resumed or extended run jumped to
// the foot of the list.
func orderRuns(infos []engine.RunInfo) []listRow {
	byID := map[string]bool{}
	children := map[string][]engine.RunInfo{}
	var roots []engine.RunInfo
	for _, in := range infos {
		byID[in.Spec.ID] = true
	}
	for _, in := range infos {
		if p := in.Spec.After; p != "" && byID[p] && p != in.Spec.ID {
			children[p] = append(children[p], in)
			continue
		}
		roots = append(roots, in)
	}
	var out []listRow
	seen := map[string]bool{}
	var walk func(in engine.RunInfo, depth int)
	walk = func(in engine.RunInfo, depth int) {
		if seen[in.Spec.ID] {
			return
		}
		seen[in.Spec.ID] = true
		out = append(out, listRow{info: in, depth: depth})
		for _, k := range children[in.Spec.ID] {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	// A cycle of After links has no root: list what is left flat.
	for _, in := range infos {
		walk(in, 0)
	}
	names := map[string]int{}
	for _, r := range out {
		names[r.info.Spec.Name]++
	}
	for i, r := range out {
		n := r.info.Spec.Name
		out[i].sameName = n != "" && n != r.info.Spec.ID && names[n] > 1
	}
	return out
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
