package engine

import (
	"testing"
	"time"
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
