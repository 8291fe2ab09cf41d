package engine

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestLateSubscriberGetsHistory(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	_, live, cancelLive := e.Subscribe()
	var mu sync.Mutex
	var got []Event
	done := make(chan struct{})
	go func() {
		for ev := range live {
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		}
		close(done)
	}()
	id, _ := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	waitRun(t, e, id, 5*time.Minute)
	hist, later, cancel := e.Subscribe()
	defer cancel()
	// Events reach a subscriber after the state they tell of, later still
	// on a loaded machine, and cancelling drops those not yet delivered:
	// wait until the live subscriber has had the history's last one (a
	// fixed 50 ms was not always enough).
	waitFor(t, "the live subscriber to catch up", time.Minute, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[len(got)-1].Seq >= hist[len(hist)-1].Seq
	})
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
	timeout := time.After(time.Minute) // its events are queued: only their delivery is left
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
// with a stuck subscriber take well under a second of CPU, its backlog
// stays bounded, and important events still reach it.
func TestHubNeverBlocks(t *testing.T) {
	h := newHub()
	_, ch, cancel := h.subscribe()
	defer cancel()
	// The publisher's CPU time, not the wall time: a loaded machine
	// stretched that past 2 s (3 to 4 s under `nice` beside two busy
	// loops), whatever the hub did.
	runtime.LockOSThread()
	start, err := threadCPU()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100000; i++ {
		h.publish(Event{Kind: EvStep, Step: &StepInfo{Step: i}})
	}
	h.publish(Event{Kind: EvEpoch, Epoch: &EpochInfo{Epoch: 1}})
	end, err := threadCPU()
	runtime.UnlockOSThread()
	if err != nil {
		t.Fatal(err)
	}
	if d := end - start; d > 2*time.Second {
		t.Fatalf("publishing to a stuck subscriber took %v of CPU", d)
	}
	n, epoch := 0, false
	for !epoch {
		select {
		case ev := <-ch:
			n++
			epoch = ev.Kind == EvEpoch
		case <-time.After(time.Minute): // queued: only its delivery is left
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
