package cli

import (
	"os"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// A workbench closed with "keep them training" waits for its own runs
// only: a run another poselab process trains (here another engine of the
// test process on the same runs directory) kept it up, printing that run's
// progress, until that run ended too.
func TestKeepTrainingWaitsForItsOwnRunsOnly(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no authorized_keys: no SSH server
	dir := t.TempDir()
	other, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	id, err := other.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for i, _ := mine.Run(id); !(i.Foreign && i.State == engine.Running); i, _ = mine.Run(id) {
		if time.Now().After(deadline) {
			t.Fatalf("the other process's run: %s, foreign %v", i.State, i.Foreign)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() { done <- keepTraining(mine, dir, &stderr, make(chan os.Signal, 1)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		mine.Close()
		t.Fatal("keepTraining still waits, with no run of its own, for the run another process trains")
	}
	if !strings.Contains(stderr.String(), "all runs are done") {
		t.Fatalf("stderr: %q", stderr.String())
	}
}
