package models

import (
	"math/rand/v2"
	"testing"

	"poselab/engine/cpu"
	"poselab/nn"
)

// The miniature networks fit a fixed batch: the loss falls well below its
// start within 100 Adam steps on the CPU backend (float32).
func fitBatch(t *testing.T, g *nn.Graph, b nn.Batch, batch, steps int, lr float64) (first, last float64) {
	t.Helper()
	prog, err := cpu.New().Compile(g, nn.Options{Batch: batch, Seed: 2, Adam: nn.DefaultAdam})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	for s := 0; s < steps; s++ {
		l, err := prog.TrainStep(b, s, lr)
		if err != nil {
			t.Fatal(err)
		}
		if s == 0 {
			first = l
		}
	}
	last, err = prog.Loss(b)
	if err != nil {
		t.Fatal(err)
	}
	return first, last
}

func miniIR() IRConfig {
	return IRConfig{Backbone: ResNetConfig{Depth: 18, Width: 4, Blocks: []int{1, 1, 1, 1}}, Input: 32,
		Deconvs: 2, DeconvChannels: 8, Depth: 4, Joints: 3, DepthRangeMM: 1000}
}

func TestMiniIRFitsABatch(t *testing.T) {
	c := miniIR()
	g, err := IR(c)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 8
	b := randBatch(g, batch, 4)
	r := rand.New(rand.NewPCG(4, 4))
	hm := float64(c.HeatmapSize())
	w := c.CoordWeights()
	for i := range b[IRTarget].Data {
		k := i % 3
		span := hm - 1
		if k == 2 {
			span = float64(c.Depth - 1)
		}
		b[IRTarget].Data[i] = float32(0.15*span + 0.7*span*r.Float64())
		b[IRWeight].Data[i] = float32(w[k])
	}
	first, last := fitBatch(t, g, b, batch, 100, 3e-3)
	t.Logf("IR loss %.4f -> %.4f", first, last)
	if !(last < 0.5*first) {
		t.Errorf("IR loss %.4f -> %.4f after 100 steps; want below 50%%", first, last)
	}
}

func TestMiniBaselineFitsABatch(t *testing.T) {
	c := BaselineConfig{Backbone: ResNetConfig{Depth: 18, Width: 4, Blocks: []int{1, 1, 1, 1}}, Input: 32, Joints: 17}
	g, err := Baseline(c, nn.L1)
	if err != nil {
		t.Fatal(err)
	}
	const batch = 8
	first, last := fitBatch(t, g, randBatch(g, batch, 5), batch, 100, 3e-3)
	if !(last < 0.5*first) {
		t.Errorf("baseline loss %.4f -> %.4f after 100 steps; want below 50%%", first, last)
	}
}
