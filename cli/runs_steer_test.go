package cli

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// `poselab runs pause|resume|stop` steer a run that another poselab
// process trains (here an engine of the test process on the same runs
// directory), and wait until it has acted; `runs ls` names that process.
func TestRunsSteerARunOfAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for i, _ := e.Run(id); i.State != engine.Running; i, _ = e.Run(id) {
		if time.Now().After(deadline) {
			t.Fatalf("run is %s", i.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cli := func(want int, args ...string) string {
		t.Helper()
		var so, se bytes.Buffer
		if code := Main(append(args, "--runs-dir", dir), &so, &se); code != want {
			t.Fatalf("poselab %v: exit %d, want %d\n%s%s", args, code, want, so.String(), se.String())
		}
		return so.String() + se.String()
	}
	state := func() engine.State { i, _ := e.Run(id); return i.State }

	if out := cli(0, "runs", "pause", id); !strings.Contains(out, "paused "+id) || state() != engine.Paused {
		t.Fatalf("runs pause: %q, run %s", out, state())
	}
	if out := cli(0, "runs", "ls"); !strings.Contains(out, fmt.Sprintf("paused (pid %d)", os.Getpid())) {
		t.Fatalf("runs ls does not name the process that trains the run:\n%s", out)
	}
	if out := cli(0, "runs", "resume", id); !strings.Contains(out, "resumed "+id) {
		t.Fatalf("runs resume: %q", out)
	}
	// Its pace, as its process stores it (every second): polled, since a
	// loaded machine can take longer than the 1.5 s once slept here.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out := cli(0, "runs", "ls")
		if strings.Contains(out, " samples/s, ETA ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs ls does not give the running run's pace:\n%s", out)
		}
	}
	if out := cli(0, "runs", "pause", id); !strings.Contains(out, "paused "+id) {
		t.Fatalf("runs pause: %q", out)
	}
	if out := cli(1, "resume", id); !strings.Contains(out, "poselab runs watch "+id) || state() != engine.Paused {
		t.Fatalf("poselab resume of a run another process trains: %q, run %s", out, state())
	}
	if out := cli(0, "runs", "resume", id); !strings.Contains(out, "resumed "+id) || state() != engine.Running {
		t.Fatalf("runs resume: %q, run %s", out, state())
	}
	if out := cli(0, "runs", "stop", id); !strings.Contains(out, "stopped "+id) || state() != engine.Stopped {
		t.Fatalf("runs stop: %q, run %s", out, state())
	}
	// Nobody trains it now: say how to continue it, and refuse a pause.
	if out := cli(1, "runs", "resume", id); !strings.Contains(out, "poselab resume "+id) {
		t.Fatalf("runs resume of a stopped run: %q", out)
	}
	if out := cli(1, "runs", "pause", id); !strings.Contains(out, "is stopped, not running") { // the workbench's p, word for word
		t.Fatalf("runs pause of a stopped run: %q", out)
	}
	cli(2, "runs", "stop")
}

// `poselab runs watch` follows a run that another process trains to its
// end, with train's progress lines, and says how it ended.
func TestRunsWatchFollowsARunOfAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 30})
	if err != nil {
		t.Fatal(err)
	}
	var so, se bytes.Buffer
	if code := Main([]string{"runs", "watch", id, "--runs-dir", dir}, &so, &se); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, so.String(), se.String())
	}
	out := so.String()
	if !strings.Contains(out, fmt.Sprintf("trained by poselab process %d", os.Getpid())) ||
		!strings.Contains(out, "epoch 30 step 960: train loss") || !strings.Contains(out, "run "+id+" finished at step 960/960: val error") {
		t.Fatalf("runs watch printed:\n%s", out)
	}
	if info, _ := e.Run(id); info.State != engine.Finished {
		t.Fatalf("run %s", info.State)
	}
}

// A run that finishes before its process acts on `runs stop` is not
// reported stopped.
func TestRunsStopOfARunThatFinishesMeanwhile(t *testing.T) {
	dir := t.TempDir()
	// This process never looks at the requests: the run ends by itself.
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 6})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for i, _ := e.Run(id); i.State != engine.Running; i, _ = e.Run(id) {
		if time.Now().After(deadline) {
			t.Fatalf("run is %s", i.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var so, se bytes.Buffer
	code := Main([]string{"runs", "stop", id, "--runs-dir", dir}, &so, &se)
	if i, _ := e.Run(id); i.State != engine.Finished {
		t.Skipf("the run is %s, not finished: it was too slow for this test", i.State)
	}
	if code != 1 || !strings.Contains(se.String(), "finished before it could be stopped") {
		t.Fatalf("runs stop of a run that finished meanwhile: exit %d\n%s%s", code, so.String(), se.String())
	}
}

// A process that does not act in time (here one that never looks at the
// store) is named, and the user is told the request still stands: a
// SIGSTOPped trainer paused 30 s after `runs pause` had said it did not act.
func TestRunsSteerTimeoutSaysTheRequestStands(t *testing.T) {
	dir := t.TempDir()
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for i, _ := e.Run(id); i.State != engine.Running; i, _ = e.Run(id) {
		if time.Now().After(deadline) {
			t.Fatalf("run is %s", i.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	saved := runsSteer["pause"]
	defer func() { runsSteer["pause"] = saved }()
	quick := saved
	quick.wait = 300 * time.Millisecond
	runsSteer["pause"] = quick
	var so, se bytes.Buffer
	if code := Main([]string{"runs", "pause", id, "--runs-dir", dir}, &so, &se); code != 1 ||
		!strings.Contains(se.String(), fmt.Sprintf("poselab process %d has not acted", os.Getpid())) ||
		!strings.Contains(se.String(), "the request stands") {
		t.Fatalf("runs pause of a run whose process does not look: exit %d\n%s%s", code, so.String(), se.String())
	}
	e.Stop(id)
}
