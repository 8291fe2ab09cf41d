package tui

import (
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"time"

	"poselab/engine"
	"poselab/pose"
)

// fakeCtrl is a Controller that replays given events and records calls.
type fakeCtrl struct {
	mu         sync.Mutex
	infos      map[string]engine.RunInfo
	order      []string
	hist       []engine.Event
	ch         chan engine.Event
	scheds     map[string]engine.Schedule
	calls      []string
	logs       map[string][]string // run log files' lines (LogTail)
	noExt      map[string]error    // CanExtend's refusals
	noDel      map[string]error    // CanDelete's refusals
	exportAlso string              // a file Export writes beside its path (an SH run's Human3.6M records)
}

func newFake() *fakeCtrl {
	return &fakeCtrl{infos: map[string]engine.RunInfo{}, scheds: map[string]engine.Schedule{}, ch: make(chan engine.Event, 1024)}
}

func (f *fakeCtrl) addRun(info engine.RunInfo, s engine.Schedule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.infos[info.Spec.ID]; !ok {
		f.order = append(f.order, info.Spec.ID)
	}
	f.infos[info.Spec.ID] = info
	f.scheds[info.Spec.ID] = s
}

func (f *fakeCtrl) Runs() []engine.RunInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.RunInfo
	for _, id := range f.order {
		out = append(out, f.infos[id])
	}
	return out
}
func (f *fakeCtrl) Run(id string) (engine.RunInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.infos[id]
	return r, ok
}
func (f *fakeCtrl) Subscribe() ([]engine.Event, <-chan engine.Event, func()) {
	return append([]engine.Event(nil), f.hist...), f.ch, func() {}
}
func (f *fakeCtrl) LogTail(id string, n int) ([]string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.infos[id]; !ok {
		return nil, false, fmt.Errorf("no run %q", id)
	}
	l, earlier := f.logs[id], false
	if n >= 0 && len(l) > n {
		l, earlier = l[len(l)-n:], true
	}
	return append([]string(nil), l...), earlier, nil
}

// fixtureLog is a run log as the engine writes it: a run started, paused
// and resumed from another process, and a long line that wraps. Its dates
// lie in the past, so that screens show them the same on any day.
func fixtureLog() []string {
	t := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	at := func(s int) string { return t.Add(time.Duration(s) * time.Second).Format(time.RFC3339) }
	l := []string{
		at(0) + " state queued",
		at(0) + " state queued -> running",
		at(1) + " started: model sb preset tiny, 20 epochs, batch 64, seed 1, data synth/tiny, device cpu",
	}
	mm := 171.3
	for e := 1; e <= 12; e++ {
		mm *= 0.93
		l = append(l, fmt.Sprintf("%s epoch %d (step %d): train loss %.5f, val loss %.5f, val MPJPE %.2f mm, P-MPJPE %.2f mm, 3DPCK@150 %.1f %%, AUC %.1f %% (best)",
			at(10*e), e, 200*e, 0.9/float64(e+1), 0.8/float64(e+1), mm, 0.8*mm, 100-mm/4, 60-mm/8))
		l = append(l, fmt.Sprintf("%s checkpoint best.ckpt at step %d", at(10*e), 200*e))
		if e == 6 {
			l = append(l, at(62)+" pause asked by poselab process 4242",
				at(62)+" state running -> paused",
				at(68)+" resume asked by poselab process 4242",
				at(68)+" state paused -> running")
		}
	}
	return l
}

