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
	case <-time.After(time.Minute):
		i0, _ := e.Run(ids[0])
		i1, _ := e.Run(ids[1])
		t.Fatalf("watch still waiting: stage 0 %s (%s), stage 1 %s", i0.State, i0.Reason, i1.State)
	}
}

// `poselab resume` of a chain's second stage while the first is stopped:
// the stage waits for a run that nothing will start, so watch must say
// which run to resume first instead of waiting for ever.
func TestWatchResumedStageBehindAStoppedOne(t *testing.T) {
	e, err := engine.Open(engine.Options{RunsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ids, err := e.SubmitChain([]engine.Spec{
		{Model: "sb", Preset: "test", Epochs: 50},
		{Model: "sb", Preset: "test", After: "@0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(ids[0]); err != nil {
		t.Fatal(err)
	}
	if info, err := e.Wait(ids[0], 30*time.Second); err != nil || info.State != engine.Stopped {
		t.Fatalf("stage 0: %s, %v", info.State, err)
	}
	if err := e.Stop(ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := e.Resume(ids[1]); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var out, errb bytes.Buffer
	go func() { done <- watch(e, ids[1:], false, &out, &errb) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "poselab resume "+ids[0]) {
			t.Fatalf("watch returned %v, want it to name the run to resume first", err)
		}
	case <-time.After(time.Minute): // nothing will start it: only a failure waits this long
		t.Fatalf("watch still waiting for %s behind the stopped %s", ids[1], ids[0])
	}
}

// A chain stopped in its first stage: resuming that stage finishes it, and
// the command names the next stage, stopped before it started, to resume.
func TestResumeNamesTheChainsNextStage(t *testing.T) {
	dir := t.TempDir()
	e, err := engine.Open(engine.Options{RunsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := e.SubmitChain([]engine.Spec{
		{Model: "sb", Preset: "test", Epochs: 1},
		{Model: "sb", Preset: "test", Epochs: 1, After: "@0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Stop(ids[0])
	e.Wait(ids[0], 30*time.Second)
	e.Close() // the second stage: stopped before it started
	var out, errb bytes.Buffer
	if code := Main([]string{"resume", ids[0], "--runs-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("resume: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "poselab resume "+ids[1]) {
		t.Fatalf("resume does not name the next stage %s:\n%s", ids[1], errb.String())
	}
}
