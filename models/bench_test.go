package models

import (
	"testing"

	"poselab/engine/cpu"
	"poselab/nn"
)

// Training-step speed of the tiny presets on the CPU backend (batch 32),
// the numbers that size `--preset tiny` runs: `go test -bench . ./models/`.

func benchTrain(b *testing.B, g *nn.Graph, batch int) {
	prog, err := cpu.New().Compile(g, nn.Options{Batch: batch, Seed: 1, Adam: nn.DefaultAdam})
	if err != nil {
		b.Fatal(err)
	}
	defer prog.Close()
	in := randBatch(g, batch, 1)
	if _, err := prog.TrainStep(in, 0, 1e-3); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := prog.TrainStep(in, i+1, 1e-3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "samples/s")
}

func BenchmarkIRTinyTrainStep(b *testing.B) {
	c, _ := IRPreset("tiny")
	g, err := IR(c)
	if err != nil {
		b.Fatal(err)
	}
	benchTrain(b, g, 32)
}

func BenchmarkBaselineTinyTrainStep(b *testing.B) {
	c, _ := BaselinePreset("tiny")
	g, err := Baseline(c, nn.L1)
	if err != nil {
		b.Fatal(err)
	}
	benchTrain(b, g, 32)
}

// The peer's architectures at CPU-sized inputs (scripts/bench-images.sh
// runs the same shapes in PyTorch): the stacked hourglass with the seed's
// stem, 1 stack of 128 features, depth 4, 64 px at batch 8; integral
// regression on a full-width ResNet-18 with 256-channel deconvolutions and
// 64 depth bins, 64 px at batch 8.
var (
	benchSHPeer = SHConfig{Stacks: 1, Features: 128, Depth: 4, Input: 64, Joints: 17, Stem1: 64, Stem2: 128}
	benchIRPeer = IRConfig{Backbone: ResNetConfig{Depth: 18, Width: 64}, Input: 64, Deconvs: 3, DeconvChannels: 256,
		Depth: 64, Joints: 17, DepthRangeMM: 1000}
)

func BenchmarkSHPeerTrainStep(b *testing.B) {
	g, err := BuildSH(benchSHPeer)
	if err != nil {
		b.Fatal(err)
	}
	benchTrain(b, g, 8)
}

func BenchmarkIRPeerTrainStep(b *testing.B) {
	g, err := IR(benchIRPeer)
	if err != nil {
		b.Fatal(err)
	}
	benchTrain(b, g, 8)
}
