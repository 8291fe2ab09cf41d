package engine

import (
	"testing"

	"poselab/datasets"
	"poselab/nn"
)

// BenchmarkSBSeedTrainStep measures the engine's training step of the
// seed's Simple Baseline (1024 units, batch 256) on the CPU backend: batch
// assembly (normalisation) plus forward, backward and Adam.
func BenchmarkSBSeedTrainStep(b *testing.B) {
	spec, err := Prepare(Spec{Model: "sb", Preset: "seed", DataSize: "tiny", Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	data, err := testOpenData(spec)
	if err != nil {
		b.Fatal(err)
	}
	task, err := newSBTask(TaskEnv{Spec: spec, Data: data})
	if err != nil {
		b.Fatal(err)
	}
	backend, err := NewBackend("cpu")
	if err != nil {
		b.Fatal(err)
	}
	prog, err := backend.Compile(task.Graph(), nn.Options{Batch: spec.Batch, Seed: 1, Adam: nn.DefaultAdam})
	if err != nil {
		b.Fatal(err)
	}
	defer prog.Close()
	if err := prog.SetState(nn.InitState(task.Graph(), 1)); err != nil {
		b.Fatal(err)
	}
	perm := epochOrder(1, 0, task.Len(datasets.Train))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % (len(perm) / spec.Batch)
		bt, err := task.Batch(datasets.Train, perm[k*spec.Batch:(k+1)*spec.Batch], true, 1, i)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := prog.TrainStep(bt, i, 1e-3); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*spec.Batch)/b.Elapsed().Seconds(), "samples/s")
}
