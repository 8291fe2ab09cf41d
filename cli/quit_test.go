package cli

import (
	"bytes"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"poselab/engine"
	"poselab/engine/cpu"
	"poselab/engine/cuda"
	"poselab/nn"
)

// heldBackend is the CPU backend whose training steps after the first
// wait until release is closed: a step as long as a ResNet-50's at 256 px
// on a CPU (minutes), in a test.
type heldBackend struct {
	nn.Backend
	release chan struct{}
	held    chan struct{} // closed when a step starts waiting
	once    *sync.Once
}

func (b heldBackend) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	p, err := b.Backend.Compile(g, opt)
	return heldProgram{p, b}, err
}

type heldProgram struct {
	nn.Program
	b heldBackend
}

func (p heldProgram) TrainStep(batch nn.Batch, step int, lr float64) (float64, error) {
	if step > 0 {
		p.b.once.Do(func() { close(p.b.held) })
		<-p.b.release
	}
	return p.Program.TrainStep(batch, step, lr)
}

// startHeldRun trains a run on a backend whose second step waits for the
// test's end, with exitNow recording its codes (exited); it returns once
// that step is held. At the test's end the step is let go, and the close
// a test's command began goes on until the run stops, before its folder
// dir is removed.
func startHeldRun(t *testing.T) (e *engine.Engine, dir, id string, exited func() []int) {
	t.Helper()
	hb := heldBackend{Backend: cpu.New(), release: make(chan struct{}), held: make(chan struct{}), once: &sync.Once{}}
	engine.RegisterBackend("cuda", func() (nn.Backend, error) { return hb, nil })
	t.Cleanup(func() { engine.RegisterBackend("cuda", cuda.New) })
	var codes []int
	var mu sync.Mutex
	exitNow = func(code int) { mu.Lock(); codes = append(codes, code); mu.Unlock() }
	t.Cleanup(func() { exitNow = os.Exit })
	exited = func() []int { mu.Lock(); defer mu.Unlock(); return append([]int(nil), codes...) }

	dir = t.TempDir()
	e, err := engine.Open(engine.Options{RunsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id, err = e.Submit(engine.Spec{Model: "sb", Preset: "test", Device: "cuda"})
	if err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(hb.release)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if info, _ := e.Run(id); !info.State.Active() {
				break
			}
		}
		e.Close()
	})
	select {
	case <-hb.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the run never reached its second step")
	}
	return e, dir, id, exited
}

// A second Ctrl-C quits at once: the stop waits for the step in progress,
// which can take minutes, and the second signal was ignored for all of
// it. The first still stops with a checkpoint.
func TestSecondSignalQuitsWithoutWaitingForTheStep(t *testing.T) {
	e, _, id, exited := startHeldRun(t)
	sig := make(chan os.Signal, 2)
	var errb bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- watchSignals(e, []string{id}, true, &bytes.Buffer{}, &errb, sig) }()
	sig <- syscall.SIGINT
	sig <- syscall.SIGINT
	select {
	case err := <-done:
		if ie, ok := err.(Interrupted); !ok || ie.Signal != syscall.SIGINT {
			t.Errorf("watch returned %v, want Interrupted by SIGINT", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second Ctrl-C did not quit while a step was in progress")
	}
	if got := exited(); len(got) != 1 || got[0] != 130 {
		t.Errorf("exited %v, want [130]", got)
	}
	for _, want := range []string{"stopping: saving a checkpoint", "Ctrl-C again quits at once", "quitting without waiting", "poselab resume " + id} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

// Quitting the workbench with "stop them" gives the terminal back and then
// waits for each run's step and checkpoint: it names the runs it stops
// and how to quit at once, where the terminal sat silent; it says nothing
// when no run of this process trains.
func TestWorkbenchQuitSaysWhatItStops(t *testing.T) {
	e, err := engine.Open(engine.Options{RunsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var quiet bytes.Buffer
	sayStopping(&quiet, e)
	if quiet.Len() != 0 {
		t.Errorf("no run active, yet: %q", quiet.String())
	}
	id, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sayStopping(&out, e)
	for _, want := range []string{"stopping 1 run after the step in progress", "Ctrl-C quits at once", id} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("%q lacks %q", out.String(), want)
		}
	}
}

// The workbench closed with "keep them training" stops its runs at a
// Ctrl+C, after each one's step in progress: a second Ctrl+C quits at
// once, as train's does, where it was ignored for as long as the step.
func TestKeepTrainingSecondSignalQuitsWithoutWaitingForTheStep(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no authorized_keys: no SSH server
	e, dir, id, exited := startHeldRun(t)
	sigs := make(chan os.Signal, 2)
	defer signal.Stop(sigs) // keepTraining asks for SIGINT on it
	var errb bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- keepTraining(e, dir, &errb, sigs) }()
	sigs <- syscall.SIGINT
	sigs <- syscall.SIGINT
	select {
	case err := <-done:
		if ie, ok := err.(Interrupted); !ok || ie.Signal != syscall.SIGINT {
			t.Errorf("keepTraining returned %v, want Interrupted by SIGINT", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second Ctrl+C did not quit while a step was in progress")
	}
	if got := exited(); len(got) != 1 || got[0] != 130 {
		t.Errorf("exited %v, want [130]", got)
	}
	for _, want := range []string{"Ctrl+C again quits at once", "quitting without waiting", "poselab resume " + id} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}

// serve stops its runs at a Ctrl-C, after each one's step in progress: a
// second Ctrl-C quits at once, as train's does, where it was ignored for
// as long as the step.
func TestServeSecondSignalQuitsWithoutWaitingForTheStep(t *testing.T) {
	e, dir, id, exited := startHeldRun(t)
	keys := filepath.Join(dir, "keys")
	writeKeys(t, keys, newClientKey(t))
	srv, err := newServer(serveConfig{authorizedKeys: keys, hostKey: filepath.Join(dir, "host_key"), runsDir: dir, log: &lockedBuffer{}}, e)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 2)
	var errb bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- serveUntilStopped(srv, ln, e, sigs, func() {}, &errb) }()
	sigs <- syscall.SIGINT
	sigs <- syscall.SIGINT
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the second Ctrl-C did not quit while a step was in progress")
	}
	if got := exited(); len(got) != 1 || got[0] != 130 {
		t.Errorf("exited %v, want [130]", got)
	}
	for _, want := range []string{"Ctrl-C again quits at once", "quitting without waiting", "poselab resume " + id} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
}
