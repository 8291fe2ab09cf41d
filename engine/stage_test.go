package engine

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"poselab/nn"
)

// stagingBackend wraps a backend so that its programs implement nn.Stager
// and record what they were asked to stage and to train on.
type stagingBackend struct {
	nn.Backend
	rec *stagingPrograms
}

type stagingPrograms struct {
	mu    sync.Mutex
	progs []*stagingProg
}

func (b *stagingBackend) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	p, err := b.Backend.Compile(g, opt)
	if err != nil {
		return nil, err
	}
	sp := &stagingProg{Program: p}
	b.rec.mu.Lock()
	b.rec.progs = append(b.rec.progs, sp)
	b.rec.mu.Unlock()
	return sp, nil
}

type stagingProg struct {
	nn.Program
	mu      sync.Mutex
	pending []nn.Batch // staged, not yet trained on, oldest first
	staged  int        // Stage calls
	took    int        // steps whose batch had been staged
	steps   int
	faults  []string
}

func sameTensors(a, b nn.Batch) bool {
	if len(a) != len(b) {
		return false
	}
	for k, t := range a {
		if b[k] != t {
			return false
		}
	}
	return true
}

// Stage runs alongside TrainStep: the engine cuts the next batch while a
// step trains (it may even finish before that step starts).
func (p *stagingProg) Stage(b nn.Batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.staged++
	p.pending = append(p.pending, b)
}

// TrainStep checks that a staged batch is trained on next, and that no
// staged batch is skipped.
func (p *stagingProg) TrainStep(b nn.Batch, step int, lr float64) (float64, error) {
	p.mu.Lock()
	for i, q := range p.pending {
		if sameTensors(q, b) {
			p.took++
			if i > 0 {
				p.faults = append(p.faults, fmt.Sprintf("step %d: %d batches staged before its own were never trained on", step, i))
			}
			p.pending = p.pending[i+1:]
			break
		}
	}
	p.steps++
	p.mu.Unlock()
	return p.Program.TrainStep(b, step, lr)
}

// With a backend that stages, the engine stages each next batch of an
// epoch while the step before trains, then trains on exactly that batch;
// the loss curve stays bit-identical.
func TestEngineStagesTheNextBatch(t *testing.T) {
	want, _, _ := uninterruptedCurve(t)
	rec := &stagingPrograms{}
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond,
		NewBackend: func(device string) (nn.Backend, error) {
			b, err := NewBackend(device)
			if err != nil {
				return nil, err
			}
			return &stagingBackend{Backend: b, rec: rec}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(resumeSpec())
	if err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, e, id, 5*time.Minute); info.State != Finished {
		t.Fatalf("%s %s", info.State, info.Reason)
	}
	sameCurve(t, "staged", lossCurve(t, e, id), want)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var train *stagingProg
	for _, p := range rec.progs {
		if p.steps > 0 {
			if train != nil {
				t.Fatal("two programs trained")
			}
			train = p
		}
	}
	if train == nil {
		t.Fatal("no program trained")
	}
	// 3 epochs of 32 steps: every step but an epoch's first is staged.
	if train.steps != 96 || train.staged != 93 || train.took != 93 || len(train.pending) != 0 {
		t.Errorf("%d steps, %d staged, %d trained on a staged batch, %d staged never trained on; want 96, 93, 93, 0",
			train.steps, train.staged, train.took, len(train.pending))
	}
	for _, f := range train.faults {
		t.Error(f)
	}
}
