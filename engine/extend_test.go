package engine

import (
	"os"
	"strings"
	"testing"
	"time"
)

// A finished run extended to more epochs trains on from its last
// checkpoint to the same loss curve as a run given those epochs at the
// start (data order and dropout depend on seed, epoch and step only), and
// its config.toml says the new count.
func TestExtendAFinishedRun(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	short, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	long, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 4})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, short, time.Minute)
	waitRun(t, e, long, time.Minute)
	if err := e.Extend(short, 2, -1); err == nil || !strings.Contains(err.Error(), "has trained 2 epochs") {
		t.Fatalf("extend to the epochs it has: %v", err)
	}
	if err := e.Extend(short, 4, -1); err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, e, short, time.Minute)
	ref, _ := e.Run(long)
	if info.State != Finished || info.Epoch != 4 || info.Step != ref.Step || info.TotalSteps != ref.TotalSteps {
		t.Fatalf("extended run %s at epoch %d step %d/%d; the 4-epoch run: step %d/%d", info.State, info.Epoch, info.Step, info.TotalSteps, ref.Step, ref.TotalSteps)
	}
	a, b := lossCurve(t, e, short), lossCurve(t, e, long)
	if len(a) != len(b) {
		t.Fatalf("%d steps stored, want %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("step %d: loss %v, the 4-epoch run's %v", i, a[i], b[i])
		}
	}
	if info.BestValMPJPE != ref.BestValMPJPE {
		t.Fatalf("best val %.3f mm, the 4-epoch run's %.3f", info.BestValMPJPE, ref.BestValMPJPE)
	}
	spec, err := readSpec(e.st.runDir(short) + "/config.toml")
	if err != nil || spec.Epochs != 4 {
		t.Fatalf("config.toml: epochs %d (%v)", spec.Epochs, err)
	}
	// Nothing to extend, or not now.
	if err := e.Extend(short, 0, -1); err == nil {
		t.Fatal("extend with nothing to change")
	}
	// A patience alone: the reason names no CLI flag (the workbench's
	// form showed "give more (--epochs)").
	if err := e.Extend(short, 0, 3); err == nil || !strings.Contains(err.Error(), "give it more epochs") || strings.Contains(err.Error(), "--") {
		t.Fatalf("a patience alone: %v", err)
	}
	if err := e.Extend("nope", 5, -1); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown run: %v", err)
	}
}

// A cosine schedule keeps the length it was trained to: the learning rate
// does not jump back up under an extended run.
func TestExtendKeepsACosineLength(t *testing.T) {
	dir := t.TempDir()
	trained := openTestEngine(t, dir)
	id, err := trained.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2, Schedule: Schedule{Kind: "cosine", BaseLR: 1e-3, MinLR: 1e-5}})
	if err != nil {
		t.Fatal(err)
	}
	first := waitRun(t, trained, id, time.Minute)
	trained.Close()
	// Extended by a later process (poselab resume RUN --epochs N).
	e := openTestEngine(t, dir)
	defer e.Close()
	if err := e.Extend(id, 3, -1); err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, id, time.Minute)
	steps, err := e.Steps(id)
	if err != nil || len(steps) != 3*first.StepsPerEpoch {
		t.Fatalf("%d steps (%v)", len(steps), err)
	}
	for _, p := range steps[first.Step:] {
		if p.LR > steps[first.Step-1].LR*1.0001 {
			t.Fatalf("step %d trained at lr %g, above the last step before the extension (%g)", p.Step, p.LR, steps[first.Step-1].LR)
		}
	}
	spec, _ := readSpec(e.st.runDir(id) + "/config.toml")
	if spec.Schedule.TotalSteps != first.TotalSteps || spec.Patience != 0 {
		t.Fatalf("config.toml: cosine total_steps %d, want %d", spec.Schedule.TotalSteps, first.TotalSteps)
	}
}

// A run that patience ended, extended with its patience kept, would train
// one epoch and end again (its best is already that patience old): the
// extension is refused with what to give instead.
func TestExtendOfARunPatienceEndedNeedsAnotherPatience(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 60, Patience: 1})
	if err != nil {
		t.Fatal(err)
	}
	first := waitRun(t, e, id, 2*time.Minute)
	if first.State != Finished || first.Epoch >= 60 {
		t.Fatalf("run %s at epoch %d: want patience to end it", first.State, first.Epoch)
	}
	err = e.Extend(id, 60, -1)
	if err == nil {
		info := waitRun(t, e, id, 2*time.Minute)
		t.Fatalf("extended to 60 epochs with patience 1 kept: it trained %d more epoch(s) and ended: %s", info.Epoch-first.Epoch, info.Reason)
	}
	if !strings.Contains(err.Error(), "--patience") {
		t.Fatalf("refusal does not say what to give: %v", err)
	}
	if err := e.Extend(id, 60, 0); err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, e, id, 2*time.Minute); info.State != Finished || info.Epoch != 60 {
		t.Fatalf("extended with patience 0: %s at epoch %d (%s)", info.State, info.Epoch, info.Reason)
	}
}