func (f *fakeCtrl) record(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	return nil
}
func (f *fakeCtrl) Submit(spec engine.Spec) (string, error) {
	id := fmt.Sprintf("run-%d", len(f.order)+1)
	spec.ID = id
	f.addRun(engine.RunInfo{Spec: spec, State: engine.Queued, LastValMPJPE: math.NaN(), BestValMPJPE: math.NaN()}, engine.Schedule{Kind: "constant", BaseLR: 1e-3})
	return id, f.record(fmt.Sprintf("submit %s model=%s preset=%s pipeline=%s after=%s epochs=%d seed=%d lr=%g",
		id, spec.Model, spec.Preset, spec.Pipeline, spec.After, spec.Epochs, spec.Seed, spec.Schedule.BaseLR))
}
func (f *fakeCtrl) Extend(id string, epochs, patience int) error {
	return f.record(fmt.Sprintf("extend %s %d %d", id, epochs, patience))
}
func (f *fakeCtrl) CanExtend(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.noExt[id]
}
func (f *fakeCtrl) CanDelete(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.noDel[id]
}
func (f *fakeCtrl) Pause(id string) error  { return f.record("pause " + id) }
func (f *fakeCtrl) Resume(id string) error { return f.record("resume " + id) }
func (f *fakeCtrl) Stop(id string) error   { return f.record("stop " + id) }
func (f *fakeCtrl) Delete(id string) error { return f.record("delete " + id) }
func (f *fakeCtrl) Export(id, split, format, path string) (engine.ExportInfo, error) {
	files := []engine.ExportFile{{Path: path, What: "predictions"}}
	if format == "weights" {
		files = []engine.ExportFile{{Path: path, What: "weights"}, {Path: engine.WeightsCardPath(path), What: "card"}}
	}
	if f.exportAlso != "" {
		files = append(files, engine.ExportFile{Path: filepath.Join(filepath.Dir(path), f.exportAlso), What: "Human3.6M records"})
	}
	return engine.ExportInfo{From: engine.CkptRef{Path: "runs/" + id + "/checkpoints/best.ckpt", Step: 120, Epoch: 3}, Files: files},
		f.record(fmt.Sprintf("export %s %s %s %s", id, split, format, path))
}
func (f *fakeCtrl) Schedule(id string) (engine.Schedule, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.scheds[id]
	return s, ok
}

func (f *fakeCtrl) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// lcg is a tiny deterministic noise source for synthetic curves.
type lcg uint64

func (l *lcg) next() float64 {
	*l = *l*6364136223846793005 + 1442695040888963407
	return float64(uint64(*l)>>11) / float64(1<<53)
}

// standingPose is a plausible H36M pose (camera space, mm, y down).
func standingPose(shift float64) pose.Pose3D {
	p := pose.Pose3D{
		{0, 0, 0}, {-130, 0, 0}, {-140, 440, 20}, {-150, 880, 60},
		{130, 0, 0}, {140, 440, -10}, {150, 880, 40},
		{0, -230, 10}, {0, -480, 20}, {0, -590, 0}, {0, -700, 10},
		{150, -470, 20}, {260, -230, 60}, {300, 10, 40},
		{-150, -470, 20}, {-280, -250, 0}, {-330, -20, -60},
	}
	for j := range p {
		p[j][0] += shift * float64(j%3-1)
		p[j][2] += shift * float64(j%2)
	}
	return p
}

