package cpu

import (
	"math"
	"math/bits"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// reluOp is max(x, 0); its gradient passes dy where the output is positive
// (0 at x = 0, as PyTorch).
type reluOp struct {
	opBase
	dims int
	out  buffer
}

func newReLU(dims int) *reluOp { return &reluOp{opBase: newBase("ReLU"), dims: dims} }

func (op *reluOp) Arity() int    { return 1 }
func (op *reluOp) Type() hm.Type { return fnType(op.dims, op.dims) }
func (op *reluOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *reluOp) Do(in ...G.Value) (G.Value, error) {
	y := op.out.like(in[0])
	if is32(in[0]) {
		relu(sl[float32](in[0]), sl[float32](y))
	} else {
		relu(sl[float64](in[0]), sl[float64](y))
	}
	return y, nil
}

func relu[T float32 | float64](x, y []T) {
	parallelFor(len(x), 1, func(lo, hi int) {
		switch x := any(x[lo:hi]).(type) {
		case []float32:
			reluBits32(x, any(y[lo:hi]).([]float32))
		case []float64:
			reluBits64(x, any(y[lo:hi]).([]float64))
		}
	})
}

// The ReLU loops work on the bits, without a branch: on real activations
// the sign of the next element is a coin toss, and a mispredicted branch
// per element made them 5 to 7 times slower than memory allows. Every
// value > 0 passes; everything else, -0 and NaN included, becomes +0, as
// the comparisons did.

// keep32 is all ones when v > 0, else 0: when its bits minus one lie
// below those of +Inf (the bits of +0 wrap around to the top), which one
// subtraction's borrow tells (in 64 bits, which the compiler turns into a
// subtract and a borrow; Sub32 it computes bit by bit).
func keep32(v float32) uint32 {
	_, borrow := bits.Sub64(uint64(math.Float32bits(v))-1, 0x7f800000, 0)
	return uint32(-borrow)
}

func keep64(v float64) uint64 {
	_, borrow := bits.Sub64(math.Float64bits(v)-1, 0x7ff0000000000000, 0)
	return -borrow
}

func reluBits32(x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = math.Float32frombits(math.Float32bits(v) & keep32(v))
	}
}

func reluBits64(x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = math.Float64frombits(math.Float64bits(v) & keep64(v))
	}
}

// passWhere writes dx = dy where y > 0, else 0 (times m when m is given).
// With y = dy = x it is the forward ReLU (times a dropout mask).
func passWhere32(y, dy, m, dx []float32) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	if m == nil {
		for i, v := range y {
			dx[i] = math.Float32frombits(math.Float32bits(dy[i]) & keep32(v))
		}
		return
	}
	m = m[:len(y)]
	for i, v := range y {
		dx[i] = math.Float32frombits(math.Float32bits(dy[i]*m[i]) & keep32(v))
	}
}

func passWhere64(y, dy, m, dx []float64) {
	dy, dx = dy[:len(y)], dx[:len(y)]
	if m == nil {
		for i, v := range y {
			dx[i] = math.Float64frombits(math.Float64bits(dy[i]) & keep64(v))
		}
		return
	}
	m = m[:len(y)]
	for i, v := range y {
		dx[i] = math.Float64frombits(math.Float64bits(dy[i]*m[i]) & keep64(v))
	}
}

// passWhere is passWhere32/64 over the cores; m may be nil.
func passWhere[T float32 | float64](y, dy, m, dx []T) {
	parallelFor(len(y), 1, func(lo, hi int) {
		var ms []T
		if m != nil {
			ms = m[lo:hi]
		}
		switch y := any(y[lo:hi]).(type) {
		case []float32:
			m32, _ := any(ms).([]float32)
			passWhere32(y, any(dy[lo:hi]).([]float32), m32, any(dx[lo:hi]).([]float32))
		case []float64:
			m64, _ := any(ms).([]float64)
			passWhere64(y, any(dy[lo:hi]).([]float64), m64, any(dx[lo:hi]).([]float64))
		}
	})
}

func (op *reluOp) DiffWRT(int) []bool { return []bool{true} }
func (op *reluOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{apply(&reluGradOp{opBase: newBase("ReLUGrad"), dims: op.dims}, out, grad)}, nil
}

// reluGradOp is dy * (y > 0); inputs y, dy.
type reluGradOp struct {
	opBase
	dims int
	out  buffer
}

func (op *reluGradOp) Arity() int    { return 2 }
func (op *reluGradOp) Type() hm.Type { return fnType(op.dims, op.dims, op.dims) }
func (op *reluGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *reluGradOp) Do(in ...G.Value) (G.Value, error) {
	dx := op.out.like(in[1])
	if is32(in[0]) {
		reluGrad(sl[float32](in[0]), sl[float32](in[1]), sl[float32](dx))
	} else {
		reluGrad(sl[float64](in[0]), sl[float64](in[1]), sl[float64](dx))
	}
	return dx, nil
}

