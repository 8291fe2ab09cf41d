package cpu

import (
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// linearOp is y = x W^T + b for x [B,F], W [Out,F], b [Out] (PyTorch's
// layout), one GEMM with W read transposed in place.
type linearOp struct {
	opBase
	out  buffer
	noDX bool // x is a graph input nobody asked the gradient of
}

func newLinear() *linearOp { return &linearOp{opBase: newBase("Linear")} }

func (op *linearOp) Arity() int { return 3 }
func (op *linearOp) Type() hm.Type {
	return fnType(2, 2, 1, 2)
}
func (op *linearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in, 0)[0], shapeOf(in, 1)[0]}, nil
}

func (op *linearOp) Do(in ...G.Value) (G.Value, error) {
	b, o := in[0].Shape()[0], in[1].Shape()[0]
	y := op.out.get(in[0].Dtype(), b, o)
	if is32(in[0]) {
		linearFwd(sl[float32](in[0]), sl[float32](in[1]), sl[float32](in[2]), sl[float32](y), b, o)
	} else {
		linearFwd(sl[float64](in[0]), sl[float64](in[1]), sl[float64](in[2]), sl[float64](y), b, o)
	}
	return y, nil
}

func linearFwd[T float32 | float64](x, w, bias, y []T, b, o int) {
	f := len(w) / o
	for i := 0; i < b; i++ {
		copy(y[i*o:(i+1)*o], bias)
	}
	gemm(false, true, b, o, f, 1, x, f, w, f, 1, y, o)
}

func (op *linearOp) DiffWRT(int) []bool { return []bool{!op.noDX, true, true} }
func (op *linearOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	var dx *G.Node
	if !op.noDX {
		dx = apply(&linearGradOp{opBase: newBase("LinearDX"), which: 0}, grad, in[1])
	}
	dw := apply(&linearGradOp{opBase: newBase("LinearDW"), which: 1}, grad, in[0])
	db := apply(&sumRowsOp{opBase: newBase("SumRows")}, grad)
	return G.Nodes{dx, dw, db}, nil
}

// linearGradOp computes dx = dy W (which 0, inputs dy, W) or dW = dy^T x
// (which 1, inputs dy, x).
type linearGradOp struct {
	opBase
	which int
	out   buffer
}

func (op *linearGradOp) Arity() int    { return 2 }
func (op *linearGradOp) Type() hm.Type { return fnType(2, 2, 2) }
func (op *linearGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	dy, other := shapeOf(in, 0), shapeOf(in, 1)
	if op.which == 0 {
		return tensor.Shape{dy[0], other[1]}, nil
	}
	return tensor.Shape{dy[1], other[1]}, nil
}

func (op *linearGradOp) Do(in ...G.Value) (G.Value, error) {
	dy, other := in[0], in[1]
	b, o, f := dy.Shape()[0], dy.Shape()[1], other.Shape()[1]
	var r *tensor.Dense
	if op.which == 0 {
		r = op.out.get(dy.Dtype(), b, f)
		if is32(dy) {
			gemm(false, false, b, f, o, 1, sl[float32](dy), o, sl[float32](other), f, 0, sl[float32](r), f)
		} else {
			gemm(false, false, b, f, o, 1, sl[float64](dy), o, sl[float64](other), f, 0, sl[float64](r), f)
		}
		return r, nil
	}
	r = op.out.get(dy.Dtype(), o, f)
	if is32(dy) {
		gemm(true, false, o, f, b, 1, sl[float32](dy), o, sl[float32](other), f, 0, sl[float32](r), f)
	} else {
		gemm(true, false, o, f, b, 1, sl[float64](dy), o, sl[float64](other), f, 0, sl[float64](r), f)
	}
	return r, nil
}

// sumRowsOp sums a [B,N] matrix over its rows: the bias gradient.
type sumRowsOp struct {
	opBase
	out buffer
}

func (op *sumRowsOp) Arity() int    { return 1 }
func (op *sumRowsOp) Type() hm.Type { return fnType(2, 1) }
func (op *sumRowsOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in, 0)[1]}, nil
}
func (op *sumRowsOp) Do(in ...G.Value) (G.Value, error) {
	n := in[0].Shape()[1]
	r := op.out.get(in[0].Dtype(), n)
	if is32(in[0]) {
		sumRows(sl[float32](in[0]), sl[float32](r))
	} else {
		sumRows(sl[float64](in[0]), sl[float64](r))
	}
	return r, nil
}

func sumRows[T float32 | float64](x, r []T) {
	n := len(r)
	zero(r)
	for i := 0; i < len(x); i += n {
		row := x[i : i+n]
		for j, v := range row {
			r[j] += v
		}
	}
}
