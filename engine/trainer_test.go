package engine

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"poselab/datasets/synth"
)

// The tiny preset of pipeline C (SB on ground-truth 2D, synthetic tiny
// data, 256 hidden units) must beat the mean-pose baseline by a wide
// margin within a minute on two cores.
func TestTinySBLearns(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	ids, err := e.SubmitPipeline("C", "tiny", Spec{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	info := waitRun(t, e, ids[0], 10*time.Minute)
	if info.State != Finished {
		t.Fatalf("run %s: %s (%s)", ids[0], info.State, info.Reason)
	}
	t.Logf("tiny SB: val MPJPE %.1f mm (best %.1f mm), mean-pose baseline %.1f mm, %d steps, %.0f samples/s, %v",
		info.LastValMPJPE, info.BestValMPJPE, info.BaselineMPJPE, info.Step, info.SamplesPerSec, time.Since(start).Round(time.Millisecond))
	if !finite(info.BaselineMPJPE) || info.BaselineMPJPE < 50 {
		t.Fatalf("mean-pose baseline %v mm is implausible", info.BaselineMPJPE)
	}
	if !(info.BestValMPJPE < 0.5*info.BaselineMPJPE) {
		t.Fatalf("best val MPJPE %.1f mm is not below half the mean-pose baseline %.1f mm", info.BestValMPJPE, info.BaselineMPJPE)
	}
}

// --data PATH trains on a folder in the seed's ETH layout (here the tiny
// synthetic set written in that layout, labels only).
func TestTrainsOnETHFolder(t *testing.T) {
	d, err := synth.New(synth.Tiny, SynthSeed)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := synth.Export(d, dir, synth.ExportOptions{Format: synth.FormatETH, NoImages: true}); err != nil {
		t.Fatal(err)
	}
	e, err := Open(Options{RunsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, e, id, 5*time.Minute)
	if info.State != Finished || !(info.BestValMPJPE < info.BaselineMPJPE) {
		t.Fatalf("run on the ETH folder: %s %s, val %.1f mm, baseline %.1f mm", info.State, info.Reason, info.BestValMPJPE, info.BaselineMPJPE)
	}
	// A missing folder fails the run (when it starts) with a message naming it.
	bad, err := e.Submit(Spec{Model: "sb", Preset: "test", Data: filepath.Join(dir, "nope")})
	if err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, e, bad, time.Minute); info.State != Failed || !strings.Contains(info.Reason, "nope") {
		t.Fatalf("missing data folder: %s %q", info.State, info.Reason)
	}
}
