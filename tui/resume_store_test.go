package tui

import (
	"testing"
	"time"

	"poselab/engine"
)

// storedRun is a storedHistory with epochs as well as steps.
type storedRun struct {
	steps  []engine.StepPoint
	epochs []engine.EpochInfo
}

func (h storedRun) Steps(string) ([]engine.StepPoint, error)  { return h.steps, nil }
func (h storedRun) Epochs(string) ([]engine.EpochInfo, error) { return h.epochs, nil }

// A stored run (stopped after diverging) whose curves were not drawn yet is
// resumed from its checkpoint before its last validations: the epochs
// trained again replace the abandoned ones, as when its steps were drawn.
func TestResumeBeforeStoredStepsAreReadRewindsEpochs(t *testing.T) {
	var h storedRun
	for k := 0; k < 500; k++ {
		h.steps = append(h.steps, engine.StepPoint{Step: k, Loss: 1, LR: 1e-3})
	}
	for e := 1; e <= 5; e++ {
		h.epochs = append(h.epochs, engine.EpochInfo{Epoch: e, Step: 100 * e, MPJPE: 100})
	}
	s := newStore()
	s.loadStored(h, engine.RunInfo{Spec: engine.Spec{ID: "r"}, State: engine.Stopped})
	// Resumed from the checkpoint of epoch 3 (step 300).
	s.apply(engine.Event{Run: "r", Seq: 1, Time: time.Now(), Kind: engine.EvStep, Step: &engine.StepInfo{Step: 301, Epoch: 3}})
	s.apply(engine.Event{Run: "r", Seq: 2, Time: time.Now(), Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: 4, Step: 400}})
	s.loadSteps(h, "r")
	r := s.run("r")
	var got []int
	for _, e := range r.epochs {
		got = append(got, e.Epoch)
	}
	if len(got) != 4 || got[3] != 4 {
		t.Fatalf("epochs %v after resuming from epoch 3, want [1 2 3 4]", got)
	}
	for i := 1; i < len(r.step); i++ {
		if r.step[i] <= r.step[i-1] {
			t.Fatalf("steps not ascending at %d: %v, %v", i, r.step[i-1], r.step[i])
		}
	}
}

// A stored run trained in two sessions (stopped, resumed, stopped) reports
// the second session's start; its first session's steps still draw at
// elapsed times from 0 on, not before the run started.
func TestStoredStepsOfEarlierSessionsHaveNoNegativeElapsed(t *testing.T) {
	first := time.Unix(1_700_000_000, 0)
	second := first.Add(time.Hour)
	var h storedRun
	for k := 0; k < 4; k++ {
		at := first.Add(time.Duration(k+1) * time.Second)
		if k >= 2 {
			at = second.Add(time.Duration(k-1) * time.Second)
		}
		h.steps = append(h.steps, engine.StepPoint{Step: k, Loss: 1, LR: 1e-3, Time: float64(at.Unix())})
	}
	s := newStore()
	s.loadStored(h, engine.RunInfo{Spec: engine.Spec{ID: "r"}, State: engine.Stopped, Started: second})
	s.loadSteps(h, "r")
	r := s.run("r")
	xs := r.xs(xElapsed, len(r.step))
	if len(xs) != 4 || xs[0] < 0 {
		t.Fatalf("elapsed seconds %v: the first session's steps come before the run's start", xs)
	}
}

// A stored run first drawn while the display is frozen shows its stored
// steps: they were read after the freeze point was taken, which counted
// none of them, so its loss chart stayed empty until unfrozen.
func TestStoredStepsReadWhileFrozenShow(t *testing.T) {
	c := &countingStore{fakeCtrl: newFake(), reads: map[string]int{}}
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"a", "b"} {
		c.addRun(engine.RunInfo{Spec: engine.Spec{ID: id, Model: "sb"}, State: engine.Finished, Started: t0.Add(time.Duration(i) * time.Minute)}, engine.Schedule{})
	}
	m := New(c, Options{})
	screen(m, 120, 40) // "b" is drawn
	press(m, "f", "up")
	screen(m, 120, 40) // "a" is drawn, frozen
	if c.reads["a"] != 1 {
		t.Fatalf("steps read %v", c.reads)
	}
	if r := m.visible("a"); len(r.step) != 3 {
		t.Fatalf("frozen view of a stored run shows %d of its 3 stored steps", len(r.step))
	}
}

// A run stopped after its first epoch and resumed in a new process sends
// live validations from epoch 1 on (the engine numbers them from 0): the
// stored epoch 0 was never read back, as if the run had none before.
func TestBackfillReadsTheFirstEpoch(t *testing.T) {
	h := storedRun{epochs: []engine.EpochInfo{{Epoch: 0, Step: 100, MPJPE: 150}, {Epoch: 1, Step: 200, MPJPE: 120}}}
	s := newStore()
	s.apply(engine.Event{Run: "r", Seq: 1, Time: time.Now(), Kind: engine.EvStep, Step: &engine.StepInfo{Step: 101, Epoch: 1}})
	s.apply(engine.Event{Run: "r", Seq: 2, Time: time.Now(), Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: 1, Step: 200, MPJPE: 120}})
	s.backfill(h)
	var got []int
	for _, e := range s.run("r").epochs {
		got = append(got, e.Epoch)
	}
	if len(got) != 2 || got[0] != 0 {
		t.Fatalf("epochs %v, want [0 1]", got)
	}
}

// A run resumed from a checkpoint before its first validation (epoch 0,
// the engine counts from 0) forgets that validation's skeleton samples
// too: they were kept because epoch 0 read as "no samples".
func TestRewindBeforeTheFirstEpochDropsItsSamples(t *testing.T) {
	s := newStore()
	s.apply(engine.Event{Run: "r", Seq: 1, Time: time.Now(), Kind: engine.EvStep, Step: &engine.StepInfo{Step: 100}})
	s.apply(engine.Event{Run: "r", Seq: 2, Time: time.Now(), Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: 0, Step: 100, MPJPE: 150,
		Samples: []engine.PoseSample{{Index: 7}}}})
	s.apply(engine.Event{Run: "r", Seq: 3, Time: time.Now(), Kind: engine.EvStep, Step: &engine.StepInfo{Step: 51}})
	if r := s.run("r"); len(r.epochs) != 0 || len(r.samples) != 0 {
		t.Fatalf("after rewinding to step 51: %d epochs, %d samples", len(r.epochs), len(r.samples))
	}
}
