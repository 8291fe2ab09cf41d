package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// A chain whose first stage diverges: watch stops that stage (nobody is
// there to resume it), and the stage after it must not keep the command
// waiting for a run that can no longer start.
func TestWatchChainEndsWhenAStageDiverges(t *testing.T) {
	e, err := engine.Open(engine.Options{RunsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ids, err := e.SubmitChain([]engine.Spec{
		{Model: "sb", Preset: "test", Epochs: 50, Schedule: engine.Schedule{BaseLR: 1e30}},
		{Model: "sb", Preset: "test", After: "@0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var out, errb bytes.Buffer
	go func() { done <- watch(e, ids, true, &out, &errb) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "diverged") {
			t.Fatalf("watch returned %v, want the divergence", err)
		}
	case <-time.After(30 * time.Second):
		i0, _ := e.Run(ids[0])
		i1, _ := e.Run(ids[1])
		t.Fatalf("watch still waiting: stage 0 %s (%s), stage 1 %s", i0.State, i0.Reason, i1.State)
	}
	if i1, _ := e.Run(ids[1]); i1.State.Active() {
		t.Fatalf("stage 1 is still %s", i1.State)
	}
}
