package cpu

import (
	"math"
	"math/bits"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// maxPoolOp is PyTorch's MaxPool2d (padding counts as -inf, floor output
// size). It remembers each output's argmax for the backward pass.
type maxPoolOp struct {
	opBase
	k, s, pad int
	outShp    []int // per sample
	out       buffer
	arg       []int32
}

func (op *maxPoolOp) Arity() int    { return 1 }
func (op *maxPoolOp) Type() hm.Type { return fnType(4, 4) }
func (op *maxPoolOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return batchShape(shapeOf(in, 0)[0], op.outShp), nil
}
func (op *maxPoolOp) Do(in ...G.Value) (G.Value, error) {
	s := in[0].Shape()
	y := op.out.get(in[0].Dtype(), batchShape(s[0], op.outShp)...)
	if len(op.arg) != y.Shape().TotalSize() {
		op.arg = make([]int32, y.Shape().TotalSize())
	}
	if is32(in[0]) {
		maxPool(op, sl[float32](in[0]), sl[float32](y), s[0]*s[1], s[2], s[3])
	} else {
		maxPool(op, sl[float64](in[0]), sl[float64](y), s[0]*s[1], s[2], s[3])
	}
	return y, nil
}

func maxPool[T float32 | float64](op *maxPoolOp, x, y []T, planes, h, w int) {
	ho, wo := op.outShp[1], op.outShp[2]
	if op.k == 2 && op.s == 2 && op.pad == 0 {
		parallelFor(planes, h*w, func(p0, p1 int) { maxPool2Planes(op.arg, x, y, p0, p1, h, w, ho, wo) })
		return
	}
	parallelFor(planes, h*w, func(p0, p1 int) { maxPoolPlanes(op, x, y, p0, p1, h, w, ho, wo) })
}

// maxPool2Planes is maxPoolPlanes for the 2x2 stride-2 unpadded window of
// the hourglass and the stems. It picks the same element, the first
// largest in row-major order (a NaN only when it comes first), but without
// a branch per comparison: on real activations each comparison is a coin
// toss, and the mispredictions made the general loop run at a tenth of
// this speed. The comparisons are on integer keys that order the floats
// (-0 equal to +0), selected with masks; a window with a NaN, which has
// no key, takes the float comparisons.
func maxPool2Planes[T float32 | float64](arg []int32, x, y []T, p0, p1, h, w, ho, wo int) {
	for p := p0; p < p1; p++ {
		xp := x[p*h*w : (p+1)*h*w]
		for oh := 0; oh < ho; oh++ {
			i0 := 2 * oh * w
			ys, as := y[(p*ho+oh)*wo:][:wo], arg[(p*ho+oh)*wo:][:wo]
			switch r := any(xp).(type) {
			case []float32:
				maxPool2Row32(r, any(ys).([]float32), as, int32(i0), int32(w))
			case []float64:
				maxPool2Row64(r, any(ys).([]float64), as, int32(i0), int32(w))
			}
		}
	}
}

// key32 orders float32 values as integers: -0 and +0 map to 0, and it is
// only called on values that are not NaN.
func key32(v float32) int32 {
	i := int32(math.Float32bits(v))
	m := i >> 31
	return (i&0x7fffffff ^ m) - m
}

func key64(v float64) int64 {
	i := int64(math.Float64bits(v))
	m := i >> 63
	return (i&0x7fffffffffffffff ^ m) - m
}

// pick32 returns (k, i) when k > best, else (best, at), without a branch
// (the compiler keeps one for an if that sets two variables).
func pick32(best, at, k, i int32) (int32, int32) {
	m := int32((int64(best) - int64(k)) >> 63) // all ones when best < k
	return best ^ (best^k)&m, at ^ (at^i)&m
}

func pick64(best int64, at int32, k int64, i int32) (int64, int32) {
	_, borrow := bits.Sub64(uint64(best)^0x8000000000000000, uint64(k)^0x8000000000000000, 0)
	m := -int64(borrow)
	return best ^ (best^k)&m, at ^ (at^i)&int32(m)
}

func isNaN32(v float32) bool { return math.Float32bits(v)&0x7fffffff > 0x7f800000 }

// maxPool2Row32 pools one output row from the plane xp (w wide) whose
// window rows start at index i0.
func maxPool2Row32(xp, ys []float32, as []int32, i0, w int32) {
	r0, r1 := xp[i0:i0+w], xp[i0+w:i0+2*w]
	for ow := range ys {
		j := 2 * ow
		a, b, c, d := r0[j], r0[j+1], r1[j], r1[j+1]
		if isNaN32(a) || isNaN32(b) || isNaN32(c) || isNaN32(d) {
			ys[ow], as[ow] = maxOf4(a, b, c, d, i0+int32(j), w)
			continue
		}
		best, at := key32(a), int32(0)
		best, at = pick32(best, at, key32(b), 1)
		best, at = pick32(best, at, key32(c), w)
		_, at = pick32(best, at, key32(d), w+1)
		as[ow] = i0 + int32(j) + at
		ys[ow] = xp[int(i0)+j+int(at)]
	}
}

func maxPool2Row64(xp, ys []float64, as []int32, i0, w int32) {
	r0, r1 := xp[i0:i0+w], xp[i0+w:i0+2*w]
	for ow := range ys {
		j := 2 * ow
		a, b, c, d := r0[j], r0[j+1], r1[j], r1[j+1]
		if a != a || b != b || c != c || d != d {
			ys[ow], as[ow] = maxOf4(a, b, c, d, i0+int32(j), w)
			continue
		}
		best, at := key64(a), int32(0)
		best, at = pick64(best, at, key64(b), 1)
		best, at = pick64(best, at, key64(c), w)
		_, at = pick64(best, at, key64(d), w+1)
		as[ow] = i0 + int32(j) + at
		ys[ow] = xp[int(i0)+j+int(at)]
	}
}

// maxOf4 is the general loop's choice among a window a b / c d whose top
// left element is at index i in a plane w wide.
func maxOf4[T float32 | float64](a, b, c, d T, i, w int32) (T, int32) {
	best, at := a, i
	if b > best {
		best, at = b, i+1
	}
	if c > best {
		best, at = c, i+w
	}
	if d > best {
		best, at = d, i+w+1
	}
	return best, at
}

func maxPoolPlanes[T float32 | float64](op *maxPoolOp, x, y []T, p0, p1, h, w, ho, wo int) {
	for p := p0; p < p1; p++ {
		xp := x[p*h*w : (p+1)*h*w]
		for oh := 0; oh < ho; oh++ {
			for ow := 0; ow < wo; ow++ {
				best, arg := T(math.Inf(-1)), int32(-1)
				for ki := 0; ki < op.k; ki++ {
					ih := oh*op.s - op.pad + ki
					if ih < 0 || ih >= h {
						continue
					}
					for kj := 0; kj < op.k; kj++ {
						iw := ow*op.s - op.pad + kj
						if iw < 0 || iw >= w {
							continue
						}
						if v := xp[ih*w+iw]; v > best || arg < 0 {
							best, arg = v, int32(ih*w+iw)
						}
					}
				}
				o := (p*ho+oh)*wo + ow
				y[o], op.arg[o] = best, arg
			}
		}
	}
}

func (op *maxPoolOp) DiffWRT(int) []bool { return []bool{true} }
func (op *maxPoolOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{apply(&maxPoolGradOp{opBase: newBase("MaxPoolGrad"), fwd: op}, in[0], grad)}, nil
}

// maxPoolGradOp routes each output's gradient to its argmax; inputs x, dy.
type maxPoolGradOp struct {
	opBase
	fwd *maxPoolOp
	out buffer
}

func (op *maxPoolGradOp) Arity() int    { return 2 }
func (op *maxPoolGradOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *maxPoolGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *maxPoolGradOp) Do(in ...G.Value) (G.Value, error) {
	dx := op.out.like(in[0])
	s := in[0].Shape()
	if is32(in[0]) {
		maxPoolGrad(op.fwd.arg, sl[float32](in[1]), sl[float32](dx), s[2]*s[3])
	} else {
		maxPoolGrad(op.fwd.arg, sl[float64](in[1]), sl[float64](dx), s[2]*s[3])
	}
	return dx, nil
}

func maxPoolGrad[T float32 | float64](arg []int32, dy, dx []T, plane int) {
	planes := len(dx) / plane
	per := len(dy) / planes
	parallelFor(planes, plane, func(p0, p1 int) {
		zero(dx[p0*plane : p1*plane])
		for o := p0 * per; o < p1*per; o++ {
			dx[(o/per)*plane+int(arg[o])] += dy[o]
		}
	})
}

// upsampleOp is nearest-neighbour x2 upsampling of [B,C,H,W]; its
// gradient (upsampleGradOp) sums each 2x2 block.
type upsampleOp struct {
	opBase
	out buffer
}

func (op *upsampleOp) Arity() int    { return 1 }
func (op *upsampleOp) Type() hm.Type { return fnType(4, 4) }
func (op *upsampleOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := shapeOf(in, 0)
	return tensor.Shape{s[0], s[1], 2 * s[2], 2 * s[3]}, nil
}
func (op *upsampleOp) Do(in ...G.Value) (G.Value, error) {
	s := in[0].Shape()
	y := op.out.get(in[0].Dtype(), s[0], s[1], 2*s[2], 2*s[3])
	if is32(in[0]) {
		upsample(sl[float32](in[0]), sl[float32](y), s[0]*s[1], s[2], s[3])
	} else {
		upsample(sl[float64](in[0]), sl[float64](y), s[0]*s[1], s[2], s[3])
	}
	return y, nil
}

func upsample[T float32 | float64](x, y []T, planes, h, w int) {
	w2 := 2 * w
	parallelFor(planes, 4*h*w, func(p0, p1 int) {
		upsamplePlanes(x, y, p0, p1, h, w, w2)
	})
}

func upsamplePlanes[T float32 | float64](x, y []T, p0, p1, h, w, w2 int) {
	for p := p0; p < p1; p++ {
		for i := 0; i < h; i++ {
			xr := x[(p*h+i)*w : (p*h+i+1)*w]
			r0 := y[(p*2*h+2*i)*w2 : (p*2*h+2*i+1)*w2]
			for j, v := range xr {
				r0[2*j], r0[2*j+1] = v, v
			}
			copy(y[(p*2*h+2*i+1)*w2:(p*2*h+2*i+2)*w2], r0)
		}
	}
}

func (op *upsampleOp) DiffWRT(int) []bool { return []bool{true} }
func (op *upsampleOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{apply(&upsampleGradOp{opBase: newBase("Upsample2xGrad")}, grad)}, nil
}

type upsampleGradOp struct {
	opBase
	out buffer
}

func (op *upsampleGradOp) Arity() int    { return 1 }
func (op *upsampleGradOp) Type() hm.Type { return fnType(4, 4) }
func (op *upsampleGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := shapeOf(in, 0)
	return tensor.Shape{s[0], s[1], s[2] / 2, s[3] / 2}, nil
}
func (op *upsampleGradOp) Do(in ...G.Value) (G.Value, error) {
	s := in[0].Shape()
	dx := op.out.get(in[0].Dtype(), s[0], s[1], s[2]/2, s[3]/2)
	if is32(in[0]) {
		upsampleGrad(sl[float32](in[0]), sl[float32](dx), s[0]*s[1], s[2]/2, s[3]/2)
	} else {
		upsampleGrad(sl[float64](in[0]), sl[float64](dx), s[0]*s[1], s[2]/2, s[3]/2)
	}
	return dx, nil
}

func upsampleGrad[T float32 | float64](dy, dx []T, planes, h, w int) {
	w2 := 2 * w
	parallelFor(planes, 4*h*w, func(p0, p1 int) {
		upsampleGradPlanes(dy, dx, p0, p1, h, w, w2)
	})
}

func upsampleGradPlanes[T float32 | float64](dy, dx []T, p0, p1, h, w, w2 int) {
	for p := p0; p < p1; p++ {
		for i := 0; i < h; i++ {
			r0 := dy[(p*2*h+2*i)*w2:][:w2]
			r1 := dy[(p*2*h+2*i+1)*w2:][:w2]
			d := dx[(p*h+i)*w:][:w]
			for j := range d {
				d[j] = r0[2*j] + r0[2*j+1] + r1[2*j] + r1[2*j+1]
			}
		}
	}
}

// avgPoolAllOp averages [B,C,H,W] over H and W into [B,C]; the gradient
// (avgPoolAllGradOp, inputs x, dy) spreads dy/(H*W) back.
type avgPoolAllOp struct {
	opBase
	out buffer
}

func (op *avgPoolAllOp) Arity() int    { return 1 }
func (op *avgPoolAllOp) Type() hm.Type { return fnType(4, 2) }
func (op *avgPoolAllOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s := shapeOf(in, 0)
	return tensor.Shape{s[0], s[1]}, nil
}
func (op *avgPoolAllOp) Do(in ...G.Value) (G.Value, error) {
	s := in[0].Shape()
	y := op.out.get(in[0].Dtype(), s[0], s[1])
	if is32(in[0]) {
		avgPlanes(sl[float32](in[0]), sl[float32](y), s[2]*s[3])
	} else {
		avgPlanes(sl[float64](in[0]), sl[float64](y), s[2]*s[3])
	}
	return y, nil
}

func avgPlanes[T float32 | float64](x, y []T, plane int) {
	for i := range y {
		s := 0.0
		for _, v := range x[i*plane : (i+1)*plane] {
			s += float64(v)
		}
		y[i] = T(s / float64(plane))
	}
}

func (op *avgPoolAllOp) DiffWRT(int) []bool { return []bool{true} }
func (op *avgPoolAllOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{apply(&avgPoolAllGradOp{opBase: newBase("GlobalAvgPoolGrad")}, in[0], grad)}, nil
}

type avgPoolAllGradOp struct {
	opBase
	out buffer
}

func (op *avgPoolAllGradOp) Arity() int    { return 2 }
func (op *avgPoolAllGradOp) Type() hm.Type { return fnType(4, 2, 4) }
func (op *avgPoolAllGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *avgPoolAllGradOp) Do(in ...G.Value) (G.Value, error) {
	dx := op.out.like(in[0])
	s := in[0].Shape()
	if is32(in[0]) {
		spreadPlanes(sl[float32](in[1]), sl[float32](dx), s[2]*s[3])
	} else {
		spreadPlanes(sl[float64](in[1]), sl[float64](dx), s[2]*s[3])
	}
	return dx, nil
}

func spreadPlanes[T float32 | float64](dy, dx []T, plane int) {
	for i, d := range dy {
		v := d / T(plane)
		p := dx[i*plane : (i+1)*plane]
		for j := range p {
			p[j] = v
		}
	}
}
