package engine

import (
	"testing"

	"poselab/checkpoints"
	"poselab/datasets"
	"poselab/datasets/synth"
	"poselab/engine/cpu"
	"poselab/models"
	"poselab/nn"
)

// shTrain runs steps training steps of task on prog over the training
// split (shuffled deterministically by step) and returns the losses.
func shTrain(t *testing.T, task *shTask, prog nn.Program, batch, from, steps int, lr float64) []float64 {
	t.Helper()
	n := task.Len(datasets.Train)
	var losses []float64
	for s := from; s < from+steps; s++ {
		idx := make([]int, batch)
		for k := range idx {
			idx[k] = int((uint64(s*batch+k) * 2654435761) % uint64(n))
		}
		b, err := task.Batch(datasets.Train, idx, true, 11, s)
		if err != nil {
			t.Fatal(err)
		}
		l, err := prog.TrainStep(b, s, lr)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l)
	}
	return losses
}

// shPredict decodes the first n samples of a split (the last batch padded
// by repeating its final index), with the flip test when flip is set.
func shPredict(t *testing.T, task *shTask, prog nn.Program, split datasets.Split, n, batch int, flip bool) []Prediction {
	t.Helper()
	var preds []Prediction
	for start := 0; start < n; start += batch {
		idx := make([]int, batch)
		for k := range idx {
			idx[k] = min(start+k, n-1)
		}
		b, err := task.Batch(split, idx, false, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		out, err := prog.Predict(nn.Batch{models.SHImage: b[models.SHImage]})
		if err != nil {
			t.Fatal(err)
		}
		var p []Prediction
		if flip {
			fb, err := task.FlipBatch(split, idx)
			if err != nil {
				t.Fatal(err)
			}
			fo, err := prog.Predict(fb)
			if err != nil {
				t.Fatal(err)
			}
			p, err = task.DecodeFlip(split, idx, out, fo)
			if err != nil {
				t.Fatal(err)
			}
		} else if p, err = task.Decode(split, idx, out); err != nil {
			t.Fatal(err)
		}
		preds = append(preds, p[:min(batch, n-start)]...)
	}
	return preds
}

// A model saved through a checkpoint file and loaded into a fresh program
// predicts bitwise the same heatmaps and trains on identically (Adam
// moments and BatchNorm statistics included).
func TestSHCheckpointRoundTrip(t *testing.T) {
	task := newTestSHTask(t, newDotsData(16, 4))
	const batch = 4
	opt := nn.Options{Batch: batch, Seed: 3, Adam: nn.DefaultAdam}
	prog, err := cpu.New().Compile(task.Graph(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	shTrain(t, task, prog, batch, 0, 3, 1e-3)
	st, err := prog.State()
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/last.ckpt"
	if err := checkpoints.Save(path, &checkpoints.Checkpoint{Model: "sh", Step: 3, State: st, Task: task.State()}); err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoints.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ck.Matches("sh", "", task.Graph()); err != nil {
		t.Fatal(err)
	}
	prog2, err := cpu.New().Compile(task.Graph(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer prog2.Close()
	if err := prog2.SetState(ck.State); err != nil {
		t.Fatal(err)
	}
	if err := task.SetState(ck.Task); err != nil {
		t.Fatal(err)
	}
	b, _ := task.Batch(datasets.Val, []int{0, 1, 2, 3}, false, 0, 0)
	in := nn.Batch{"image": b["image"]}
	o1, err := prog.Predict(in)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := prog2.Predict(in)
	if err != nil {
		t.Fatal(err)
	}
	for name, x := range o1 {
		for i := range x.Data {
			if x.Data[i] != o2[name].Data[i] {
				t.Fatalf("%s[%d]: %v before saving, %v after loading", name, i, x.Data[i], o2[name].Data[i])
			}
		}
	}
	l1 := shTrain(t, task, prog, batch, 3, 2, 1e-3)
	l2 := shTrain(t, task, prog2, batch, 3, 2, 1e-3)
	if l1[0] != l2[0] || l1[1] != l2[1] {
		t.Fatalf("resumed training losses %v, original %v", l2, l1)
	}
}

// The smallest network learns to find joints on the synthetic people in
// a few hundred steps: on held-out samples its heatmaps beat predicting
// no joint at all (the all-zero heatmaps' loss) and its joints move far
// closer to the truth than the untrained network's. (The tiny preset's
// comparison with the fixed-mean baseline takes minutes: see the report
// of issue 6.)
func TestSHLearnsOnSyntheticPeople(t *testing.T) {
	d, err := synth.New(synth.Tiny, 1)
	if err != nil {
		t.Fatal(err)
	}
	task := newTestSHTask(t, d)
	const batch, steps, nVal = 8, 300, 128
	prog, err := cpu.New().Compile(task.Graph(), nn.Options{Batch: batch, Seed: 1, Adam: nn.DefaultAdam})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	pxOf := func() float64 {
		info, err := task.Evaluate(datasets.Val, shPredict(t, task, prog, datasets.Val, nVal, batch, false))
		if err != nil {
			t.Fatal(err)
		}
		return info.Pixel
	}
	losses := func() (model, zero float64) {
		for start := 0; start < nVal; start += batch {
			b, err := task.Batch(datasets.Val, rangeIdx(start, start+batch), false, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			l, err := prog.Loss(b)
			if err != nil {
				t.Fatal(err)
			}
			model += l
			var z float64
			for i, v := range b[models.SHTarget].Data {
				z += float64(b[models.SHMask].Data[i] * v * v)
			}
			zero += z / float64(len(b[models.SHTarget].Data))
		}
		return model, zero
	}
	px0 := pxOf()
	shTrain(t, task, prog, batch, 0, steps, 5e-3)
	px1 := pxOf()
	model, zero := losses()
	t.Logf("held-out heatmap loss %.5f (all-zero heatmaps %.5f); joint error %.1f px untrained, %.1f px after %d steps",
		model/float64(nVal/batch), zero/float64(nVal/batch), px0, px1, steps)
	if !(model < 0.8*zero) {
		t.Errorf("held-out heatmap loss %.5f is not below 0.8 x the all-zero heatmaps' %.5f", model, zero)
	}
	if !(px1 < 0.6*px0) {
		t.Errorf("joint error %.1f px after training, %.1f px before", px1, px0)
	}
}
