package cpu

import (
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
	for i, v := range x {
		if v > 0 {
			y[i] = v
		} else {
			y[i] = 0
		}
	}
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

func reluGrad[T float32 | float64](y, dy, dx []T) {
	for i, v := range y {
		if v > 0 {
			dx[i] = dy[i]
		} else {
			dx[i] = 0
		}
	}
}

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
	b = b[:len(a)]
	y = y[:len(a)]
	for i, v := range a {
		y[i] = v * b[i]
	}
}

func (op *maskOp) DiffWRT(int) []bool { return []bool{true, false} }
func (op *maskOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{apply(newMask(op.dims), grad, in[1]), nil}, nil
}
