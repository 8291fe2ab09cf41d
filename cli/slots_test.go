package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"poselab/engine"
	"poselab/engine/cpu"
	"poselab/nn"
)

// startHog stands for another poselab process on a new runs directory:
// an engine whose run "hog" trains on the CPU with its second step held
// until letGo (called at cleanup too, before the engine closes: a held
// step would keep the run from stopping).
func startHog(t *testing.T) (other *engine.Engine, dir, id string, letGo func()) {
	t.Helper()
	hb := heldBackend{Backend: cpu.New(), release: make(chan struct{}), held: make(chan struct{}), once: &sync.Once{}}
	var once sync.Once
	letGo = func() { once.Do(func() { close(hb.release) }) }
	dir = t.TempDir()
	other, err := engine.Open(engine.Options{RunsDir: dir, NewBackend: func(string) (nn.Backend, error) { return hb, nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	t.Cleanup(letGo)
	id, err = other.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 1000, Name: "hog"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-hb.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the other run never reached its second step")
	}
	return other, dir, id, letGo
}

// `poselab train` in a process while another trains on the same device
// with the same runs directory waits for it, and says so once (not at
// each look for a free trainer), above the line of its start.
func TestTrainSaysItWaitsForAnotherProcess(t *testing.T) {
	other, dir, id, letGo := startHog(t)

	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"train", "--model", "sb", "--preset", "test", "--epochs", "1", "--runs-dir", dir}, &out, &errb)
	}()
	want := fmt.Sprintf("queued: waits for the cpu trainer: run %s (hog) trained by poselab process %d\n", id, os.Getpid())
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("train said, while the other run trained:\n%s%s", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a look again, and maybe another
	letGo()
	if err := other.Stop(id); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("train did not end after the other run stopped:\n%s", out.String())
	}
	got := out.String()
	if n := strings.Count(got, want); n != 1 {
		t.Fatalf("the wait said %d times:\n%s", n, got)
	}
	if w, s := strings.Index(got, want), strings.Index(got, ": sb preset test on "); s < w || !strings.Contains(got, "finished") {
		t.Fatalf("want the wait, then the start and the end:\n%s", got)
	}
}

// A run that waits for another process's trainer says so in `train
// --json` (which drops log lines: it said nothing of a run that waited for
// hours), as a state event from queued to queued with the reason, and
// `runs watch` of it says why it waits (it printed "step 0/0, epoch 0/1").
func TestWaitSaidByTrainJSONAndRunsWatch(t *testing.T) {
	other, dir, hog, letGo := startHog(t)

	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"train", "--model", "sb", "--preset", "test", "--epochs", "1", "--json", "--runs-dir", dir}, &out, &errb)
	}()
	why := fmt.Sprintf("waits for the cpu trainer: run %s (hog) trained by poselab process %d", hog, os.Getpid())
	var id string
	deadline := time.Now().Add(10 * time.Second)
	for id == "" {
		for _, l := range strings.Split(out.String(), "\n") {
			var ev struct{ Event, Run, From, To, Reason string }
			if json.Unmarshal([]byte(l), &ev) == nil && ev.Event == "state" && ev.From == "queued" && ev.To == "queued" && ev.Reason == why {
				id = ev.Run
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("train --json said, while the other run trained:\n%s%s", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	var wout, werr lockedBuffer
	wdone := make(chan int, 1)
	go func() { wdone <- Main([]string{"runs", "watch", id, "--runs-dir", dir}, &wout, &werr) }()
	want := fmt.Sprintf("run %s: sb preset test on cpu, queued in poselab process %d: %s\n", id, os.Getpid(), why)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(wout.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("runs watch said:\n%s%s\nwant %q", wout.String(), werr.String(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	letGo()
	if err := other.Stop(hog); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chan int{done, wdone} {
		select {
		case code := <-c:
			if code != 0 {
				t.Fatalf("exit %d: %s%s", code, errb.String(), werr.String())
			}
		case <-time.After(time.Minute):
			t.Fatalf("train or runs watch did not end after the other run stopped:\n%s\n%s", out.String(), wout.String())
		}
	}
}
