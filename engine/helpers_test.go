package engine

import (
	"math"
	"testing"
	"time"

	"poselab/datasets"
	"poselab/datasets/synth"
)

// sharedData caches synthetic data sets across the package's tests (they
// are deterministic and read-only).
var sharedData = map[string]datasets.Dataset{}

func testOpenData(spec Spec) (datasets.Dataset, error) {
	key := spec.Data + "|" + spec.DataSize
	if d, ok := sharedData[key]; ok {
		return d, nil
	}
	d, err := synth.New(synth.Size(spec.DataSize), SynthSeed)
	if err != nil {
		return nil, err
	}
	sharedData[key] = d
	return d, nil
}

func openTestEngine(t *testing.T, dir string) *Engine {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	e, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func waitRun(t *testing.T, e *Engine, id string, timeout time.Duration) RunInfo {
	t.Helper()
	info, err := e.Wait(id, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lossCurve(t *testing.T, e *Engine, id string) []float64 {
	t.Helper()
	steps, err := e.Steps(id)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(steps))
	for i, s := range steps {
		if s.Step != i {
			t.Fatalf("stored steps have a gap at %d (step %d)", i, s.Step)
		}
		out[i] = s.Loss
	}
	return out
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
