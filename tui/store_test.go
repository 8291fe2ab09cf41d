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
	for k := 0; k < 5; k++ {
		loss, lr := 1/float64(k+1), 1e-3*float64(k+1)
		stored = append(stored, engine.StepPoint{Step: k, Loss: loss, LR: lr})
		live.apply(engine.Event{Run: "r", Time: time.Now(), Kind: engine.EvStep, Step: &engine.StepInfo{Step: k + 1, Loss: loss, LR: lr}})
	}
	reloaded := newStore()
	reloaded.loadStored(stored, engine.RunInfo{Spec: engine.Spec{ID: "r"}})
	reloaded.loadSteps(stored, "r") // steps are read when first drawn
	a, b := live.run("r"), reloaded.run("r")
	if !slices.Equal(a.step, b.step) || !slices.Equal(a.loss, b.loss) || !slices.Equal(a.lr, b.lr) {
		t.Fatalf("live steps %v loss %v lr %v; reloaded steps %v loss %v lr %v", a.step, a.loss, a.lr, b.step, b.loss, b.lr)
	}
}
