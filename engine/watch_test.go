package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"poselab/pose"
)

// openWatchEngine is a test engine that looks at the store every 10 ms.
func openWatchEngine(t *testing.T, dir string) *Engine {
	t.Helper()
	e, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// vanish ends an engine like a killed process: no final state, no
// checkpoint, its locks gone.
func vanish(t *testing.T, e *Engine, id string) {
	t.Helper()
	e.mu.Lock()
	r := e.runs[id]
	r.abandon = true
	nudge(r)
	done := r.done
	e.mu.Unlock()
	<-done
	close(e.quit)
	<-e.watchDone
	e.st.close()
}

// A run that another poselab process trains (another engine on the same
// runs directory) is listed here as soon as it is made, and its steps,
// validations (with their skeleton samples) and end arrive as events, as
// if this engine trained it.
func TestWatchFollowsARunOfAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	_, live, cancel := viewer.Subscribe()
	defer cancel()
	trainer := openWatchEngine(t, dir)
	defer trainer.Close()
	_, mine, cancelMine := trainer.Subscribe()
	defer cancelMine()
	spec := slowSpec()
	spec.Epochs = 4
	id, err := trainer.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}

	var steps, epochs []int
	var lastSamples []PoseSample
	sawForeign, sawSpec := false, false
	timeout := time.After(2 * time.Minute)
follow:
	for {
		select {
		case ev := <-live:
			if ev.Run != id {
				continue
			}
			if ev.Spec != nil && ev.Spec.Model == spec.Model {
				sawSpec = true
			}
			switch ev.Kind {
			case EvStep:
				steps = append(steps, ev.Step.Step)
				if info, _ := viewer.Run(id); info.Foreign && info.OwnerPID == os.Getpid() {
					sawForeign = true
				}
			case EvEpoch:
				epochs = append(epochs, ev.Epoch.Epoch)
				lastSamples = ev.Epoch.Samples
			case EvState:
				if ev.State.To == Finished {
					break follow
				}
			}
		case <-timeout:
			t.Fatalf("viewer got steps %v epochs %v, no end", steps, epochs)
		}
	}
	if !sawSpec || !sawForeign {
		t.Fatalf("the viewer listed the run with its spec %v, as foreign with the trainer's pid %v", sawSpec, sawForeign)
	}
	for i := 1; i < len(steps); i++ {
		if steps[i] <= steps[i-1] {
			t.Fatalf("step events out of order: %v", steps)
		}
	}
	if len(steps) < 3 || steps[len(steps)-1] != 128 {
		t.Fatalf("step events %v: want several, ending at step 128", steps)
	}
	if len(epochs) != 4 || epochs[0] != 0 || epochs[3] != 3 {
		t.Fatalf("validation events for epochs %v, want 0..3", epochs)
	}
	var want []PoseSample
	for ev := range mine {
		if ev.Run == id && ev.Kind == EvEpoch && ev.Epoch.Epoch == 3 {
			want = ev.Epoch.Samples
			break
		}
	}
	if len(want) == 0 || len(lastSamples) != len(want) || lastSamples[0].Pred != want[0].Pred || lastSamples[0].GT != want[0].GT {
		t.Fatalf("the last validation's samples: viewer %d, trainer %d (or they differ)", len(lastSamples), len(want))
	}
	mineInfo := waitRun(t, trainer, id, time.Minute)
	waitFor(t, "the viewer to let go of the finished run", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return !i.Foreign
	})
	info, _ := viewer.Run(id)
	if info.State != Finished || info.Step != mineInfo.Step || info.BestValMPJPE != mineInfo.BestValMPJPE {
		t.Fatalf("viewer: %s step %d best %v; trainer: %s step %d best %v", info.State, info.Step, info.BestValMPJPE,
			mineInfo.State, mineInfo.Step, mineInfo.BestValMPJPE)
	}
}

