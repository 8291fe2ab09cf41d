package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Submit refuses a run fed by a source that cannot feed it (the
// workbench's chain and train --from share these checks): one stopped
// without outputs, one still training with the run queued not behind it,
// one on another synthetic size. Each was created and failed when it
// started ("has no outputs (did it finish?)", the outputs' digest).
func TestSubmitRefusesASourceThatCannotFeedIt(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	done, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, done, time.Minute)
	sh, err := e.Submit(Spec{Model: "sh", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(sh)
	n := len(e.Runs())
	refused := func(spec Spec, problem ChainProblem, want string) {
		t.Helper()
		_, err := e.Submit(spec)
		var ce *ChainError
		if !errors.As(err, &ce) || ce.Problem != problem || !strings.Contains(err.Error(), want) {
			t.Fatalf("Submit: %v; want a ChainError %d saying %q", err, problem, want)
		}
		if len(e.Runs()) != n {
			t.Fatalf("%d runs, want the %d there were", len(e.Runs()), n)
		}
	}
	refused(Spec{Model: "sb", Preset: "test", From: []string{sh}, After: done}, ChainNotWaited, "would not be waited for")
	refused(Spec{Model: "sb", Preset: "test", From: []string{sh}, DataSize: "small"}, ChainOtherData, "synth/tiny, this one would be on synth/small")
	// Queued behind it (After left out: Submit sets it), it is taken.
	if err := e.CheckFrom(Spec{Model: "sb", Preset: "test", From: []string{sh}, DataSize: "tiny"}); err != nil {
		t.Fatalf("CheckFrom of a run queued behind its source: %v", err)
	}
	if err := e.Stop(sh); err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, sh, time.Minute)
	if err := e.CanChain(sh); err == nil || !strings.Contains(err.Error(), "is stopped and has no outputs") {
		t.Fatalf("CanChain of a stopped run: %v", err)
	}
	refused(Spec{Model: "sb", Preset: "test", From: []string{sh}}, ChainNoOutputs, "resume it first")
}

// Only SB trains on another run's outputs: a run of any other model with
// From was taken, trained on the data alone, and still held its source
// back from being extended ("trained on run ...'s outputs").
func TestSubmitRefusesFromForModelsThatDoNotReadIt(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	done := finishedTestRun(t, e)
	n := len(e.Runs())
	for _, model := range []string{"baseline", "sh", "ir"} {
		_, err := e.Submit(Spec{Model: model, Preset: "test", From: []string{done}})
		if err == nil || !strings.Contains(err.Error(), "only sb trains on another run's outputs") || !strings.Contains(err.Error(), model) {
			t.Errorf("%s with from: %v", model, err)
		}
	}
	if len(e.Runs()) != n {
		t.Fatalf("%d runs, want the %d there were", len(e.Runs()), n)
	}
}

// A run may not be named with another run's id: commands take names where
// ids are meant, and runs rm of that id would delete the other run.
func TestSubmitRefusesANameThatIsAnotherRunsID(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	first := finishedTestRun(t, e)
	n := len(e.Runs())
	if _, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, Name: first}); err == nil || !strings.Contains(err.Error(), "is the id of another run") {
		t.Fatalf("a name that is another run's id: %v", err)
	}
	if len(e.Runs()) != n {
		t.Fatalf("%d runs, want %d", len(e.Runs()), n)
	}
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, Name: "demo"})
	if err != nil {
		t.Fatalf("an ordinary name: %v", err)
	}
	waitRun(t, e, id, time.Minute)
}

// finishedTestRun trains a one-epoch SB test run on e to its end.
func finishedTestRun(t *testing.T, e *Engine) string {
	t.Helper()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, id, time.Minute)
	return id
}
