package cpu

import (
	"testing"

	"poselab/nn"
)

// mlpGraph is a small graph with every dense layer kind: Linear, BN,
// ReLU, Dropout, a residual Add, Reshape, and both losses (one masked).
func mlpGraph(p float64) *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 5)
	h := b.Linear("l1", x, 4)
	h = b.BatchNorm("bn1", h)
	h = b.ReLU(h)
	h = b.Dropout(h, p)
	r := b.Linear("l2", h, 4)
	r = b.BatchNorm("bn2", r)
	h = b.Add(h, r)
	h2 := b.Reshape(h, 2, 2)
	o := b.Reshape(h2, 4)
	y := b.Linear("out", o, 3)
	b.Input("t", 3)
	b.Input("m", 3)
	b.Input("t2", 4)
	b.Output("y", y)
	b.Loss(nn.L1, y, "t", "m", 0.7)
	b.Loss(nn.MSE, h, "t2", "", 1.3)
	return b.Build()
}

func TestGradientsDense(t *testing.T) {
	g := mlpGraph(0.3)
	p := compile64(t, g, 6, 11, "x")
	b := randomBatch(g, 6, 3)
	checkGrads(t, p, b, 2, 0, 1e-6)
}