// Pause, resume and stop of a run another process trains reach that
// process; the run then is this engine's to resume or delete.
func TestRequestsReachTheProcessThatTrains(t *testing.T) {
	dir := t.TempDir()
	trainer := openWatchEngine(t, dir)
	defer trainer.Close()
	spec := slowSpec()
	spec.Epochs = 1000
	id, err := trainer.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	state := func(e *Engine) State { i, _ := e.Run(id); return i.State }
	waitFor(t, "the viewer to see it run", time.Minute, func() bool { return state(viewer) == Running })

	if err := viewer.Pause(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trainer to pause it", time.Minute, func() bool { return state(trainer) == Paused })
	waitFor(t, "the viewer to see it paused", time.Minute, func() bool { return state(viewer) == Paused })
	if i, _ := trainer.Run(id); i.Reason != fmt.Sprintf("paused from poselab process %d", os.Getpid()) {
		t.Fatalf("paused with reason %q", i.Reason) // was "paused by the user"
	}
	if err := viewer.Pause(id); err != nil {
		t.Fatalf("pausing a paused run: %v", err)
	}
	if err := viewer.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trainer to resume it", time.Minute, func() bool { return state(trainer) == Running })
	if err := viewer.Stop(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trainer to stop it", time.Minute, func() bool { return state(trainer) == Stopped })
	waitFor(t, "the viewer to take it over", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return i.State == Stopped && !i.Foreign
	})
	log, err := os.ReadFile(filepath.Join(dir, id, "log"))
	pid := os.Getpid()
	if err != nil || !strings.Contains(string(log), fmt.Sprintf("pause asked by poselab process %d", pid)) ||
		!strings.Contains(string(log), fmt.Sprintf("stop asked by poselab process %d", pid)) {
		t.Fatalf("the run log does not say who asked: %v\n%s", err, log)
	}
	if i, _ := trainer.Run(id); !strings.HasPrefix(i.Reason, fmt.Sprintf("stopped from poselab process %d", pid)) {
		t.Fatalf("stopped with reason %q", i.Reason)
	}
	if err := viewer.Stop(id); err == nil {
		t.Fatal("stopping a stopped run was accepted")
	}
	// Now it is nobody's: the viewer may delete it, and the trainer
	// forgets it.
	if err := viewer.Delete(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trainer to forget the deleted run", time.Minute, func() bool { _, ok := trainer.Run(id); return !ok })
}

// A run whose process died (killed: no final state, its lock gone) is
// taken over by a process that follows it: stopped as interrupted, and it
// resumes there to the end.
func TestWatchTakesOverARunWhoseProcessDied(t *testing.T) {
	dir := t.TempDir()
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	trainer := openWatchEngine(t, dir)
	id, err := trainer.Submit(slowSpec())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the viewer to see it run", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return i.State == Running && i.Foreign && i.Step > 10
	})
	vanish(t, trainer, id)
	waitFor(t, "the viewer to take it over", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return i.State == Stopped && !i.Foreign
	})
	if i, _ := viewer.Run(id); !strings.HasPrefix(i.Reason, "interrupted") {
		t.Fatalf("taken over as %s (%s)", i.State, i.Reason)
	}
	if err := viewer.Resume(id); err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, viewer, id, 2*time.Minute); info.State != Finished || info.Step != 96 {
		t.Fatalf("resumed run ended %s at step %d (%s)", info.State, info.Step, info.Reason)
	}
}

