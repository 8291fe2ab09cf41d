package tui

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// The workbench follows a run that another poselab process trains (here
// another engine of the test process on the same runs directory): it lists
// it with that process's pid, shows its stored validations and skeleton
// samples at once and the steps, validations and resource samples that
// come after, passes a pause on to that process, and does not count it
// among its own runs when quitting.
func TestWorkbenchFollowsARunOfAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	open := func() *engine.Engine {
		e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 20 * time.Millisecond, StepEvery: 5 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	trainer := open()
	defer trainer.Close()
	id, err := trainer.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitUntil("two validations", func() bool { i, _ := trainer.Run(id); return i.Epoch >= 2 })

	viewer := open()
	defer viewer.Close()
	m := New(viewer, Options{RunsDir: dir})
	defer m.Close()
	d := m.st.runs[id]
	if d == nil || len(d.epochs) < 2 || len(d.samples) == 0 {
		t.Fatalf("the stored history was not loaded: %+v", d)
	}
	before := len(d.epochs)
	// What the trainer does from now on arrives as events.
	deadline := time.After(time.Minute)
	for len(d.epochs) < before+2 || len(d.step) == 0 {
		select {
		case ev := <-m.events:
			m.Update(eventsMsg{events: []engine.Event{ev}})
		case <-deadline:
			t.Fatalf("after a minute: %d step events, %d validations (%d at start)", len(d.step), len(d.epochs), before)
		}
	}
	for i := 1; i < len(d.epochs); i++ {
		if d.epochs[i].Epoch != d.epochs[i-1].Epoch+1 {
			t.Fatalf("validations %d and %d are epochs %d and %d", i-1, i, d.epochs[i-1].Epoch, d.epochs[i].Epoch)
		}
	}
	if view := screen(m, 160, 40); !strings.Contains(view, fmt.Sprintf("@%d", os.Getpid())) ||
		!strings.Contains(view, fmt.Sprintf("trained by poselab process %d", os.Getpid())) {
		t.Fatalf("the run is not shown as another process's:\n%s", view)
	}
	// Its resource line, from the samples its process stores: the
	// memory it holds (a CPU run: its RSS of the machine's RAM).
	if view := screen(m, 160, 40); !strings.Contains(view, " · RSS ") || !strings.Contains(view, " / RAM ") {
		t.Fatalf("the status line gives no memory of the run another process trains:\n%s", view)
	}
	if view := screen(m, 160, 40); !strings.Contains(view, "1 run · 1 active") {
		t.Fatalf("the header does not count the run another process trains:\n%s", view)
	}
	if got := m.activeRuns(); len(got) != 0 {
		t.Fatalf("quitting would ask about %v, which another process trains", got)
	}
	m.selID = id
	pressRun(m, "p")
	if want := fmt.Sprintf("asked poselab process %d to pause %s", os.Getpid(), id); !strings.Contains(m.status, want) {
		t.Fatalf("status %q, want %q", m.status, want)
	}
	waitUntil("the trainer to pause", func() bool { i, _ := trainer.Run(id); return i.State == engine.Paused })
	// The Log view shows the run's log as its process writes it: the
	// request and the pause it made.
	press(m, "4")
	asked := fmt.Sprintf("pause asked by poselab process %d", os.Getpid())
	waitUntil("the log view to show the pause", func() bool {
		view := screen(m, 160, 40)
		return strings.Contains(view, asked) && strings.Contains(view, "state running -> paused") &&
			strings.Contains(view, "/"+id+"/log")
	})
}

// A run of another process is read from the store when first listed,
// while the engine's watcher publishes what that process stored since its
// last look: some of the same validations, after thinned step events. Each
// validation is kept once, in order.
func TestForeignValidationsReadAndPublishedAreKeptOnce(t *testing.T) {
	var h storedRun
	for e := 0; e < 4; e++ {
		h.epochs = append(h.epochs, engine.EpochInfo{Epoch: e, Step: 32 * (e + 1), MPJPE: 100 - float64(e)})
	}
	s := newStore()
	info := engine.RunInfo{Spec: engine.Spec{ID: "r"}, State: engine.Running, Foreign: true}
	s.loadForeign(h, info)
	// The watcher's look covered steps 40..128: the step events are
	// thinned, the validations of epochs 1..3 all come.
	seq := int64(0)
	ev := func(e engine.Event) {
		seq++
		e.Run, e.Seq, e.Time = "r", seq, time.Now()
		s.apply(e)
	}
	ev(engine.Event{Kind: engine.EvStep, Step: &engine.StepInfo{Step: 100}})
	ev(engine.Event{Kind: engine.EvStep, Step: &engine.StepInfo{Step: 128}})
	for e := 1; e < 4; e++ {
		ep := h.epochs[e]
		ev(engine.Event{Kind: engine.EvEpoch, Epoch: &ep})
	}
	var got []int
	for _, e := range s.run("r").epochs {
		got = append(got, e.Epoch)
	}
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Fatalf("validations %v, want [0 1 2 3]", got)
	}
}

// A workbench that joins after the engine published steps of a foreign
// run but none of its validations yet (an SSH session opened while a long
// epoch trains) shows the validations stored before.
func TestForeignRunWithOnlyStepEventsGetsItsStoredValidations(t *testing.T) {
	h := storedRunSamples{samples: []engine.PoseSample{{Index: 7}}, epoch: 3}
	for e := 0; e < 4; e++ {
		h.epochs = append(h.epochs, engine.EpochInfo{Epoch: e, Step: 32 * (e + 1), MPJPE: 100 - float64(e)})
	}
	s := newStore()
	for i, st := range []int{140, 141} {
		s.apply(engine.Event{Run: "r", Seq: int64(i + 1), Time: time.Now(), Kind: engine.EvStep, Step: &engine.StepInfo{Step: st}})
	}
	s.loadForeign(h, engine.RunInfo{Spec: engine.Spec{ID: "r"}, State: engine.Running, Foreign: true})
	var got []int
	for _, e := range s.run("r").epochs {
		got = append(got, e.Epoch)
	}
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Fatalf("validations %v, want the stored [0 1 2 3]", got)
	}
	if r := s.run("r"); len(r.samples) != 1 || r.sampleEp != 3 {
		t.Fatalf("%d skeleton samples of epoch %d, want the stored one of epoch 3", len(r.samples), r.sampleEp)
	}
}

// storedRunSamples is a storedRun that keeps its newest validation's
// skeleton samples.
type storedRunSamples struct {
	storedRun
	samples []engine.PoseSample
	epoch   int
}

func (h storedRunSamples) Samples(string) ([]engine.PoseSample, int, error) {
	return h.samples, h.epoch, nil
}
