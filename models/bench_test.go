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