// A new engine reads the skeleton samples of a stored run's last
// validation: the TUI draws them for runs of earlier sessions.
func TestSamplesOfTheLastValidationAreStored(t *testing.T) {
	dir := t.TempDir()
	e := openTestEngine(t, dir)
	_, live, cancel := e.Subscribe()
	spec := resumeSpec()
	spec.Epochs = 2
	id, _ := e.Submit(spec)
	var want []PoseSample
	for ev := range live {
		if ev.Run == id && ev.Kind == EvEpoch && ev.Epoch.Epoch == 1 {
			want = ev.Epoch.Samples
			break
		}
	}
	cancel()
	waitRun(t, e, id, time.Minute)
	e.Close()
	e2 := openTestEngine(t, dir)
	defer e2.Close()
	got, epoch, err := e2.Samples(id)
	if err != nil || epoch != 1 || len(want) == 0 || len(got) != len(want) {
		t.Fatalf("stored samples: %d of epoch %d (%v), want %d of epoch 1", len(got), epoch, err, len(want))
	}
	for i := range got {
		if got[i].Index != want[i].Index || got[i].GT != want[i].GT || got[i].Pred != want[i].Pred {
			t.Fatalf("sample %d differs from the one published", i)
		}
		// The engine scores each sample (the TUI only shows it).
		e := pose.MPJPE([]pose.Pose3D{want[i].Pred}, []pose.Pose3D{want[i].GT})
		if want[i].ErrorMM != e || !(e > 0) || len(want[i].JointsMM) != pose.NumJoints || got[i].ErrorMM != e {
			t.Fatalf("sample %d: error %v published, %v stored, want %v", i, want[i].ErrorMM, got[i].ErrorMM, e)
		}
	}
	// A store from before samples carried their error: scored on load.
	old := append([]PoseSample(nil), want...)
	for i := range old {
		old[i].ErrorMM, old[i].JointsMM = 0, nil
	}
	b, _ := json.Marshal(old)
	if strings.Contains(string(b), "Error") {
		t.Fatalf("old-style samples carry an error: %s", b)
	}
	if _, err := e2.st.db.Exec(`UPDATE samples SET data=? WHERE run=?`, string(b), id); err != nil {
		t.Fatal(err)
	}
	got, _, err = e2.Samples(id)
	if err != nil || len(got) != len(want) {
		t.Fatalf("old-style samples: %d (%v)", len(got), err)
	}
	for i := range got {
		if got[i].ErrorMM != want[i].ErrorMM || len(got[i].JointsMM) != pose.NumJoints {
			t.Errorf("old-style sample %d: error %v, want %v", i, got[i].ErrorMM, want[i].ErrorMM)
		}
	}
}

// A run this engine took over (stopped, nobody's) that another process
// then resumes is that process's again: followed here as foreign, and not
// deleted from under it.
func TestWatchFollowsATakenOverRunResumedElsewhere(t *testing.T) {
	dir := t.TempDir()
	trainer := openWatchEngine(t, dir)
	defer trainer.Close()
	spec := slowSpec()
	spec.Epochs = 1000
	id, err := trainer.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	_, live, cancel := viewer.Subscribe()
	defer cancel()
	waitFor(t, "the trainer to run it", time.Minute, func() bool { i, _ := trainer.Run(id); return i.State == Running && i.Step > 5 })
	if err := trainer.Stop(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the viewer to take the stopped run over", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return i.State == Stopped && !i.Foreign
	})
	stoppedAt, _ := viewer.Run(id)
	if err := trainer.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the viewer to follow the resumed run", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return i.State == Running && i.Foreign && i.Step > stoppedAt.Step
	})
	if err := viewer.Delete(id); err == nil {
		t.Fatal("the viewer deleted a run another process trains")
	}
	waitFor(t, "a step event of the resumed run", time.Minute, func() bool {
		for {
			select {
			case ev := <-live:
				if ev.Run == id && ev.Kind == EvStep && ev.Step.Step > stoppedAt.Step {
					return true
				}
			default:
				return false
			}
		}
	})
}

