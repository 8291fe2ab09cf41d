package engine

import (
	"testing"
	"time"
)

func TestLateSubscriberGetsHistory(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	_, live, cancelLive := e.Subscribe()
	var got []Event
	done := make(chan struct{})
	go func() {
		for ev := range live {
			got = append(got, ev)
		}
		close(done)
	}()
	id, _ := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	waitRun(t, e, id, 5*time.Minute)
	time.Sleep(50 * time.Millisecond)
	hist, later, cancel := e.Subscribe()
	defer cancel()
	cancelLive()
	<-done
	kinds := map[EventKind]int{}
	for i, ev := range hist {
		kinds[ev.Kind]++
		if i > 0 && ev.Seq <= hist[i-1].Seq {
			t.Fatalf("history out of order at %d", i)
		}
	}
	if kinds[EvStarted] != 1 || kinds[EvEpoch] != 2 || kinds[EvFinished] != 1 || kinds[EvStep] == 0 || kinds[EvCheckpoint] < 2 {
		t.Fatalf("late history has %v", kinds)
	}
	// The live subscriber saw the same events as the history holds.
	if len(got) != len(hist) {
		t.Fatalf("live subscriber got %d events, history %d", len(got), len(hist))
	}
	select {
	case ev := <-later:
		t.Fatalf("unexpected event after the run: %+v", ev)
	default:
	}
	for _, ev := range hist {
		if ev.Kind == EvFinished {
			r := ev.Result
			if r == nil || !finite(r.BestValMPJPE) || !finite(r.BaselineMPJPE) || r.Steps != 64 {
				t.Fatalf("finished event result %+v", r)
			}
		}
		if ev.Kind == EvEpoch && (len(ev.Epoch.PerJoint) != 17 || len(ev.Epoch.Samples) == 0 || !finite(ev.Epoch.PMPJPE)) {
			t.Fatalf("epoch event lacks metrics: %+v", ev.Epoch)
		}
	}
}

// A subscriber that never reads must not slow training, and it still gets
// every epoch and state event (step events are dropped for it).
func TestBlockedSubscriberDoesNotSlowTraining(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	_, blocked, cancel := e.Subscribe() // never read until the end
	defer cancel()
	id, _ := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 12})
	info := waitRun(t, e, id, 5*time.Minute)
	if info.State != Finished {
		t.Fatalf("%s %s", info.State, info.Reason)
	}
	kinds := map[EventKind]int{}
	timeout := time.After(5 * time.Second)
	for kinds[EvFinished] == 0 {
		select {
		case ev := <-blocked:
			kinds[ev.Kind]++
		case <-timeout:
			t.Fatalf("blocked subscriber never got the finished event: %v", kinds)
		}
	}
	if kinds[EvEpoch] != 12 {
		t.Fatalf("blocked subscriber got %d epoch events, want 12 (%v)", kinds[EvEpoch], kinds)
	}
}

// The hub publishes without waiting for subscribers: 100,000 step events
// with a stuck subscriber take well under a second, its backlog stays
// bounded, and important events still reach it.
func TestHubNeverBlocks(t *testing.T) {
	h := newHub()
	_, ch, cancel := h.subscribe()
	defer cancel()
	start := time.Now()
	for i := 0; i < 100000; i++ {
		h.publish(Event{Kind: EvStep, Step: &StepInfo{Step: i}})
	}
	h.publish(Event{Kind: EvEpoch, Epoch: &EpochInfo{Epoch: 1}})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("publishing to a stuck subscriber took %v", d)
	}
	n, epoch := 0, false
	for !epoch {
		select {
		case ev := <-ch:
			n++
			epoch = ev.Kind == EvEpoch
		case <-time.After(2 * time.Second):
			t.Fatal("epoch event lost")
		}
	}
	if n > subQueueSteps+100 {
		t.Fatalf("stuck subscriber received %d events; its backlog should be bounded near %d", n, subQueueSteps)
	}
	hist, _, c2 := h.subscribe()
	c2()
	if len(hist) > historyMaxSteps+1 {
		t.Fatalf("history grew to %d", len(hist))
	}
	if hist[len(hist)-1].Kind != EvEpoch {
		t.Fatal("history lost the epoch event")
	}
}
