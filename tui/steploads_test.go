package tui

import (
	"runtime"
	"slices"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"poselab/engine"
)

// bigHistory is an engine store with n stored steps of run "long"; a read
// copies the range asked for (a real store's read costs more: rows from
// disk).
type bigHistory struct {
	*fakeCtrl
	steps []engine.StepPoint
}

func newBigHistory(n int) *bigHistory {
	h := &bigHistory{fakeCtrl: newFake()}
	t0 := float64(time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC).Unix())
	for k := 0; k < n; k++ {
		h.steps = append(h.steps, engine.StepPoint{Step: k, Loss: 1 / float64(k+1), LR: 1e-3, Time: t0 + float64(k)/1000})
	}
	return h
}

func (h *bigHistory) Steps(id string) ([]engine.StepPoint, error) {
	return append([]engine.StepPoint(nil), h.steps...), nil
}
func (h *bigHistory) StepsBetween(id string, lo, hi int) ([]engine.StepPoint, error) {
	return append([]engine.StepPoint(nil), h.steps[lo+1:hi+1]...), nil
}
func (h *bigHistory) Epochs(string) ([]engine.EpochInfo, error) { return nil, nil }

// longRunModel is a workbench on h (whose fake controller is f) with a
// run of n steps whose step events were thinned from the start (one in
// 1000), running.
func longRunModel(h engine.Controller, f *fakeCtrl, n int) *Model {
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "long", Model: "sb"}, State: engine.Running, Step: n, Started: t0}, engine.Schedule{Kind: "constant", BaseLR: 1e-3})
	seq := int64(0)
	f.hist = nil
	for s := 1; s <= n; s += 1000 {
		seq++
		f.hist = append(f.hist, engine.Event{Seq: seq, Run: "long", Time: t0.Add(time.Duration(s) * time.Millisecond), Kind: engine.EvStep, Step: &engine.StepInfo{Step: s, Loss: 1 / float64(s), LR: 1e-3}})
	}
	m := New(h, Options{})
	m.w, m.h = 120, 40
	m.render()
	return m
}

// pausedMsg is the run's pause as the engine publishes it.
func pausedMsg() eventsMsg {
	return eventsMsg{events: []engine.Event{{Seq: 1 << 40, Run: "long", Kind: engine.EvState, State: &engine.StateInfo{From: engine.Running, To: engine.Paused}}}}
}

// BenchmarkPauseOfALongRun is the Update and frame that follow the pause
// of a run of 500,000 steps whose events were thinned from the start.
func BenchmarkPauseOfALongRun(b *testing.B) {
	const n = 500_000
	h := newBigHistory(n)
	var took []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := longRunModel(h, h.fakeCtrl, n)
		runtime.GC() // the setup's garbage is not the frame's
		b.StartTimer()
		t0 := time.Now()
		m.Update(pausedMsg())
		m.render()
		took = append(took, time.Since(t0))
	}
	// The median: the shared machine's other work makes the mean jump.
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "median-ns/frame")
}

// blockingHistory is bigHistory whose reads wait until the test releases
// them.
type blockingHistory struct {
	*bigHistory
	entered, release chan struct{}
}

func (h *blockingHistory) Steps(id string) ([]engine.StepPoint, error) {
	h.entered <- struct{}{}
	<-h.release
	return h.bigHistory.Steps(id)
}
func (h *blockingHistory) StepsBetween(id string, lo, hi int) ([]engine.StepPoint, error) {
	h.entered <- struct{}{}
	<-h.release
	return h.bigHistory.StepsBetween(id, lo, hi)
}

// within fails the test when f takes a second: it waited for a read.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatalf("%s waited for the store's read", what)
	}
}

// runCmds runs cmd and the commands of its batches, each on its own
// goroutine (waitEvents blocks for good), sending their messages to out.
func runCmds(cmd tea.Cmd, out chan<- tea.Msg) {
	if cmd == nil {
		return
	}
	msg := cmd()
	if b, ok := msg.(tea.BatchMsg); ok {
		for _, c := range b {
			go runCmds(c, out)
		}
		return
	}
	out <- msg
}

