package cuda

import (
	"math"
	"strings"
	"sync"
	"testing"

	"poselab/models"
	"poselab/nn"
)

// stagedSteps trains p on the batches in turn at learning rate lr; with stage set, each next
// batch is staged from another goroutine while the step before runs, as
// the engine does.
func stagedSteps(t *testing.T, p nn.Program, batches []nn.Batch, first int, stage bool, lr float64) []float64 {
	t.Helper()
	st, _ := p.(nn.Stager)
	var losses []float64
	for k, b := range batches {
		var wg sync.WaitGroup
		if stage && k+1 < len(batches) {
			wg.Add(1)
			go func() { defer wg.Done(); st.Stage(batches[k+1]) }()
		}
		l, err := p.TrainStep(b, first+k, lr)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l)
	}
	return losses
}

// On the GPU, training on staged batches gives the losses of training on
// uploaded ones. Twice: with the weights frozen (lr 0), where each step's
// loss depends only on its batch, so a stale or half-copied batch cannot
// hide; and training (lr 1e-3), where the losses may drift apart only by
// what cuDNN's nondeterministic algorithms add (5e-8 and 1.2e-7 measured
// on the H100).
//
// Parameters are not compared: the backward-data and backward-filter
// algorithms cuDNN picks here (0 and 3) sum in an order that varies between
// runs, and Adam (eps 1e-8) turns that rounding into full steps wherever a
// gradient is near zero, as for a bias feeding a BatchNorm. Two H100 runs
// differed by 2.8e-2 at stem.0.bias and 6.0e-3 at stem.3.skip.bias while
// every loss agreed to 1.2e-7.
func TestGPUStagedMatchesUpload(t *testing.T) {
	gpu := gpuOrSkip(t)
	g, err := models.BuildSH(models.SHPresets["test"])
	if err != nil {
		t.Fatal(err)
	}
	const B = 4
	batches := make([]nn.Batch, 8)
	for i := range batches {
		batches[i] = randomBatch(g, B, uint64(20+i), models.SHMask)
	}
	run := func(stage bool, lr float64) ([]float64, string) {
		p, err := gpu.Compile(g, nn.Options{Batch: B, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		return stagedSteps(t, p, batches, 0, stage, lr), Info(p)
	}
	worstRel := func(a, b []float64) float64 {
		worst := 0.0
		for i := range a {
			worst = math.Max(worst, math.Abs(a[i]-b[i])/math.Max(math.Abs(b[i]), 1e-30))
		}
		return worst
	}
	fs, info := run(true, 0)
	fu, _ := run(false, 0)
	ls, _ := run(true, 1e-3)
	lu, _ := run(false, 1e-3)
	t.Logf("frozen: staged %v\nuploaded %v\ntraining: staged %v\nuploaded %v\n%s", fs, fu, ls, lu, info)
	frozen, trained := worstRel(fs, fu), worstRel(ls, lu)
	// The frozen batches' losses differ from one another (a stale batch
	// would show): the smallest gap between two of them, relative.
	spread := math.Inf(1)
	for i := range fu {
		for j := i + 1; j < len(fu); j++ {
			spread = math.Min(spread, math.Abs(fu[i]-fu[j])/math.Abs(fu[j]))
		}
	}
	staged := strings.Contains(info, "input staging: 7 training steps")
	record("staged_vs_upload", map[string]any{"frozen_loss_rel": frozen, "loss_rel": trained, "batch_spread": spread,
		"staged_steps_ok": staged, "info": info})
	if !staged {
		t.Errorf("want 7 of 8 steps staged:\n%s", info)
	}
	if !(spread > 1e-4) {
		t.Errorf("the batches' losses are too close to tell a stale batch (smallest gap %.3g)", spread)
	}
	if !(frozen <= 1e-6) || !(trained <= 1e-5) {
		t.Errorf("staged vs uploaded: frozen weights loss %.3g (want <= 1e-6), training loss %.3g (want <= 1e-5)", frozen, trained)
	}
}