// An engine that has not looked at the store since another process
// resumed a stopped run (a one-shot command never looks) does not delete
// it from under that process.
func TestDeleteRefusesARunAnotherProcessResumed(t *testing.T) {
	dir := t.TempDir()
	trainer := openWatchEngine(t, dir)
	defer trainer.Close()
	spec := slowSpec()
	spec.Epochs = 1000
	id, err := trainer.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trainer to run it", time.Minute, func() bool { i, _ := trainer.Run(id); return i.State == Running && i.Step > 5 })
	if err := trainer.Stop(id); err != nil {
		t.Fatal(err)
	}
	waitRun(t, trainer, id, time.Minute)
	other, err := Open(Options{RunsDir: dir, OpenData: testOpenData, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := trainer.Resume(id); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(id); err == nil || !strings.Contains(err.Error(), "another poselab process") {
		t.Fatalf("deleting a run another process resumed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, id, "config.toml")); err != nil {
		t.Fatal(err)
	}
}

// fakeForeign is a run "another process" (the test) trains: its lock held,
// its row and steps written straight to the store.
type fakeForeign struct {
	t    *testing.T
	st   *store
	info RunInfo
	at   time.Time
}

func newFakeForeign(t *testing.T, dir string) *fakeForeign {
	t.Helper()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.close() })
	spec, err := Prepare(resumeSpec())
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.newID(spec.Model, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := tryLock(st.runDir(id))
	t.Cleanup(func() { unlock(f) })
	spec.ID, spec.Name = id, id
	x := &fakeForeign{t: t, st: st, at: time.Now().Add(-time.Hour),
		info: RunInfo{Spec: spec, State: Running, TotalSteps: 1000, Started: time.Now().Add(-time.Hour)}}
	if err := st.createRun(x.info); err != nil {
		t.Fatal(err)
	}
	return x
}

// train stores steps from..to-1 (loss: the step plus off) and the row.
func (x *fakeForeign) train(from, to int, off float64) {
	var rows []stepRow
	for i := from; i < to; i++ {
		x.at = x.at.Add(10 * time.Millisecond)
		rows = append(rows, stepRow{Step: i, Loss: float64(i) + off, LR: 1e-3, Time: x.at})
	}
	if err := x.st.addSteps(x.info.Spec.ID, rows); err != nil {
		x.t.Fatal(err)
	}
	x.info.Step = to
	if err := x.st.updateRun(x.info); err != nil {
		x.t.Fatal(err)
	}
}

// stepEvents collects the step events of a run until the watcher has
// published one for step last.
func stepEvents(t *testing.T, live <-chan Event, id string, last int) []StepInfo {
	t.Helper()
	var got []StepInfo
	timeout := time.After(time.Minute)
	for {
		select {
		case ev := <-live:
			if ev.Run == id && ev.Kind == EvStep {
				got = append(got, *ev.Step)
				if ev.Step.Step == last {
					return got
				}
			}
		case <-timeout:
			t.Fatalf("no step event for step %d; got %v", last, got)
		}
	}
}

// A foreign run that goes back to a checkpoint (resumed after it
// diverged, or after its process was killed) trains steps again; the
// store keeps the old ones above them until they are trained again. The
// watcher publishes the new steps from the one it went back to, in order,
// and never the old ones above it.
func TestWatchPublishesARewoundForeignRunOnce(t *testing.T) {
	dir := t.TempDir()
	x := newFakeForeign(t, dir)
	id := x.info.Spec.ID
	x.train(0, 50, 0)
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	_, live, cancel := viewer.Subscribe()
	defer cancel()
	if i, _ := viewer.Run(id); !i.Foreign {
		t.Fatal("the run is not foreign")
	}
	x.train(50, 60, 0)
	stepEvents(t, live, id, 60)

	// Back to step 20; the new steps' losses differ from the old ones.
	x.info.State, x.info.Reason = Paused, "loss is NaN"
	x.st.updateRun(x.info)
	waitFor(t, "the viewer to see it paused", time.Minute, func() bool { i, _ := viewer.Run(id); return i.State == Paused })
	x.info.State, x.info.Reason = Running, ""
	x.train(20, 30, 0.5)
	got := stepEvents(t, live, id, 30)
	time.Sleep(100 * time.Millisecond) // ten more looks
	x.train(30, 35, 0.5)
	got = append(got, stepEvents(t, live, id, 35)...)
	if got[0].Step != 21 {
		t.Fatalf("the first step event after going back is %d, want 21: %v", got[0].Step, got)
	}
	for i, s := range got {
		if i > 0 && s.Step <= got[i-1].Step || s.Loss != float64(s.Step-1)+0.5 {
			t.Fatalf("step events after going back to 20 (want 21..35, each once, with the new losses): %+v", got)
		}
	}
}

// A request stored for the process that trained a run before this one
// took it (it died before it looked) is not carried out on this
// process's session of the run.
func TestARequestForTheRunsEarlierProcessIsNotCarriedOutLater(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(Options{RunsDir: dir, OpenData: testOpenData, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	spec := slowSpec()
	spec.Epochs = 1000
	id, err := first.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to start", time.Minute, func() bool { i, _ := first.Run(id); return i.State == Running })
	if err := first.st.putRequest(id, reqStop); err != nil { // never looked at: first does not watch
		t.Fatal(err)
	}
	vanish(t, first, id)

	e := openWatchEngine(t, dir)
	defer e.Close()
	if err := e.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed run to train", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Running })
	time.Sleep(100 * time.Millisecond) // ten looks at the store
	if i, _ := e.Run(id); i.State != Running {
		t.Fatalf("the resumed run is %s (%s)", i.State, i.Reason)
	}
}

// The watcher lists a run another process created from the run ids it
// read before it took the engine's lock: one deleted meanwhile (here, by
// this engine) is not listed again, as a failed run without a spec.
func TestAdoptOfARunDeletedMeanwhileListsNothing(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Options{RunsDir: dir, OpenData: testOpenData, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(resumeSpec())
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, id, time.Minute)
	if err := e.Delete(id); err != nil {
		t.Fatal(err)
	}
	e.adopt(id) // as a watcher that read the run ids just before the delete
	if i, ok := e.Run(id); ok {
		t.Fatalf("the deleted run is listed again: %s (%s)", i.State, i.Reason)
	}
}

// A foreign run taken over and resumed by another process between two
// looks (its process killed, `poselab resume` started at once) is named
// with its new process.
func TestWatchNamesTheNewProcessOfAForeignRun(t *testing.T) {
	dir := t.TempDir()
	x := newFakeForeign(t, dir)
	id := x.info.Spec.ID
	x.train(0, 10, 0)
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	if i, _ := viewer.Run(id); !i.Foreign || i.OwnerPID != os.Getpid() {
		t.Fatalf("foreign %v, owner %d", i.Foreign, i.OwnerPID)
	}
	// The lock changes hands (the test keeps holding it, and writes the
	// new holder's pid as tryLock does).
	if err := os.WriteFile(filepath.Join(dir, id, ".lock"), []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	x.info.Started = time.Now()
	x.train(5, 20, 0)
	waitFor(t, "the viewer to name the new process", time.Minute, func() bool { i, _ := viewer.Run(id); return i.OwnerPID == 4242 })
}

// A run that another process resumes after this engine listed it stopped
// is followed from where this engine left it: the validations and steps
// stored before the watcher looked come as events too (viewers loaded
// the run's history when it was stopped, and read it no more).
func TestWatchPublishesWhatAResumedRunDidBeforeTheLook(t *testing.T) {
	dir := t.TempDir()
	trainer := openWatchEngine(t, dir)
	defer trainer.Close()
	spec := slowSpec()
	spec.Epochs = 1000
	id, err := trainer.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the trainer to run it", time.Minute, func() bool { i, _ := trainer.Run(id); return i.State == Running && i.Epoch >= 1 })
	if err := trainer.Stop(id); err != nil {
		t.Fatal(err)
	}
	stopped := waitRun(t, trainer, id, time.Minute)
	viewer, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: -1}) // looks when told
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	_, live, cancel := viewer.Subscribe()
	defer cancel()
	if err := trainer.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two validations after the resume", time.Minute, func() bool { i, _ := trainer.Run(id); return i.Epoch >= stopped.Epoch+2 })
	viewer.watchStore() // sees it resumed elsewhere
	viewer.watchStore() // publishes what it did
	var epochs []int
	firstStep := 0
	for timeout := time.After(time.Minute); len(epochs) < 2; { // published already: only their delivery is left
		select {
		case ev := <-live:
			if ev.Run == id && ev.Kind == EvEpoch {
				epochs = append(epochs, ev.Epoch.Epoch)
			}
			if ev.Run == id && ev.Kind == EvStep && firstStep == 0 {
				firstStep = ev.Step.Step
			}
		case <-timeout:
			t.Fatalf("validation events %v after the resume from epoch %d", epochs, stopped.Epoch)
		}
	}
	if len(epochs) < 2 || epochs[0] != stopped.Epoch {
		t.Fatalf("validation events %v after the resume from epoch %d", epochs, stopped.Epoch)
	}
	if firstStep != stopped.Step+1 {
		t.Fatalf("the first step event is %d, the run was stopped at step %d", firstStep, stopped.Step)
	}
}

// The watcher's second look at a run's row keeps what the first one
// found: a run whose config.toml does not parse stays failed, saying why.
func TestWatchKeepsARunWithAnUnreadableSpecFailed(t *testing.T) {
	dir := t.TempDir()
	e := openTestEngine(t, dir)
	id, err := e.Submit(resumeSpec())
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, id, time.Minute)
	e.Close()
	if err := os.WriteFile(filepath.Join(dir, id, "config.toml"), []byte("model = [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	time.Sleep(100 * time.Millisecond) // ten looks
	if i, _ := viewer.Run(id); i.State != Failed || !strings.HasPrefix(i.Reason, "unreadable spec") {
		t.Fatalf("a run with an unreadable config.toml is %s (%s)", i.State, i.Reason)
	}
}

// A resume does not fail on a watcher's instant look at the run's lock
// (it holds the lock of a stopped run for a moment to see whether its
// owner is gone).
func TestResumeWaitsOutAWatchersLookAtTheLock(t *testing.T) {
	dir := t.TempDir()
	// No watcher of its own: its look at the finished run's row would
	// undo the stopped state set below (it did, on a loaded machine).
	e, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := resumeSpec()
	spec.Epochs = 1
	id, _ := e.Submit(spec)
	waitRun(t, e, id, time.Minute)
	e.mu.Lock()
	e.runs[id].info.State = Stopped // as after a stop: resumable
	e.mu.Unlock()
	f, ok := tryLock(filepath.Join(dir, id))
	if !ok {
		t.Fatal("the finished run's lock is held")
	}
	// A look of 300 ms: longer than the 80 ms lockSoon once waited, as a
	// look stalled on a loaded machine is.
	go func() { time.Sleep(300 * time.Millisecond); unlock(f) }()
	if err := e.Resume(id); err != nil {
		t.Fatalf("resume during a look at the lock: %v", err)
	}
}

// A foreign run's ETA is the one its own process reckons and stores
// (validations and checkpoints included), counted down since: reckoned
// here from its training pace alone, the same run read 4m05s in one
// process and 6m14s in the one training it.
func TestWatchShowsTheETAOfTheProcessThatTrains(t *testing.T) {
	dir := t.TempDir()
	x := newFakeForeign(t, dir)
	x.info.SamplesPerSec, x.info.ETA = 1e6, 10*time.Minute // the pace alone says under a second
	x.train(0, 100, 0)
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	var eta time.Duration
	waitFor(t, "the foreign run's ETA", time.Minute, func() bool {
		i, _ := viewer.Run(x.info.Spec.ID)
		eta = i.ETA
		return i.Foreign && i.Step == 100 && eta > 0
	})
	if eta < 9*time.Minute || eta > 10*time.Minute {
		t.Fatalf("the viewer's ETA %v, the training process stored 10m0s a moment ago", eta)
	}
}

// A run whose process died, taken over by a process that opens the store
// afterwards (poselab runs ls, not a watching workbench), says so in its
// log too: the log ended at its last checkpoint, without a word.
func TestTakingOverOnOpenIsLogged(t *testing.T) {
	dir := t.TempDir()
	trainer := openWatchEngine(t, dir)
	id, err := trainer.Submit(slowSpec())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "step 10", time.Minute, func() bool { i, _ := trainer.Run(id); return i.Step > 10 })
	vanish(t, trainer, id)
	e, err := Open(Options{RunsDir: dir, OpenData: testOpenData, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if i, _ := e.Run(id); i.State != Stopped || i.Reason != ReasonInterrupted {
		t.Fatalf("after its process died: %s (%s)", i.State, i.Reason)
	}
	b, err := os.ReadFile(filepath.Join(dir, id, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "-> stopped: "+ReasonInterrupted) {
		t.Fatalf("its log does not say it was interrupted:\n%s", b)
	}
}

// Deleting a run another process trains is refused with the way to stop
// it from here: "stop it there first" sent users looking for that process.
func TestDeleteOfAForeignRunSaysHowToStopIt(t *testing.T) {
	dir := t.TempDir()
	x := newFakeForeign(t, dir)
	x.train(0, 10, 0)
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	id := x.info.Spec.ID
	err := viewer.Delete(id)
	if err == nil || !strings.Contains(err.Error(), "poselab runs stop "+id) {
		t.Fatalf("Delete of a foreign run: %v", err)
	}
	if can := viewer.CanDelete(id); can == nil || can.Error() != err.Error() {
		t.Fatalf("CanDelete of a foreign run: %v, Delete said %v", can, err)
	}
}

// A request for a run another process still trains (its lock held: that
// process is only slow, SIGSTOPped or swapping) stands until that process
// looks, as `runs pause` says when it times out: a third process that
// watched the store dropped it after requestTTL, as if nobody trained the
// run any more.
func TestARequestForALiveProcessOutlivesItsTTL(t *testing.T) {
	saved := requestTTL
	requestTTL = 50 * time.Millisecond
	defer func() { requestTTL = saved }()
	dir := t.TempDir()
	// A trainer that does not look at the store (as if stopped).
	trainer, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer trainer.Close()
	spec := slowSpec()
	spec.Epochs = 1000
	id, err := trainer.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	waitFor(t, "the viewer to see it run", time.Minute, func() bool { i, _ := viewer.Run(id); return i.State == Running && i.Foreign })
	if err := viewer.Pause(id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * requestTTL) // many of the viewer's looks, past the TTL
	trainer.applyRequests()     // the trainer looks again
	if i, _ := trainer.Run(id); !i.State.Active() {
		t.Fatalf("run is %s", i.State)
	}
	waitFor(t, "the trainer to pause it", time.Minute, func() bool { i, _ := trainer.Run(id); return i.State == Paused })
}

// While Resume waits for a run's lock (another process's look), the engine
// lock is free: the other runs' steps and every viewer go on. Held, Runs
// below blocked until Resume gave up (2 s), and the lock was released
// only after it: the resume failed.
func TestResumeWaitsForTheLockWithoutTheEngineLock(t *testing.T) {
	dir := t.TempDir()
	e, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spec := resumeSpec()
	spec.Epochs = 1
	id, _ := e.Submit(spec)
	waitRun(t, e, id, time.Minute)
	e.mu.Lock()
	e.runs[id].info.State = Stopped // as after a stop: resumable
	e.mu.Unlock()
	f, ok := tryLock(filepath.Join(dir, id))
	if !ok {
		t.Fatal("the finished run's lock is held")
	}
	resumed := make(chan error, 1)
	go func() { resumed <- e.Resume(id) }()
	time.Sleep(100 * time.Millisecond) // Resume is waiting for the lock by now (or soon: then it waits too)
	e.Runs()                           // blocks while the engine lock is held
	unlock(f)
	if err := <-resumed; err != nil {
		t.Fatalf("resume: %v", err)
	}
}
