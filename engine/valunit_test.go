package engine

import (
	"strings"
	"testing"
	"time"
)

// Viewers label a run's validation before its first one from ValUnit: an
// SH run's empty chart read "val MPJPE (mm)" until its first epoch.
func TestValUnit(t *testing.T) {
	for model, want := range map[string]string{"sh": "px", "sb": "mm", "ir": "mm", "baseline": "mm", "nope": "mm"} {
		if got := ValUnit(model); got != want {
			t.Errorf("ValUnit(%q) = %q, want %q", model, got, want)
		}
	}
}

// Every model has the test preset (README; the workbench's form offers it
// for each): IR had none, so `train --model ir --preset test` and the
// pipelines F and G with it were refused.
func TestEveryModelHasTheTestPreset(t *testing.T) {
	for _, m := range Models() {
		if _, err := Prepare(Spec{Model: m, Preset: "test"}); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

// A run that diverged pauses and keeps its trainer: a run queued after it
// waited with no reason given. Its reason names the run that holds it.
func TestQueuedRunSaysWhatItWaitsFor(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	hot, err := e.Submit(Spec{Model: "sb", Preset: "test", Name: "hot", Epochs: 50, Schedule: Schedule{BaseLR: 1e30}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "divergence pause", 2*time.Minute, func() bool { i, _ := e.Run(hot); return i.State == Paused })
	next, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := e.Run(next)
	if info.State != Queued || !strings.Contains(info.Reason, "hot (paused") {
		t.Fatalf("%s %s: %q", next, info.State, info.Reason)
	}
}
