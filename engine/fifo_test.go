package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startOrder is the runs' ids (of either engine) in the order they
// started training, once each has finished.
func startOrder(t *testing.T, runs map[string]*Engine) []string {
	t.Helper()
	var ids []string
	started := map[string]time.Time{}
	for id, e := range runs {
		i := waitRun(t, e, id, time.Minute)
		if i.State != Finished {
			t.Fatalf("run %s is %s (%s), want finished", id, i.State, i.Reason)
		}
		ids = append(ids, id)
		started[id] = i.Started
	}
	sort.Slice(ids, func(a, b int) bool { return started[ids[a]].Before(started[ids[b]]) })
	return ids
}

func fastSlotRetry(t *testing.T) {
	old := slotRetryEvery
	slotRetryEvery = 20 * time.Millisecond
	t.Cleanup(func() { slotRetryEvery = old })
}

// A process's queue does not keep the device from a run queued earlier in
// another process: when its run ends, its next one, queued after the
// other's, leaves the trainer to it (it took it back at once, and a grid
// kept the device until its last run), says so, and goes next; a run the
// other process queues after it waits for it in turn.
func TestFifoAcrossProcesses(t *testing.T) {
	fastSlotRetry(t)
	// Waiting runs say so again and again: their files outlive the
	// bound on a file not refreshed.
	oldStale := waiterStaleAfter
	waiterStaleAfter = 300 * time.Millisecond
	t.Cleanup(func() { waiterStaleAfter = oldStale })
	dir := t.TempDir()
	a, letGo := openHeldSlotEngine(t, dir)
	b := openSlotEngine(t, dir, nil, nil)
	defer b.Close()

	a1 := trainingHog(t, a, "hog")
	spec := resumeSpec()
	spec.Epochs = 1
	submit := func(e *Engine, name string) string {
		spec.Name = name
		id, err := e.Submit(spec)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	b1 := submit(b, "b1")
	a2 := submit(a, "a2")
	a3 := submit(a, "a3")
	b2 := submit(b, "b2")
	time.Sleep(700 * time.Millisecond) // several looks again, and the files refreshed
	for id, e := range map[string]*Engine{b1: b, a2: a, a3: a, b2: b} {
		if i, _ := e.Run(id); i.State != Queued {
			t.Fatalf("run %s is %s while the first trains", i.Spec.Name, i.State)
		}
	}
	letGo()
	if err := a.Stop(a1); err != nil {
		t.Fatal(err)
	}
	got := startOrder(t, map[string]*Engine{b1: b, a2: a, a3: a, b2: b})
	want := []string{b1, a2, a3, b2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("started %v, want the queue order %v", got, want)
	}
	hist, _, cancel := a.Subscribe()
	cancel()
	why := fmt.Sprintf("waits for run %s (b1) of poselab process %d, queued earlier for the cpu trainer", b1, os.Getpid())
	if logs := queuedLogs(hist, a2); len(logs) == 0 || logs[0] != QueuedLogPrefix+why {
		t.Errorf("a2 logged %q, want first %q", logs, QueuedLogPrefix+why)
	}
	if w, _ := filepath.Glob(filepath.Join(dir, slotDir, "*"+waitSuffix)); len(w) != 0 {
		t.Errorf("waiter files left: %v", w)
	}
}

// Runs queued alternately in two processes train in the order they were
// queued, each process waiting for the other in turn: the order is a
// total one, so they never both wait for each other.
func TestFifoAlternatingQueuesNeverDeadlock(t *testing.T) {
	fastSlotRetry(t)
	dir := t.TempDir()
	a := openSlotEngine(t, dir, nil, nil)
	defer a.Close()
	b := openSlotEngine(t, dir, nil, nil)
	defer b.Close()
	spec := resumeSpec()
	spec.Epochs = 1
	runs := map[string]*Engine{}
	var want []string
	for i := 0; i < 6; i++ {
		e := a
		if i%2 == 1 {
			e = b
		}
		spec.Name = fmt.Sprint("r", i)
		id, err := e.Submit(spec)
		if err != nil {
			t.Fatal(err)
		}
		runs[id] = e
		want = append(want, id)
	}
	if got := startOrder(t, runs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("started %v, want the queue order %v", got, want)
	}
}

// A waiter file whose process died (nobody holds its lock) keeps nobody
// waiting, however early it says its run was queued, and is removed.
func TestFifoStaleWaiterIsIgnored(t *testing.T) {
	fastSlotRetry(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, slotDir), 0o755); err != nil {
		t.Fatal(err)
	}
	dev, _ := slotDevice("cpu")
	stale := filepath.Join(dir, slotDir, "999999-sb-000101-000000"+waitSuffix)
	if err := os.WriteFile(stale, []byte(dev+"\n1\n999999\nsb-000101-000000\nghost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := openSlotEngine(t, dir, nil, nil)
	defer e.Close()
	spec := resumeSpec()
	spec.Epochs = 1
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	if i := waitRun(t, e, id, 10*time.Second); i.State != Finished {
		t.Fatalf("the run is %s (%s), want finished", i.State, i.Reason)
	}
	hist, _, cancel := e.Subscribe()
	cancel()
	for _, l := range queuedLogs(hist, id) {
		if strings.Contains(l, "ghost") {
			t.Errorf("the run waited for the dead process's run: %q", l)
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale waiter file is still there (%v)", err)
	}
}

// A live waiter queued earlier keeps a run from the free device, but not
// once its file is no longer refreshed: its process holds the lock and
// does not look (stopped with Ctrl-Z), and the device would stay idle.
func TestFifoWaiterNotRefreshedIsPassedOver(t *testing.T) {
	fastSlotRetry(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, slotDir), 0o755); err != nil {
		t.Fatal(err)
	}
	dev, _ := slotDevice("cpu")
	path := filepath.Join(dir, slotDir, "999999-sb-000101-000000"+waitSuffix)
	if err := os.WriteFile(path, []byte(dev+"\n1\n999999\nsb-000101-000000\nfrozen\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	e := openSlotEngine(t, dir, nil, nil)
	defer e.Close()
	spec := resumeSpec()
	spec.Epochs = 1
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	why := "waits for run sb-000101-000000 (frozen) of poselab process 999999, queued earlier for the cpu trainer"
	time.Sleep(100 * time.Millisecond)
	if i, _ := e.Run(id); i.State != Queued || i.Reason != why {
		t.Fatalf("the run is %s (%q), want queued (%q)", i.State, i.Reason, why)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if i := waitRun(t, e, id, 10*time.Second); i.State != Finished {
		t.Fatalf("the run is %s (%s), want finished", i.State, i.Reason)
	}
}
