package engine

import (
	"math"

	"poselab/datasets"
	"poselab/nn"
)

// predictSplit predicts every sample of a split in evaluation mode, in
// full batches (the last one padded by repeating its final sample).
func predictSplit(t Task, p nn.Program, split datasets.Split, B int, seed int64) ([]Prediction, error) {
	n := t.Len(split)
	out := make([]Prediction, 0, n)
	idx := make([]int, B)
	for start := 0; start < n; start += B {
		for i := range idx {
			idx[i] = min(start+i, n-1)
		}
		b, err := t.Batch(split, idx, false, seed, 0)
		if err != nil {
			return nil, err
		}
		res, err := p.Predict(b)
		if err != nil {
			return nil, err
		}
		var preds []Prediction
		if ft, ok := t.(FlipTester); ok {
			preds, err = predictFlipped(ft, p, split, idx, res)
		} else {
			preds, err = t.Decode(split, idx, res)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, preds[:min(B, n-start)]...)
	}
	return out, nil
}

// predictFlipped runs the flip test: the mirrored crops go through the
// program too and the task averages both before decoding.
func predictFlipped(ft FlipTester, p nn.Program, split datasets.Split, idx []int, res map[string]*nn.Tensor) ([]Prediction, error) {
	fb, err := ft.FlipBatch(split, idx)
	if err != nil {
		return nil, err
	}
	// Predict may reuse its output buffers: keep the first result.
	kept := make(map[string]*nn.Tensor, len(res))
	for k, v := range res {
		kept[k] = v.Clone()
	}
	flipped, err := p.Predict(fb)
	if err != nil {
		return nil, err
	}
	return ft.DecodeFlip(split, idx, kept, flipped)
}

// valLoss is the objective on the validation split in evaluation mode,
// averaged over its full batches (NaN when it has none).
func valLoss(t Task, p nn.Program, B int, seed int64) float64 {
	n := t.Len(datasets.Val)
	sum, cnt := 0.0, 0
	idx := make([]int, B)
	for start := 0; start+B <= n; start += B {
		for i := range idx {
			idx[i] = start + i
		}
		b, err := t.Batch(datasets.Val, idx, false, seed, 0)
		if err != nil {
			return math.NaN()
		}
		l, err := p.Loss(b)
		if err != nil {
			return math.NaN()
		}
		sum += l
		cnt++
	}
	if cnt == 0 {
		return math.NaN()
	}
	return sum / float64(cnt)
}
