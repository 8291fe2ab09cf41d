package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// A closed workbench that keeps its runs training ends when they are done,
// not when the runs another poselab process trains in the same directory
// are.
func TestKeepTrainingWaitsForItsOwnRunsOnly(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no authorized_keys: no SSH server
	dir := t.TempDir()
	other, err := engine.Open(engine.Options{RunsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	long, err := other.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for i, _ := mine.Run(long); !(i.Foreign && i.State == engine.Running); i, _ = mine.Run(long) {
		if time.Now().After(deadline) {
			t.Fatalf("the other process's run is %s, foreign %v", i.State, i.Foreign)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := mine.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 2}); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- keepTraining(mine, dir, &stderr, make(chan os.Signal, 1)) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("still keeping after a minute, waiting for the other process's run:\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "all runs are done") {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
	if i, _ := other.Run(long); i.State != engine.Running {
		t.Fatalf("the other process's run is %s", i.State)
	}
}