// A run whose outputs a later run has trained on is not extended: its
// outputs would change under that run's results (a report would combine
// the new ones with a stage trained on the old).
func TestExtendRefusesARunALaterRunTrainedOn(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	ids, err := e.SubmitChain([]Spec{
		{Model: "shift2d-test", Preset: "test", Epochs: 1},
		{Model: "sb", Preset: "test", Epochs: 1, After: "@0", From: []string{"@0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, ids[0], time.Minute)
	if info := waitRun(t, e, ids[1], time.Minute); info.State != Finished {
		t.Fatalf("second stage %s: %s", info.State, info.Reason)
	}
	// The workbench asks before it opens the extend form.
	if err := e.CanExtend(ids[0]); err == nil || !strings.Contains(err.Error(), ids[1]) {
		t.Fatalf("CanExtend of a stage a later stage trained on: %v", err)
	}
	if err := e.CanExtend(ids[1]); err != nil {
		t.Fatalf("CanExtend of the last stage: %v", err)
	}
	err = e.Extend(ids[0], 2, -1)
	if err == nil {
		waitRun(t, e, ids[0], time.Minute)
		t.Fatal("extended a stage a finished later stage trained on")
	}
	if !strings.Contains(err.Error(), ids[1]) {
		t.Fatalf("refusal does not name the later run: %v", err)
	}
	// Its last stage is extended as any run.
	if err := e.Extend(ids[1], 2, -1); err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, e, ids[1], time.Minute); info.State != Finished || info.Epoch != 2 {
		t.Fatalf("last stage extended: %s at epoch %d (%s)", info.State, info.Epoch, info.Reason)
	}
}

// A finished run whose last checkpoint is gone is not extended: it would
// start again from scratch under the curves of the epochs it trained.
func TestExtendWithoutALastCheckpoint(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	first := waitRun(t, e, id, time.Minute)
	if err := os.Remove(CkptPath(e.st.runDir(id), "last")); err != nil {
		t.Fatal(err)
	}
	err = e.Extend(id, 3, -1)
	if err == nil {
		info := waitRun(t, e, id, time.Minute)
		steps, _ := e.Steps(id)
		t.Fatalf("extended without its checkpoint: %s at step %d, %d steps stored (it had %d)", info.State, info.Step, len(steps), first.Step)
	}
	if !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("refusal does not say why: %v", err)
	}
	if info, _ := e.Run(id); info.State != Finished {
		t.Fatalf("run left %s", info.State)
	}
}

// A finished run whose last checkpoint is corrupt is not extended: the
// extension failed when it started, after config.toml took the new epochs
// and the finished run became failed.
func TestExtendWithACorruptLastCheckpoint(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, id, time.Minute)
	last := CkptPath(e.st.runDir(id), "last")
	if err := os.Truncate(last, 5000); err != nil {
		t.Fatal(err)
	}
	// CanExtend says so too, before the workbench's form asks for epochs.
	if err := e.CanExtend(id); err == nil || !strings.Contains(err.Error(), last) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("CanExtend with a corrupt last.ckpt: %v", err)
	}
	err = e.Extend(id, 3, -1)
	if err == nil || !strings.Contains(err.Error(), last) || !strings.Contains(err.Error(), "checksum") {
		info := waitRun(t, e, id, time.Minute)
		t.Fatalf("extend with a corrupt last.ckpt: %v (run %s: %s)", err, info.State, info.Reason)
	}
	if info, _ := e.Run(id); info.State != Finished || info.Spec.Epochs != 2 {
		t.Fatalf("run left %s with %d epochs", info.State, info.Spec.Epochs)
	}
	if spec, err := e.st.loadRun(id); err != nil || spec.Spec.Epochs != 2 {
		t.Fatalf("config.toml changed: %+v, %v", spec.Spec.Epochs, err)
	}
}