// loaded waits for the stored steps' message among the commands' ones.
func loaded(t *testing.T, msgs <-chan tea.Msg) stepsLoadedMsg {
	t.Helper()
	for deadline := time.After(10 * time.Second); ; {
		select {
		case msg := <-msgs:
			if l, ok := msg.(stepsLoadedMsg); ok {
				return l
			}
		case <-deadline:
			t.Fatal("no stored steps came")
		}
	}
}

// A run that pauses has its thinned steps replaced by its stored ones,
// read off the UI goroutine: read in the frame, they held the screen
// (1.3 s for 500,000 steps) at each pause, and at the first frame of a
// long run of an earlier session. Updates and frames go on during the
// read; the steps that came meanwhile follow the stored ones, and a run
// deleted meanwhile is not brought back.
func TestStoredStepReadsDoNotBlockUpdate(t *testing.T) {
	const n = 20_000 // events at steps 1, 1001, ..., 19001
	for _, deleted := range []bool{false, true} {
		h := &blockingHistory{bigHistory: newBigHistory(n), entered: make(chan struct{}, 1), release: make(chan struct{})}
		m := longRunModel(h, h.fakeCtrl, n)
		var cmd tea.Cmd
		within(t, "the pause's Update", func() { _, cmd = m.Update(pausedMsg()) })
		msgs := make(chan tea.Msg, 8)
		go runCmds(cmd, msgs)
		select {
		case <-h.entered: // the read has begun, and waits
		case <-time.After(10 * time.Second):
			t.Fatal("the pause read no stored steps")
		}
		within(t, "an Update and a frame during the read", func() {
			if deleted {
				h.mu.Lock()
				delete(h.infos, "long")
				h.order = nil
				h.mu.Unlock()
				m.Update(tickMsg{})
			} else { // resumed: more thinned steps come
				t1 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
				m.Update(eventsMsg{events: []engine.Event{
					{Seq: 1<<40 + 1, Run: "long", Kind: engine.EvState, State: &engine.StateInfo{From: engine.Paused, To: engine.Running}},
					{Seq: 1<<40 + 2, Run: "long", Time: t1, Kind: engine.EvStep, Step: &engine.StepInfo{Step: 19500, Loss: 0.1}},
					{Seq: 1<<40 + 3, Run: "long", Time: t1, Kind: engine.EvStep, Step: &engine.StepInfo{Step: 20000, Loss: 0.1}}}})
			}
			m.render()
		})
		close(h.release)
		m.Update(loaded(t, msgs))
		r := m.st.runs["long"]
		if deleted {
			if r != nil {
				t.Fatalf("a run deleted during the read has %d steps again", len(r.step))
			}
			continue
		}
		if len(r.step) != 19001+2 || r.step[19000] != 19001 || r.step[19001] != 19500 || r.step[19002] != 20000 || r.loss[100] != 1/101.0 {
			t.Fatalf("%d steps, the last %v; want the 19001 stored and the 2 that came during the read", len(r.step), r.step[max(len(r.step)-3, 0):])
		}
		if r.loading != nil {
			t.Fatal("the run still waits for a read")
		}
	}
}

// The first frame of a long run of an earlier session reads all its
// stored steps, off the UI goroutine too.
func TestFirstFrameOfAStoredRunDoesNotWaitForItsSteps(t *testing.T) {
	const n = 20_000
	h := &blockingHistory{bigHistory: newBigHistory(n), entered: make(chan struct{}, 1), release: make(chan struct{})}
	h.addRun(engine.RunInfo{Spec: engine.Spec{ID: "old", Model: "sb"}, State: engine.Finished, Step: n}, engine.Schedule{})
	var m *Model
	var cmd tea.Cmd
	within(t, "the first Update and frame", func() {
		m = New(h, Options{})
		_, cmd = m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		m.render()
	})
	msgs := make(chan tea.Msg, 8)
	go runCmds(cmd, msgs)
	<-h.entered
	within(t, "a frame during the read", func() { m.render() })
	close(h.release)
	m.Update(loaded(t, msgs))
	if r := m.st.runs["old"]; len(r.step) != n || r.step[n-1] != n {
		t.Fatalf("%d steps, want the %d stored", len(r.step), n)
	}
}
