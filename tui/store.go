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

	loaded bool // filled from the engine's store (see loadStored)

	res   *engine.Resource
	log   []string // the last few log lines
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
			r.epochs = append(r.epochs, ep)
			if ep.Best {
				r.bestEpoch = len(r.epochs) - 1
			}
		}
	case engine.EvState, engine.EvFinished, engine.EvFailed:
		if ev.State != nil {
			r.state = ev.State.To
		}
	case engine.EvResource:
		if ev.Res != nil {
			res := *ev.Res
			r.res = &res
		}
	case engine.EvLog:
		r.log = append(r.log, ev.Log)
		if len(r.log) > 20 {
			r.log = r.log[len(r.log)-20:]
		}
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
// store. Stored steps have no wall time, so they show on the step axis only.
func (s *store) loadStored(h storedHistory, info engine.RunInfo) {
	r := s.run(info.Spec.ID)
	if r.loaded || len(r.step) > 0 || len(r.epochs) > 0 {
		return
	}
	r.loaded = true
	if steps, err := h.Steps(info.Spec.ID); err == nil {
		for _, p := range steps {
			// Stored steps are numbered from 0; the charts count steps
			// done, as live step events do.
			r.step = append(r.step, float64(p.Step+1))
			r.wall = append(r.wall, math.NaN())
			r.loss = append(r.loss, p.Loss)
			r.lr = append(r.lr, p.LR)
		}
	}
	if eps, err := h.Epochs(info.Spec.ID); err == nil {
		for _, e := range eps {
			e.Samples = nil
			r.epochs = append(r.epochs, e)
			if e.Best {
				r.bestEpoch = len(r.epochs) - 1
			}
		}
	}
	r.start = info.Started
	r.state = info.State
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
	info  engine.RunInfo
	depth int  // 0 for a run that waits for no other, 1 for its follower, ...
	px    bool // a 2D model: its validation error is in pixels, not mm
}

// orderRuns orders runs for the list: oldest first, and a chained run
// (Spec.After) right under the run it follows.
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
	byAge := func(a []engine.RunInfo) {
		sort.SliceStable(a, func(i, j int) bool {
			ti, tj := a[i].Started, a[j].Started
			if !ti.Equal(tj) && !ti.IsZero() && !tj.IsZero() {
				return ti.Before(tj)
			}
			return a[i].Spec.ID < a[j].Spec.ID
		})
	}
	byAge(roots)
	var out []listRow
	seen := map[string]bool{}
	var walk func(in engine.RunInfo, depth int)
	walk = func(in engine.RunInfo, depth int) {
		if seen[in.Spec.ID] {
			return
		}
		seen[in.Spec.ID] = true
		out = append(out, listRow{info: in, depth: depth})
		kids := children[in.Spec.ID]
		byAge(kids)
		for _, k := range kids {
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
	return out
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
