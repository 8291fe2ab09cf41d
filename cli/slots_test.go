package cli

import (
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

// `poselab train` in a process while another trains on the same device
// with the same runs directory waits for it, and says so once (not at
// each look for a free trainer), above the line of its start.
func TestTrainSaysItWaitsForAnotherProcess(t *testing.T) {
	hb := heldBackend{Backend: cpu.New(), release: make(chan struct{}), held: make(chan struct{}), once: &sync.Once{}}
	var once sync.Once
	letGo := func() { once.Do(func() { close(hb.release) }) }
	dir := t.TempDir()
	other, err := engine.Open(engine.Options{RunsDir: dir, NewBackend: func(string) (nn.Backend, error) { return hb, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	defer letGo() // before Close: a held step would keep the run from stopping
	id, err := other.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 1000, Name: "hog"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-hb.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the other run never reached its second step")
	}

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
