package cpu

import (
	"fmt"
	"hash"
	"hash/fnv"
	"sync/atomic"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The layers are gorgonia Ops of our own: gorgonia builds the graph, works
// out the backward pass symbolically (each Op's SymDiff returns the Ops of
// its gradient) and runs both on its tape machine, while the kernels here
// are plain Go loops over float32/float64 slices (plus BLAS GEMMs). Own Ops
// avoid gorgonia's known problems (dropout, batch norm, multi-axis sums),
// let forward and backward share saved values (argmax, normalised inputs)
// and reuse their output buffers so a training step allocates little.

var opSerial atomic.Int64

// opBase carries the methods every Op shares. Each Op instance gets a
// unique serial in its hash: gorgonia merges nodes with equal hashes and
// children, and our Ops hold per-layer state.
type opBase struct {
	name   string
	serial int64
}

func newBase(format string, args ...any) opBase {
	return opBase{name: fmt.Sprintf(format, args...), serial: opSerial.Add(1)}
}

func (o *opBase) ReturnsPtr() bool      { return false }
func (o *opBase) CallsExtern() bool     { return false }
func (o *opBase) OverwritesInput() int  { return -1 }
func (o *opBase) String() string        { return o.name }
func (o *opBase) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s#%d", o.name, o.serial) }
func (o *opBase) Hashcode() uint32 {
	h := fnv.New32a()
	o.WriteHash(h)
	return h.Sum32()
}

// fnType is the hm type of an Op whose operands and result have the given
// numbers of dimensions (0: a scalar), all of one float type.
func fnType(dims ...int) hm.Type {
	a := hm.TypeVariable('a')
	ts := make([]hm.Type, len(dims))
	for i, d := range dims {
		if d == 0 {
			ts[i] = a
		} else {
			ts[i] = G.TensorType{Dims: d, Of: a}
		}
	}
	return hm.NewFnType(ts...)
}

// shapeOf returns input i's shape during shape inference.
func shapeOf(in []G.DimSizer, i int) tensor.Shape {
	return in[i].(tensor.Shape)
}

// buffer is an Op's reusable output: allocated once for its shape and
// handed out again every step (gorgonia only reads a result until the next
// run overwrites it).
type buffer struct{ t *tensor.Dense }

func (b *buffer) get(dt tensor.Dtype, shape ...int) *tensor.Dense {
	if b.t == nil || b.t.Dtype() != dt || !b.t.Shape().Eq(tensor.Shape(shape)) {
		b.t = tensor.New(tensor.Of(dt), tensor.WithShape(shape...))
	}
	return b.t
}

// like returns the buffer shaped and typed as v.
func (b *buffer) like(v G.Value) *tensor.Dense {
	return b.get(v.Dtype(), v.Shape()...)
}

// is32 reports whether a value holds float32 data.
func is32(v G.Value) bool { return v.Dtype() == tensor.Float32 }

// sl is a value's backing slice. Dense.Data builds it by reflection,
// which allocated on every Op input of every step; the typed accessors
// do not.
func sl[T float32 | float64](v G.Value) []T {
	d := v.(*tensor.Dense)
	if d.Dtype() == tensor.Float32 {
		return any(d.Float32s()).([]T)
	}
	return any(d.Float64s()).([]T)
}

// scalar reads a scalar value (the gradient that flows into a loss).
func scalar(v G.Value) float64 {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s)
	case *G.F64:
		return float64(*s)
	case *tensor.Dense:
		switch d := s.Data().(type) {
		case []float32:
			return float64(d[0])
		case []float64:
			return d[0]
		case float32:
			return float64(d)
		case float64:
			return d
		}
	}
	panic(fmt.Sprintf("cpu: not a scalar: %T", v))
}

// newScalar makes a scalar value of the given float type.
func newScalar(dt tensor.Dtype, x float64) G.Value {
	if dt == tensor.Float32 {
		return G.NewF32(float32(x))
	}
	return G.NewF64(x)
}

func zero[T float32 | float64](s []T) {
	for i := range s {
		s[i] = 0
	}
}

// apply is G.ApplyOp that panics: our graphs are built from checked nn
// shapes, so an error here is a bug in this package.
func apply(op G.Op, children ...*G.Node) *G.Node {
	n, err := G.ApplyOp(op, children...)
	if err != nil {
		panic(fmt.Sprintf("cpu: %v: %v", op, err))
	}
	return n
}
