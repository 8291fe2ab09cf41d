package cli

import (
	"io"
	"testing"
	"time"

	"poselab/engine"
)

// The event that ends watch's wait for a run is its last with a line to
// print: a finished run's state event comes before its finished event
// (the result line, an early stop's reason), with a log write between
// them, so the state event must not count as the end.
func TestEndsRunIsARunsLastEvent(t *testing.T) {
	e, err := engine.Open(engine.Options{RunsDir: t.TempDir(), WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, live, cancel := e.Subscribe()
	defer cancel()
	id, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	var evs []engine.Event
	timeout := time.After(time.Minute)
	for len(evs) == 0 || evs[len(evs)-1].Kind != engine.EvFinished {
		select {
		case ev := <-live:
			if ev.Run == id {
				evs = append(evs, ev)
			}
		case <-timeout:
			t.Fatalf("no finished event: %d events", len(evs))
		}
	}
	started := false
	for i, ev := range evs {
		started = started || ev.Kind == engine.EvStarted
		if endsRun(ev, started) && i != len(evs)-1 {
			t.Fatalf("event %d (%s) ends the wait, before the run's %s event", i, ev.Kind, evs[len(evs)-1].Kind)
		}
	}
	if !endsRun(evs[len(evs)-1], true) {
		t.Fatal("the finished event does not end the wait")
	}
	// A failed state: a run that trained gets a failed event after it; a
	// chain link that never started (its predecessor failed) gets none, so
	// its state ends the wait (else pipeline run waited out the grace).
	failed := engine.Event{Kind: engine.EvState, State: &engine.StateInfo{From: engine.Queued, To: engine.Failed}}
	if endsRun(failed, true) || !endsRun(failed, false) {
		t.Fatalf("failed state: ends a started run's wait %v, an unstarted one's %v", endsRun(failed, true), endsRun(failed, false))
	}
}

// A run of the watched ones deleted once it ended (a grid's first run,
// from the workbench, while the next trains) does not hold the watch
// forever: it waited for that run to turn inactive, and a deleted run
// never does.
func TestWatchOutlivesARunDeletedAfterItEnded(t *testing.T) {
	e, err := engine.Open(engine.Options{RunsDir: t.TempDir(), WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	first, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	next, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 30})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { res <- watch(e, []string{first, next}, true, io.Discard, io.Discard) }()
	if _, err := e.Wait(first, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(first); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Wait(next, time.Minute); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch still waiting 10 s after its runs ended")
	}
}