// synthRun makes the events of one run: steps with a decaying noisy loss,
// the learning rate from its schedule, and a validation every epoch.
func synthRun(id string, seed uint64, steps, perEpoch int, t0 time.Time, sched engine.Schedule, seq *int64) []engine.Event {
	rng := lcg(seed)
	var evs []engine.Event
	add := func(e engine.Event) {
		*seq++
		e.Seq, e.Run = *seq, id
		evs = append(evs, e)
	}
	spec := engine.Spec{ID: id, Model: "sb", Preset: "tiny", Pipeline: "C:sb", Data: "synth", Device: "cpu", Epochs: steps / perEpoch, Loss: "l1", Schedule: sched}
	add(engine.Event{Time: t0, Kind: engine.EvStarted, Spec: &spec})
	best := math.Inf(1)
	for s := 0; s < steps; s++ {
		t := t0.Add(time.Duration(s) * 50 * time.Millisecond)
		loss := 0.08 + 0.9*math.Exp(-float64(s)/float64(steps/4)) + 0.05*(rng.next()-0.5)
		add(engine.Event{Time: t, Kind: engine.EvStep, Step: &engine.StepInfo{Step: s, Epoch: s/perEpoch + 1, Loss: loss, LR: sched.LR(s), SamplesPerSec: 5120, TotalSteps: steps}})
		if (s+1)%perEpoch == 0 {
			ep := (s + 1) / perEpoch
			mp := 40 + 120*math.Exp(-float64(ep)/2.5) + 3*rng.next()
			pj := make([]float64, pose.NumJoints)
			for j := range pj {
				// extremities err more, as they do in H36M
				k := 0.4 + 0.25*float64(len(boneChain(j)))
				pj[j] = mp * k * (0.9 + 0.2*rng.next())
			}
			pj[0] = 0
			isBest := mp < best
			best = math.Min(best, mp)
			samples := scoredAsTheEngine([]engine.PoseSample{
				{Index: 7, GT: standingPose(0), Pred: standingPose(mp / 3)},
				{Index: 42, GT: standingPose(20), Pred: standingPose(mp / 2)},
			})
			// The engine numbers validations from 0.
			add(engine.Event{Time: t, Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: ep - 1, Step: s + 1, TrainLoss: loss, ValLoss: loss * 1.2,
				MPJPE: mp, PMPJPE: mp * 0.7, PerJoint: pj, Best: isBest, Samples: samples,
				PerAction: map[string]float64{"Directions": mp * 0.9, "Eating": mp * 0.95, "Sitting": mp * 1.3, "Walking": mp * 0.85, "Photo": mp * 1.15}}})
			add(engine.Event{Time: t, Kind: engine.EvResource, Res: &engine.Resource{Device: "cpu (2 cores)", MemUsedBytes: 310 << 20, MemTotalBytes: 16 << 30, MemKind: engine.MemHost, SamplesPerSec: 5120}})
		}
	}
	return evs
}

// scoredAsTheEngine gives 3D samples their error as the engine does
// (the TUI shows it, it computes none).
func scoredAsTheEngine(samples []engine.PoseSample) []engine.PoseSample {
	for i := range samples {
		if s := &samples[i]; !s.Is2D() {
			s.ErrorMM = pose.MPJPE([]pose.Pose3D{s.Pred}, []pose.Pose3D{s.GT})
		}
	}
	return samples
}

func boneChain(j int) []int {
	var c []int
	for j > 0 {
		c = append(c, j)
		j = pose.Parents[j]
	}
	return c
}

// fixture builds a fake engine with two runs (one running, one finished)
// and a chained run waiting for the first.
func fixture() *fakeCtrl {
	f := newFake()
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	var seq int64
	cos := engine.Schedule{Kind: "cosine", BaseLR: 1e-3, WarmupSteps: 100, TotalSteps: 4000, MinLR: 1e-5}
	step := engine.Schedule{Kind: "step", BaseLR: 1e-3, StepsPerEpoch: 200, Milestones: []int{4, 8}, Gamma: 0.1}
	a := synthRun("sb-demo", 1, 2400, 200, t0, cos, &seq)
	b := synthRun("sb-lr3", 2, 2000, 200, t0.Add(-time.Hour), step, &seq)
	f.hist = append(append(f.hist, b...), a...)
	nan := math.NaN()
	f.addRun(engine.RunInfo{Spec: *b[0].Spec, State: engine.Finished, Step: 2000, Epoch: 10, TotalSteps: 2000, StepsPerEpoch: 200,
		LastLoss: 0.09, LastValMPJPE: 48.2, BestValMPJPE: 47.9, Started: t0.Add(-time.Hour)}, step)
	sa := *a[0].Spec
	sa.Epochs = 20
	f.addRun(engine.RunInfo{Spec: sa, State: engine.Running, Step: 2399, Epoch: 12, TotalSteps: 4000, StepsPerEpoch: 200,
		LastLoss: 0.1, LastValMPJPE: 51.3, BestValMPJPE: 51.3, SamplesPerSec: 5120, ETA: 94 * time.Second, Device: "cpu", Started: t0}, cos)
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb-next", Model: "sb", Preset: "tiny", Data: "synth", Device: "cpu", Epochs: 20, After: "sb-demo", From: []string{"sb-demo"}},
		State: engine.Queued, LastValMPJPE: nan, BestValMPJPE: nan, Started: t0.Add(time.Minute)}, cos)
	f.logs = map[string][]string{"sb-demo": fixtureLog()}
	return f
}
