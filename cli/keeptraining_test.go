package cli

import (
	"errors"
	"os"
	"strings"
	"syscall"
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
	case <-time.After(time.Minute): // the other run trains for ever: only a failure waits this long
		mine.Close()
		t.Fatal("keepTraining still waits, with no run of its own, for the run another process trains")
	}
	if !strings.Contains(stderr.String(), "all runs are done") {
		t.Fatalf("stderr: %q", stderr.String())
	}
}

// The workbench's signal relay lets go of the channel when the workbench
// closes: it kept reading it, and the first Ctrl+C of "keep them
// training" went to it (nothing happened; the second one worked).
func TestSignalRelayLetsGoWhenStopped(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	killed := false
	stop := relaySignal(sigs, func() { killed = true })
	if s := stop(); s != nil || killed {
		t.Fatalf("no signal came, but the relay says %v, killed %v", s, killed)
	}
	sigs <- os.Interrupt
	time.Sleep(50 * time.Millisecond)
	select {
	case s := <-sigs:
		if s != os.Interrupt {
			t.Fatalf("got %v", s)
		}
	default:
		t.Fatal("a signal after the workbench closed was taken by its relay")
	}

	sigs2 := make(chan os.Signal, 1)
	done := make(chan struct{})
	stop = relaySignal(sigs2, func() { close(done) })
	sigs2 <- os.Interrupt
	<-done
	if s := stop(); s != os.Interrupt {
		t.Fatalf("the relay passed on %v, want interrupt", s)
	}
}

// The minute lines of "keep them training" give an ETA only to a running
// run with a pace: a queued run read 'ETA 0s', and a paused one kept the
// ETA of its last step.
func TestKeptLineETA(t *testing.T) {
	r := engine.RunInfo{Spec: engine.Spec{ID: "sb-1"}, State: engine.Running, Step: 10, TotalSteps: 100, ETA: 90 * time.Second}
	if got := keptLine(r, false); !strings.HasSuffix(got, ", ETA 1m30s") {
		t.Fatalf("running: %q", got)
	}
	for _, c := range []struct {
		state engine.State
		eta   time.Duration
	}{{engine.Running, 0}, {engine.Queued, 0}, {engine.Paused, 90 * time.Second}} {
		r.State, r.ETA = c.state, c.eta
		if got := keptLine(r, false); strings.Contains(got, "ETA") {
			t.Errorf("%s, ETA %v: %q", c.state, c.eta, got)
		}
	}
}

// A signal that ends a workbench kept training exits as shells expect of
// a signalled process (128 + the signal), after the checkpoints: it
// exited 0.
func TestKeepTrainingEndedBySignalSaysSo(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no authorized_keys: no SSH server
	dir := t.TempDir()
	e, err := engine.Open(engine.Options{RunsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 100000}); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGTERM
	var stderr strings.Builder
	err = keepTraining(e, dir, &stderr, sigs)
	var in Interrupted
	if !errors.As(err, &in) || in.Signal != syscall.SIGTERM {
		t.Fatalf("keepTraining after SIGTERM returned %v, want Interrupted{SIGTERM}\n%s", err, stderr.String())
	}
	for _, r := range e.Runs() {
		if r.State != engine.Stopped {
			t.Fatalf("run %s after SIGTERM", r.State)
		}
	}
}
