package tui

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"poselab/engine"
)

// history is a storedHistory over fixed steps.
type history []engine.StepPoint

func (h history) Steps(string) ([]engine.StepPoint, error)  { return h, nil }
func (h history) Epochs(string) ([]engine.EpochInfo, error) { return nil, nil }

// A run reloaded from the store plots its steps where the same run's live
// step events put them: the engine stores step k (from 0) as the event of
// k+1 steps done.
func TestStoredStepsLineUpWithLiveEvents(t *testing.T) {
	var stored history
	live := newStore()
	start := time.Unix(1_700_000_000, 0)
	for k := 0; k < 5; k++ {
		loss, lr := 1/float64(k+1), 1e-3*float64(k+1)
		at := start.Add(time.Duration(k+1) * time.Second)
		stored = append(stored, engine.StepPoint{Step: k, Loss: loss, LR: lr, Time: float64(at.Unix())})
		live.apply(engine.Event{Run: "r", Time: at, Kind: engine.EvStep, Step: &engine.StepInfo{Step: k + 1, Loss: loss, LR: lr}})
	}
	reloaded := newStore()
	reloaded.loadStored(stored, engine.RunInfo{Spec: engine.Spec{ID: "r"}, Started: start})
	reloaded.loadSteps(stored, "r") // steps are read when first drawn
	a, b := live.run("r"), reloaded.run("r")
	if !slices.Equal(a.step, b.step) || !slices.Equal(a.loss, b.loss) || !slices.Equal(a.lr, b.lr) {
		t.Fatalf("live steps %v loss %v lr %v; reloaded steps %v loss %v lr %v", a.step, a.loss, a.lr, b.step, b.loss, b.lr)
	}
	// Stored steps keep their times: the wall-clock axis draws them.
	if got := b.xs(xWall, len(b.step)); !slices.Equal(got, a.wall) {
		t.Fatalf("reloaded wall times %v, live %v", got, a.wall)
	}
	if got := b.xs(xElapsed, len(b.step)); len(got) != 5 || got[0] != 1 || got[4] != 5 {
		t.Fatalf("reloaded elapsed seconds %v, want 1..5", got)
	}
}

// rangeHistory is a stored run that records which of its steps were read.
type rangeHistory struct {
	steps []engine.StepPoint
	reads []string // "all" or "lo-hi"
}

func (h *rangeHistory) Steps(string) ([]engine.StepPoint, error) {
	h.reads = append(h.reads, "all")
	return h.steps, nil
}
func (h *rangeHistory) Epochs(string) ([]engine.EpochInfo, error) { return nil, nil }
func (h *rangeHistory) StepsBetween(_ string, lo, hi int) ([]engine.StepPoint, error) {
	h.reads = append(h.reads, fmt.Sprintf("%d-%d", lo, hi))
	var out []engine.StepPoint
	for _, p := range h.steps {
		if p.Step > lo && p.Step <= hi {
			out = append(out, p)
		}
	}
	return out, nil
}

// A run that pauses, stops or ends has its thinned step events replaced by
// its stored steps (exactSteps): every one of them was read, on the UI
// goroutine, at every pause (1.3 s for 500,000 steps), also of a run whose
// events had thinned nothing. Only the steps from the first gap in the
// events on are read now.
func TestExactStepsReadsOnlyWhatWasThinned(t *testing.T) {
	h := &rangeHistory{}
	for k := 0; k < 128; k++ {
		h.steps = append(h.steps, engine.StepPoint{Step: k, Loss: float64(k), LR: 1e-3})
	}
	s := newStore()
	var seq int64
	step := func(n int) {
		seq++
		s.apply(engine.Event{Seq: seq, Run: "r", Kind: engine.EvStep, Step: &engine.StepInfo{Step: n, Loss: float64(n - 1), LR: 1e-3}})
	}
	state := func(to engine.State) {
		seq++
		s.apply(engine.Event{Seq: seq, Run: "r", Kind: engine.EvState, State: &engine.StateInfo{To: to}})
	}
	for n := 1; n <= 10; n++ { // slow steps: every one came as an event
		step(n)
	}
	state(engine.Paused)
	if s.exactSteps(h, "r") || len(h.reads) != 0 {
		t.Fatalf("nothing thinned, yet the store was read: %v", h.reads)
	}
	state(engine.Running)
	for _, n := range []int{11, 40, 64} {
		step(n)
	}
	state(engine.Paused)
	if !s.exactSteps(h, "r") || !slices.Equal(h.reads, []string{"10-63"}) {
		t.Fatalf("reads %v, want the steps after the 11 contiguous events (stored 11..63)", h.reads)
	}
	state(engine.Running)
	for _, n := range []int{65, 100, 128} {
		step(n)
	}
	state(engine.Finished)
	if !s.exactSteps(h, "r") || !slices.Equal(h.reads, []string{"10-63", "64-127"}) {
		t.Fatalf("reads %v, want only the steps since the resume", h.reads)
	}
	r := s.runs["r"]
	if len(r.step) != 128 {
		t.Fatalf("%d steps, want 128", len(r.step))
	}
	for i, v := range r.step {
		if v != float64(i+1) || r.loss[i] != float64(i) {
			t.Fatalf("step %d: %v loss %v", i, v, r.loss[i])
		}
	}
}