// A process that watched another extend a run takes its new spec: one
// that resumes it after trains to the extended epoch count, not to the
// one it read when it opened.
func TestAViewerOfAnExtendedRunTakesItsNewSpec(t *testing.T) {
	dir := t.TempDir()
	trainer := openTestEngine(t, dir)
	id, err := trainer.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, trainer, id, time.Minute)
	viewer, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: -1}) // looks when told
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	if err := trainer.Extend(id, 8, -1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the extension to train", time.Minute, func() bool { i, _ := trainer.Run(id); return i.State == Running && i.Epoch >= 3 })
	viewer.watchStore() // sees it trained elsewhere
	if err := trainer.Stop(id); err != nil {
		t.Fatal(err)
	}
	stopped := waitRun(t, trainer, id, time.Minute)
	trainer.Close()
	viewer.watchStore() // follows it to its end
	if i, _ := viewer.Run(id); i.Foreign || i.State != Stopped || i.Spec.Epochs != 8 {
		t.Fatalf("viewer has it %s (foreign %v) with %d epochs, want stopped with 8", i.State, i.Foreign, i.Spec.Epochs)
	}
	if err := viewer.Resume(id); err != nil {
		t.Fatal(err)
	}
	if i := waitRun(t, viewer, id, time.Minute); i.State != Finished || i.Epoch != 8 {
		t.Fatalf("resumed by the viewer from epoch %d: %s at epoch %d of %d", stopped.Epoch, i.State, i.Epoch, i.Spec.Epochs)
	}
}

// An extension that waited for the run's lock while the engine closed
// changes nothing: the engine would neither train the run nor let go of
// its lock.
func TestExtendWaitingThroughCloseChangesNothing(t *testing.T) {
	e := openTestEngine(t, "")
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, id, time.Minute)
	held, ok := tryLock(e.st.runDir(id)) // a watcher of another process looking at it
	if !ok {
		t.Fatal("lock")
	}
	res := make(chan error, 1)
	go func() { res <- e.Extend(id, 4, -1) }()
	time.Sleep(200 * time.Millisecond) // it waits for the lock
	e.Close()
	unlock(held)
	if err := <-res; err == nil {
		t.Fatal("extended by a closed engine")
	}
	if spec, err := readSpec(e.st.runDir(id) + "/config.toml"); err != nil || spec.Epochs != 2 {
		t.Fatalf("config.toml says %d epochs (%v)", spec.Epochs, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if r := e.runs[id]; r.lock != nil || r.info.State != Finished {
		t.Fatalf("run left %s, lock held %v", r.info.State, r.lock != nil)
	}
}

// An extension that waited for the run's lock checks the run again: one
// another process extended meanwhile (this one's watcher read it while
// the lock was busy) is not written back to fewer epochs than it has.
func TestExtendThatWaitedSeesAnotherExtension(t *testing.T) {
	dir := t.TempDir()
	here, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: -1}) // looks when told
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	id, err := here.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, here, id, time.Minute)
	there := openTestEngine(t, dir)
	if err := there.Extend(id, 4, -1); err != nil {
		t.Fatal(err)
	}
	waitRun(t, there, id, time.Minute)
	there.Close()
	held, ok := tryLock(here.st.runDir(id)) // a watcher's look
	if !ok {
		t.Fatal("lock")
	}
	res := make(chan error, 1)
	go func() { res <- here.Extend(id, 3, -1) }() // asked before this process knew of the 4
	time.Sleep(100 * time.Millisecond)
	here.watchStore() // reads the run as extended there
	unlock(held)
	if err := <-res; err == nil {
		i := waitRun(t, here, id, time.Minute)
		t.Fatalf("extended to 3 epochs a run that had trained 4: %s at epoch %d of %d", i.State, i.Epoch, i.Spec.Epochs)
	}
	if spec, _ := readSpec(here.st.runDir(id) + "/config.toml"); spec.Epochs != 4 {
		t.Fatalf("config.toml says %d epochs, want 4", spec.Epochs)
	}
}

// An Extend that gets the lock at once still reads how the run stands in
// the store: this process's view may be up to a watcher's look old, and
// another process may have extended and trained the run since.
func TestExtendReadsTheStoreBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	here, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: -1}) // never looks
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	id, err := here.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, here, id, time.Minute)
	there := openTestEngine(t, dir)
	if err := there.Extend(id, 4, -1); err != nil {
		t.Fatal(err)
	}
	waitRun(t, there, id, time.Minute)
	there.Close()
	if err := here.Extend(id, 3, -1); err == nil || !strings.Contains(err.Error(), "changed in another poselab process") {
		t.Fatalf("extend from a stale view: %v", err)
	}
	if spec, _ := readSpec(here.st.runDir(id) + "/config.toml"); spec.Epochs != 4 {
		t.Fatalf("config.toml says %d epochs, want 4", spec.Epochs)
	}
}
