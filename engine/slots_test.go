package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"poselab/nn"
)

// openHeldSlotEngine is openSlotEngine with every step held until letGo,
// which the cleanup also calls, before the engine closes (a held step
// would keep its run from stopping).
func openHeldSlotEngine(t *testing.T, dir string) (e *Engine, letGo func()) {
	t.Helper()
	var holding atomic.Bool
	holding.Store(true)
	release := make(chan struct{})
	var once sync.Once
	letGo = func() { once.Do(func() { close(release) }) }
	e = openSlotEngine(t, dir, &holding, release)
	t.Cleanup(func() { e.Close() })
	t.Cleanup(letGo)
	return e, letGo
}

// trainingHog submits a 1000-epoch run named name (the id if "") on e and
// waits until it trains.
func trainingHog(t *testing.T, e *Engine, name string) string {
	t.Helper()
	spec := resumeSpec()
	spec.Name, spec.Epochs = name, 1000
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first run to train", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Running })
	return id
}

// openSlotEngine opens an engine on dir that stands for one poselab
// process: every device ("cuda" too) trains on the CPU backend, and while
// *hold is set its steps wait for release.
func openSlotEngine(t *testing.T, dir string, hold *atomic.Bool, release <-chan struct{}) *Engine {
	t.Helper()
	e, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: 10 * time.Millisecond,
		NewBackend: func(string) (nn.Backend, error) {
			b, err := NewBackend("cpu")
			gate := func() {
				if hold != nil && hold.Load() {
					<-release
				}
			}
			return slowStartBackend{Backend: b, gate: gate}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func queuedLogs(hist []Event, id string) []string {
	var out []string
	for _, ev := range hist {
		if ev.Run == id && ev.Kind == EvLog && strings.HasPrefix(ev.Log, QueuedLogPrefix) {
			out = append(out, ev.Log)
		}
	}
	return out
}

// Two processes sharing a runs directory (two engines here: flocks of two
// open files conflict within one process too) share one trainer per
// device: a run queued in one waits while the other trains on that
// device, says for whom, and starts soon after that run lets go; a run on
// another device does not wait.
func TestARunWaitsForTheTrainerOfAnotherProcess(t *testing.T) {
	old := slotRetryEvery
	slotRetryEvery = 50 * time.Millisecond
	defer func() { slotRetryEvery = old }()
	dir := t.TempDir()
	a, letGo := openHeldSlotEngine(t, dir)
	b := openSlotEngine(t, dir, nil, nil)
	defer b.Close()

	first := trainingHog(t, a, "hog")

	spec := resumeSpec()
	spec.Epochs = 1
	second, err := b.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("waits for the cpu trainer: run %s (hog) trained by poselab process %d", first, os.Getpid())
	time.Sleep(300 * time.Millisecond) // several looks again
	if i, _ := b.Run(second); i.State != Queued || i.Reason != want {
		t.Fatalf("the second run is %s (%q), want queued (%q)", i.State, i.Reason, want)
	}
	// The other processes read the reason from the store.
	stored := RunInfo{Spec: Spec{ID: second}}
	if err := b.st.readRun(&stored); err != nil || stored.Reason != want {
		t.Fatalf("stored reason %q (%v)", stored.Reason, err)
	}

	// Another device's trainer is free.
	spec.Device = "cuda"
	other, err := b.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	if i := waitRun(t, b, other, time.Minute); i.State != Finished {
		t.Fatalf("the cuda run is %s (%s), want finished", i.State, i.Reason)
	}
	if i, _ := b.Run(second); i.State != Queued {
		t.Fatalf("the second run is %s while the first trains", i.State)
	}
	hist, _, cancel := b.Subscribe()
	cancel()
	if got := queuedLogs(hist, second); len(got) != 1 || got[0] != QueuedLogPrefix+want {
		t.Fatalf("the waiting run logged %q, want one line %q", got, QueuedLogPrefix+want)
	}

	letGo()
	if err := a.Stop(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second run to start", 5*time.Second, func() bool { i, _ := b.Run(second); return i.State != Queued })
	if i := waitRun(t, b, second, time.Minute); i.State != Finished {
		t.Fatalf("the second run is %s (%s), want finished", i.State, i.Reason)
	}
	b.mu.Lock()
	retry := b.slotRetry != nil
	b.mu.Unlock()
	if retry {
		t.Fatal("the engine still looks again with nothing waiting")
	}
}

// The trainer slot is held as long as the trainer: a paused run keeps it,
// and the next run of this engine takes it once the first ended.
func TestAPausedRunKeepsItsTrainerSlot(t *testing.T) {
	fastSlotRetry(t)
	dir := t.TempDir()
	a := openSlotEngine(t, dir, nil, nil)
	defer a.Close()
	b := openSlotEngine(t, dir, nil, nil)
	defer b.Close()
	first := trainingHog(t, a, "")
	spec := resumeSpec()
	if err := a.Pause(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first run to pause", time.Minute, func() bool { i, _ := a.Run(first); return i.State == Paused })
	spec.Epochs = 1
	second, err := b.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if i, _ := b.Run(second); i.State != Queued || !strings.Contains(i.Reason, first) {
		t.Fatalf("the second run is %s (%q) while the first is paused", i.State, i.Reason)
	}
	if err := a.Stop(first); err != nil {
		t.Fatal(err)
	}
	if i := waitRun(t, b, second, time.Minute); i.State != Finished {
		t.Fatalf("the second run is %s (%s), want finished", i.State, i.Reason)
	}
}

// Slots that cannot be had (the slot folder cannot be made: a read-only
// runs directory, say) do not keep runs queued: they train as in a
// process alone, and the engine says so once.
func TestRunsTrainWithoutTrainerSlots(t *testing.T) {
	dir := t.TempDir()
	// A file where the folder goes: mkdir fails for root too.
	if err := os.WriteFile(filepath.Join(dir, slotDir), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e := openSlotEngine(t, dir, nil, nil)
	defer e.Close()
	spec := resumeSpec()
	spec.Epochs = 1
	ids, err := e.SubmitChain([]Spec{spec, spec})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if i := waitRun(t, e, id, time.Minute); i.State != Finished {
			t.Fatalf("run %s is %s (%s), want finished", id, i.State, i.Reason)
		}
	}
	hist, _, cancel := e.Subscribe()
	cancel()
	var warned []string
	for _, ev := range hist {
		if ev.Kind == EvLog && strings.HasPrefix(ev.Log, SlotsLogPrefix) {
			warned = append(warned, ev.Log)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "do not wait") {
		t.Fatalf("warnings %q, want one", warned)
	}
}

// A run that waited for another process's trainer and got it no longer
// says it waits for that process's run while it sets up (its data, its
// model): the holder it names has let go, and the other processes read
// the reason from the store.
func TestARunThatGotTheTrainerNoLongerSaysItWaits(t *testing.T) {
	fastSlotRetry(t)
	dir := t.TempDir()
	a := openSlotEngine(t, dir, nil, nil)
	defer a.Close()
	setup := make(chan struct{})
	var once sync.Once
	letGo := func() { once.Do(func() { close(setup) }) }
	defer letGo()
	b, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: 10 * time.Millisecond,
		NewBackend: func(string) (nn.Backend, error) {
			<-setup // a long setup
			return NewBackend("cpu")
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	defer letGo() // before Close: the setup would keep the run from stopping

	hog := trainingHog(t, a, "hog")
	spec := resumeSpec()
	spec.Epochs = 1
	id, err := b.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second run to wait", time.Minute, func() bool { i, _ := b.Run(id); return strings.Contains(i.Reason, hog) })
	if err := a.Stop(hog); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second run to take the trainer", time.Minute, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.runs[id].training
	})
	if i, _ := b.Run(id); i.State != Queued || strings.Contains(i.Reason, hog) {
		t.Errorf("setting up, the run is %s (%q)", i.State, i.Reason)
	}
	stored := RunInfo{Spec: Spec{ID: id}}
	if err := b.st.readRun(&stored); err != nil || strings.Contains(stored.Reason, hog) {
		t.Errorf("setting up, its stored reason is %q (%v)", stored.Reason, err)
	}
	letGo()
	if i := waitRun(t, b, id, time.Minute); i.State != Finished {
		t.Fatalf("the run is %s (%s), want finished", i.State, i.Reason)
	}
}

// A run that waits for another process's paused run says that the run is
// paused, as one waiting for a paused run of its own process does: a run
// that diverged and paused itself in a workbench kept a poselab train
// elsewhere waiting, with nothing to say why it did not end.
func TestARunWaitingForAPausedRunOfAnotherProcessSaysSo(t *testing.T) {
	fastSlotRetry(t)
	dir := t.TempDir()
	a := openSlotEngine(t, dir, nil, nil)
	defer a.Close()
	b := openSlotEngine(t, dir, nil, nil)
	defer b.Close()
	first := trainingHog(t, a, "")
	spec := resumeSpec()
	spec.Epochs = 1
	second, err := b.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second run to wait", time.Minute, func() bool { i, _ := b.Run(second); return strings.Contains(i.Reason, first) })
	if i, _ := b.Run(second); strings.Contains(i.Reason, "paused") {
		t.Fatalf("the second run waits for a running run: %q", i.Reason)
	}
	if err := a.Pause(first); err != nil {
		t.Fatal(err)
	}
	want := first + " trained by poselab process " + fmt.Sprint(os.Getpid()) + " (paused: resume or stop it)"
	waitFor(t, "the second run to say the first is paused", 10*time.Second, func() bool {
		i, _ := b.Run(second)
		return strings.Contains(i.Reason, want)
	})
	hist, _, cancel := b.Subscribe()
	cancel()
	if got := queuedLogs(hist, second); len(got) != 2 || !strings.Contains(got[1], want) {
		t.Fatalf("the waiting run logged %q, want the wait and then the pause", got)
	}
	if err := a.Stop(first); err != nil {
		t.Fatal(err)
	}
	if i := waitRun(t, b, second, time.Minute); i.State != Finished {
		t.Fatalf("the second run is %s (%s), want finished", i.State, i.Reason)
	}
}

// CUDA runs queue per GPU: the backend trains on the first device
// CUDA_VISIBLE_DEVICES leaves it, so processes pinned to different GPUs of
// one box must not wait for each other, and those on the same GPU must.
func TestTrainerSlotsArePerGPU(t *testing.T) {
	key := func(env string, set bool) string {
		if set {
			t.Setenv("CUDA_VISIBLE_DEVICES", env)
		} else {
			t.Setenv("CUDA_VISIBLE_DEVICES", "")
			os.Unsetenv("CUDA_VISIBLE_DEVICES")
		}
		k, _ := slotDevice("cuda")
		return k
	}
	unset := key("", false)
	for _, same := range []string{"0", "0,1", " 0 ,2", ""} {
		if k := key(same, true); k != unset {
			t.Errorf("CUDA_VISIBLE_DEVICES=%q: slot %q, want GPU 0's %q", same, k, unset)
		}
	}
	if k := key("1", true); k == unset {
		t.Errorf("CUDA_VISIBLE_DEVICES=1 shares GPU 0's slot %q", k)
	}
	if a, b := key("GPU-8932f937-d72c", true), key("GPU-1234abcd-0000", true); a == b {
		t.Errorf("two GPU UUIDs share the slot %q", a)
	}
	if _, label := slotDevice("cuda"); label != "cuda (GPU GPU-1234abcd-0000)" {
		t.Errorf("label %q", label)
	}
	if k, label := slotDevice(""); k != "cpu" || label != "cpu" {
		t.Errorf("the CPU's slot %q, %q", k, label)
	}
}
