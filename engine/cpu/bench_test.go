package cpu

import (
	"math/rand/v2"
	"testing"

	"poselab/nn"
)

// sbGraph is the Simple Baseline (Martinez et al.) as the seed trains it:
// 34 -> Linear 1024, BN, ReLU, Dropout 0.5, two residual blocks of
// 2 x (Linear 1024, BN, ReLU, Dropout 0.5), Linear 51, L1.
func sbGraph() *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 34)
	block := func(name string, h *nn.Value) *nn.Value {
		h = b.Linear(name, h, 1024)
		h = b.BatchNorm(name+"_bn", h)
		h = b.ReLU(h)
		return b.Dropout(h, 0.5)
	}
	h := block("in", x)
	for r := 0; r < 2; r++ {
		y := block("res"+string(rune('a'+r))+"1", h)
		y = block("res"+string(rune('a'+r))+"2", y)
		h = b.Add(h, y)
	}
	out := b.Linear("out", h, 51)
	b.Input("t", 51)
	b.Output("pose", out)
	b.Loss(nn.L1, out, "t", "", 1)
	return b.Build()
}

// BenchmarkSBTrainStep measures full training steps (forward, backward,
// Adam) of the Simple Baseline at batch 256 in float32.
func BenchmarkSBTrainStep(b *testing.B) {
	const batch = 256
	p, err := New().Compile(sbGraph(), nn.Options{Batch: batch, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x, t := nn.NewTensor(batch, 34), nn.NewTensor(batch, 51)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	data := nn.Batch{"x": x, "t": t}
	for s := 0; s < 3; s++ { // warm up: buffers, BLAS threads
		if _, err := p.TrainStep(data, s, 1e-3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	c0 := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.TrainStep(data, i, 1e-3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "samples/s")
	// CPU time per step (all threads) depends less on other load than
	// wall time does.
	b.ReportMetric(float64((processCPU()-c0).Milliseconds())/float64(b.N), "cpu-ms/step")
	b.Logf("device: %s", New().Device())
}
