package tui

import (
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
