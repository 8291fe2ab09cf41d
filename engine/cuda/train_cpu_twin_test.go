package cuda

import (
	"testing"

	"poselab/engine/cpu"
	"poselab/nn"
)

// The GPU learning check's cases (TestGPUTrainingLearns, run only on the
// device machine) pass on the CPU backend too, with the same batches,
// steps, learning rates and factors: a model or init change that breaks
// them shows here, before a GPU session spends its one call on it.
func TestGPUTrainingCasesLearnOnTheCPU(t *testing.T) {
	for _, c := range trainCases() {
		t.Run(c.name, func(t *testing.T) {
			g, err := c.graph()
			if err != nil {
				t.Fatal(err)
			}
			p, err := cpu.New().Compile(g, nn.Options{Batch: c.B, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			b := c.batch(g, c.B)
			var losses []float64
			for s := 0; s < c.steps; s++ {
				l, err := p.TrainStep(b, s, c.lr)
				if err != nil {
					t.Fatal(err)
				}
				losses = append(losses, l)
			}
			first, last := mean(losses[:5]), mean(losses[len(losses)-5:])
			t.Logf("%s: loss %.4g -> %.4g (%.1fx, want >= %gx) in %d steps; every 25: %s", c.name, first, last, first/last, c.factor, c.steps, every(losses, 25))
			if !(last*c.factor <= first) {
				t.Errorf("%s: loss fell only %.2fx (%.4g -> %.4g), want %gx", c.name, first/last, first, last, c.factor)
			}
		})
	}
}
