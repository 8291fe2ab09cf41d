package cpu

import (
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
	"poselab/nn"
)

// lossOp is weight * mean(mask * err) over all elements, batch included,
// with err |p-t| (L1) or (p-t)^2 (MSE). Inputs pred, target[, mask]; the
// result is a scalar.
type lossOp struct {
	opBase
	kind   nn.LossKind
	weight float64
	dims   int
	masked bool
}

func newLoss(l nn.Loss, dims int) *lossOp {
	return &lossOp{opBase: newBase("Loss%s", l.Kind), kind: l.Kind, weight: l.Weight, dims: dims, masked: l.Mask != ""}
}

func (op *lossOp) Arity() int {
	if op.masked {
		return 3
	}
	return 2
}
func (op *lossOp) Type() hm.Type {
	if op.masked {
		return fnType(op.dims, op.dims, op.dims, 0)
	}
	return fnType(op.dims, op.dims, 0)
}
func (op *lossOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return tensor.ScalarShape(), nil }

func (op *lossOp) Do(in ...G.Value) (G.Value, error) {
	var s float64
	if is32(in[0]) {
		s = lossSum(op.kind, sl[float32](in[0]), sl[float32](in[1]), maskOf[float32](in))
	} else {
		s = lossSum(op.kind, sl[float64](in[0]), sl[float64](in[1]), maskOf[float64](in))
	}
	n := float64(in[0].Shape().TotalSize())
	return newScalar(in[0].Dtype(), op.weight*s/n), nil
}

func maskOf[T float32 | float64](in []G.Value) []T {
	if len(in) > 2 {
		return sl[T](in[2])
	}
	return nil
}

// lossSum is sum(mask*err) with a float64 accumulator.
func lossSum[T float32 | float64](kind nn.LossKind, p, t, mask []T) float64 {
	s := 0.0
	for i, v := range p {
		d := float64(v) - float64(t[i])
		e := d * d
		if kind == nn.L1 {
			e = math.Abs(d)
		}
		if mask != nil {
			e *= float64(mask[i])
		}
		s += e
	}
	return s
}

func (op *lossOp) DiffWRT(n int) []bool {
	r := make([]bool, n)
	r[0] = true
	return r
}
func (op *lossOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	g := &lossGradOp{opBase: newBase("%sGrad", op.name), fwd: op}
	args := append(G.Nodes{}, in...)
	args = append(args, grad)
	r := make(G.Nodes, len(in))
	r[0] = apply(g, args...)
	return r, nil
}

// lossGradOp is d loss / d pred = g * weight/N * mask * (sign(p-t) or
// 2(p-t)). Inputs pred, target[, mask], g.
type lossGradOp struct {
	opBase
	fwd *lossOp
	out buffer
}

func (op *lossGradOp) Arity() int { return op.fwd.Arity() + 1 }
func (op *lossGradOp) Type() hm.Type {
	d := op.fwd.dims
	if op.fwd.masked {
		return fnType(d, d, d, 0, d)
	}
	return fnType(d, d, 0, d)
}
func (op *lossGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *lossGradOp) Do(in ...G.Value) (G.Value, error) {
	g := scalar(in[len(in)-1])
	n := float64(in[0].Shape().TotalSize())
	k := g * op.fwd.weight / n
	dp := op.out.like(in[0])
	if is32(in[0]) {
		lossGrad(op.fwd.kind, k, sl[float32](in[0]), sl[float32](in[1]), maskOf[float32](in[:len(in)-1]), sl[float32](dp))
	} else {
		lossGrad(op.fwd.kind, k, sl[float64](in[0]), sl[float64](in[1]), maskOf[float64](in[:len(in)-1]), sl[float64](dp))
	}
	return dp, nil
}

func lossGrad[T float32 | float64](kind nn.LossKind, k float64, p, t, mask, dp []T) {
	for i, v := range p {
		d := float64(v) - float64(t[i])
		var e float64
		if kind == nn.L1 {
			switch {
			case d > 0:
				e = k
			case d < 0:
				e = -k
			}
		} else {
			e = 2 * k * d
		}
		if mask != nil {
			e *= float64(mask[i])
		}
		dp[i] = T(e)
	}
}