func reluGrad[T float32 | float64](y, dy, dx []T) { passWhere(y, dy, nil, dx) }

// maskOp multiplies by a mask of the same shape: inverted dropout with the
// mask (0 or 1/(1-p)) that the program draws for each step from
// nn.DropoutKeep. Its gradient is the same product, so it is exact for
// every p (unlike gorgonia's Dropout).
type maskOp struct {
	opBase
	dims int
	out  buffer
}

func newMask(dims int) *maskOp { return &maskOp{opBase: newBase("DropoutMask"), dims: dims} }

func (op *maskOp) Arity() int    { return 2 }
func (op *maskOp) Type() hm.Type { return fnType(op.dims, op.dims, op.dims) }
func (op *maskOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *maskOp) Do(in ...G.Value) (G.Value, error) {
	y := op.out.like(in[0])
	if is32(in[0]) {
		mulInto(sl[float32](in[0]), sl[float32](in[1]), sl[float32](y))
	} else {
		mulInto(sl[float64](in[0]), sl[float64](in[1]), sl[float64](y))
	}
	return y, nil
}

func mulInto[T float32 | float64](a, b, y []T) {
	parallelFor(len(a), 1, func(lo, hi int) {
		b, y := b[lo:hi], y[lo:hi]
		for i, v := range a[lo:hi] {
			y[i] = v * b[i]
		}
	})
}

func (op *maskOp) DiffWRT(int) []bool { return []bool{true, false} }
func (op *maskOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{apply(newMask(op.dims), grad, in[1]), nil}, nil
}

// reluMaskOp is ReLU followed by dropout in one pass (the Simple
// Baseline's pattern): y = max(x,0) * mask. Inputs x, mask.
type reluMaskOp struct {
	opBase
	dims int
	out  buffer
}

func (op *reluMaskOp) Arity() int    { return 2 }
func (op *reluMaskOp) Type() hm.Type { return fnType(op.dims, op.dims, op.dims) }
func (op *reluMaskOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *reluMaskOp) Do(in ...G.Value) (G.Value, error) {
	y := op.out.like(in[0])
	if is32(in[0]) {
		reluMask(sl[float32](in[0]), sl[float32](in[1]), sl[float32](y))
	} else {
		reluMask(sl[float64](in[0]), sl[float64](in[1]), sl[float64](y))
	}
	return y, nil
}

func reluMask[T float32 | float64](x, m, y []T) { passWhere(x, x, m, y) }

func (op *reluMaskOp) DiffWRT(int) []bool { return []bool{true, false} }
func (op *reluMaskOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{apply(&reluMaskGradOp{opBase: newBase("ReLUDropoutGrad"), dims: op.dims}, out, grad, in[1]), nil}, nil
}

// reluMaskGradOp is dx = dy*mask where y > 0, else 0 (y = 0 wherever
// x <= 0 or the mask dropped the element). Inputs y, dy, mask.
type reluMaskGradOp struct {
	opBase
	dims int
	out  buffer
}

func (op *reluMaskGradOp) Arity() int    { return 3 }
func (op *reluMaskGradOp) Type() hm.Type { return fnType(op.dims, op.dims, op.dims, op.dims) }
func (op *reluMaskGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *reluMaskGradOp) Do(in ...G.Value) (G.Value, error) {
	dx := op.out.like(in[1])
	if is32(in[0]) {
		reluMaskGrad(sl[float32](in[0]), sl[float32](in[1]), sl[float32](in[2]), sl[float32](dx))
	} else {
		reluMaskGrad(sl[float64](in[0]), sl[float64](in[1]), sl[float64](in[2]), sl[float64](dx))
	}
	return dx, nil
}

func reluMaskGrad[T float32 | float64](y, dy, m, dx []T) { passWhere(y, dy, m, dx) }

// addOp is the elementwise sum of two equal shapes (residual
// connections); the gradient flows to both unchanged.
type addOp struct {
	opBase
	dims int
	out  buffer
}

func (op *addOp) Arity() int    { return 2 }
func (op *addOp) Type() hm.Type { return fnType(op.dims, op.dims, op.dims) }
func (op *addOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *addOp) Do(in ...G.Value) (G.Value, error) {
	y := op.out.like(in[0])
	if is32(in[0]) {
		addInto(sl[float32](in[0]), sl[float32](in[1]), sl[float32](y))
	} else {
		addInto(sl[float64](in[0]), sl[float64](in[1]), sl[float64](y))
	}
	return y, nil
}

func addInto[T float32 | float64](a, b, y []T) {
	parallelFor(len(a), 1, func(lo, hi int) {
		b, y := b[lo:hi], y[lo:hi]
		for i, v := range a[lo:hi] {
			y[i] = v + b[i]
		}
	})
}

func (op *addOp) DiffWRT(int) []bool { return []bool{true, true} }
func (op *addOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{grad, grad}, nil
}
