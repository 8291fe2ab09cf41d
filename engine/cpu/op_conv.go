package cpu

import (
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Convolutions are GEMMs on im2col matrices, one sample at a time. A
// convolution and its transpose share one geometry: the "image" side
// (c, h, w) and the "column" side (ho, wo) of a K x K window moved with
// stride s over the image padded by pad. Conv2d maps image -> columns
// (forward: W @ im2col(x)); ConvTranspose2d maps columns -> image
// (forward: col2im(W^T @ x)), which is exactly the backward of a
// convolution, so each one's backward is the other's forward.
type convGeom struct {
	c, h, w    int // image side channels and size
	k, s, pad  int
	ho, wo     int // column side size
	cout       int // channels on the other side
	transposed bool
}

// weightShape is [Out,C,K,K] for a convolution and [C,Out,K,K] for a
// transposed one: in both, the other side's channels come first.
func (g convGeom) weightShape() tensor.Shape { return tensor.Shape{g.cout, g.c, g.k, g.k} }

func (g convGeom) colRows() int { return g.c * g.k * g.k }
func (g convGeom) colLen() int  { return g.ho * g.wo }

// direct reports a 1x1, stride 1, unpadded window, whose im2col matrix is
// the image itself.
func (g convGeom) direct() bool { return g.k == 1 && g.s == 1 && g.pad == 0 }

// validCols is the range [lo, hi) of output columns ow whose input column
// ow*s - pad + kj lies inside the image: the im2col and col2im loops copy
// that range without a test per element and zero (or skip) the rest.
func (g convGeom) validCols(kj int) (lo, hi int) {
	if d := g.pad - kj; d > 0 {
		lo = (d + g.s - 1) / g.s
	}
	if e := g.w - 1 - kj + g.pad; e >= 0 {
		hi = min(e/g.s+1, g.wo)
	}
	return min(lo, hi), hi
}

// im2col writes col[(ch*k+ki)*k+kj][oh*wo+ow] = x[ch][oh*s-pad+ki][ow*s-pad+kj] (0 outside).
func im2col[T float32 | float64](g convGeom, x, col []T) {
	n := g.colLen()
	parallelFor(g.c, g.k*g.k*n, func(c0, c1 int) {
		im2colChannels(g, x, col, n, c0, c1)
	})
}

func im2colChannels[T float32 | float64](g convGeom, x, col []T, n, c0, c1 int) {
	for ch := c0; ch < c1; ch++ {
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((ch*g.k+ki)*g.k+kj)*n:][:n]
				lo, hi := g.validCols(kj)
				off := kj - g.pad
				for oh := 0; oh < g.ho; oh++ {
					r := row[oh*g.wo : (oh+1)*g.wo]
					ih := oh*g.s - g.pad + ki
					if ih < 0 || ih >= g.h {
						zero(r)
						continue
					}
					xr := x[(ch*g.h+ih)*g.w:][:g.w]
					for i := 0; i < lo; i++ { // a few columns: a loop, not a memclr call
						r[i] = 0
					}
					for i := hi; i < len(r); i++ {
						r[i] = 0
					}
					if g.s == 1 && lo < hi {
						copy(r[lo:hi], xr[lo+off:hi+off])
						continue
					}
					for ow := lo; ow < hi; ow++ {
						r[ow] = xr[ow*g.s+off]
					}
				}
			}
		}
	}
}

// col2im is im2col's transpose: x (zeroed here) accumulates the columns.
func col2im[T float32 | float64](g convGeom, col, x []T) {
	n := g.colLen()
	parallelFor(g.c, g.k*g.k*n, func(c0, c1 int) {
		zero(x[c0*g.h*g.w : c1*g.h*g.w])
		col2imChannels(g, col, x, n, c0, c1)
	})
}

func col2imChannels[T float32 | float64](g convGeom, col, x []T, n, c0, c1 int) {
	for ch := c0; ch < c1; ch++ {
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((ch*g.k+ki)*g.k+kj)*n:][:n]
				lo, hi := g.validCols(kj)
				off := kj - g.pad
				for oh := 0; oh < g.ho; oh++ {
					ih := oh*g.s - g.pad + ki
					if ih < 0 || ih >= g.h {
						continue
					}
					r := row[oh*g.wo : (oh+1)*g.wo]
					xr := x[(ch*g.h+ih)*g.w:][:g.w]
					if g.s == 1 && lo < hi {
						dst := xr[lo+off : hi+off]
						for i, v := range r[lo:hi] {
							dst[i] += v
						}
						continue
					}
					for ow := lo; ow < hi; ow++ {
						xr[ow*g.s+off] += r[ow]
					}
				}
			}
		}
	}
}

// toCols returns im2col(img) in scratch, or img itself for 1x1 windows.
func toCols[T float32 | float64](g convGeom, img []T, scratch *[]T) []T {
	if g.direct() {
		return img
	}
	if len(*scratch) < g.colRows()*g.colLen() {
		*scratch = make([]T, g.colRows()*g.colLen())
	}
	im2col(g, img, *scratch)
	return *scratch
}

// fromCols writes the image of columns col into img (col2im, or a copy).
func fromCols[T float32 | float64](g convGeom, col, img []T) {
	if g.direct() {
		copy(img, col[:len(img)])
		return
	}
	col2im(g, col, img)
}

func colScratch[T float32 | float64](g convGeom, scratch *[]T) []T {
	if len(*scratch) < g.colRows()*g.colLen() {
		*scratch = make([]T, g.colRows()*g.colLen())
	}
	return *scratch
}

// convScratch holds an Op's im2col matrix in either float type.
type convScratch struct {
	f32 []float32
	f64 []float64
}

func scratchOf[T float32 | float64](s *convScratch) *[]T {
	var z T
	if _, ok := any(z).(float32); ok {
		return any(&s.f32).(*[]T)
	}
	return any(&s.f64).(*[]T)
}

// convOp is Conv2d (W [Out,C,K,K]) or ConvTranspose2d (W [C,Out,K,K]),
// NCHW, with optional bias [Out]. Inputs x, W[, b].
type convOp struct {
	opBase
	g       convGeom
	bias    bool
	inShape []int // per sample
	outShp  []int // per sample
	out     buffer
	scratch convScratch
}

func newConv(g convGeom, bias bool, in, out []int) *convOp {
	name := "Conv2d"
	if g.transposed {
		name = "ConvTranspose2d"
	}
	return &convOp{opBase: newBase("%s(k%d s%d p%d)", name, g.k, g.s, g.pad), g: g, bias: bias, inShape: in, outShp: out}
}

func (op *convOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}
func (op *convOp) Type() hm.Type {
	if op.bias {
		return fnType(4, 4, 1, 4)
	}
	return fnType(4, 4, 4)
}
func (op *convOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return batchShape(shapeOf(in, 0)[0], op.outShp), nil
}

func (op *convOp) Do(in ...G.Value) (G.Value, error) {
	y := op.out.get(in[0].Dtype(), batchShape(in[0].Shape()[0], op.outShp)...)
	var bias G.Value
	if op.bias {
		bias = in[2]
	}
	if is32(in[0]) {
		convForward(op, sl[float32](in[0]), sl[float32](in[1]), biasOf[float32](bias), sl[float32](y))
	} else {
		convForward(op, sl[float64](in[0]), sl[float64](in[1]), biasOf[float64](bias), sl[float64](y))
	}
	return y, nil
}

func biasOf[T float32 | float64](v G.Value) []T {
	if v == nil {
		return nil
	}
	return sl[T](v)
}

func convForward[T float32 | float64](op *convOp, x, w, bias, y []T) {
	g := op.g
	inN, outN := prod(op.inShape), prod(op.outShp)
	batch := len(x) / inN
	scratch := scratchOf[T](&op.scratch)
	for b := 0; b < batch; b++ {
		xb, yb := x[b*inN:(b+1)*inN], y[b*outN:(b+1)*outN]
		if !g.transposed {
			// y_b [Out, HoWo] = W [Out, CKK] @ cols [CKK, HoWo]
			cols := toCols(g, xb, scratch)
			gemm(false, false, g.cout, g.colLen(), g.colRows(), 1, w, g.colRows(), cols, g.colLen(), 0, yb, g.colLen())
		} else {
			// cols [CoutKK, HiWi] = W^T (W [Cin, CoutKK]) @ x_b [Cin, HiWi]; y_b = col2im(cols)
			cols := colScratch(g, scratch)
			if g.direct() {
				cols = yb
			}
			gemm(true, false, g.colRows(), g.colLen(), g.cout, 1, w, g.colRows(), xb, g.colLen(), 0, cols, g.colLen())
			if !g.direct() {
				col2im(g, cols, yb)
			}
		}
		if bias != nil {
			plane := outN / len(bias)
			for ch, bv := range bias {
				p := yb[ch*plane : (ch+1)*plane]
				for i := range p {
					p[i] += bv
				}
			}
		}
	}
}

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func (op *convOp) DiffWRT(n int) []bool {
	r := make([]bool, n)
	for i := range r {
		r[i] = true
	}
	return r
}
func (op *convOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	dx := apply(&convGradOp{opBase: newBase("%sDX", op.name), fwd: op, wrt: 0}, grad, in[1])
	dw := apply(&convGradOp{opBase: newBase("%sDW", op.name), fwd: op, wrt: 1}, grad, in[0])
	r := G.Nodes{dx, dw}
	if op.bias {
		r = append(r, apply(&chanSumOp{opBase: newBase("ChannelSum")}, grad))
	}
	return r, nil
}

// convGradOp is a convolution's dx (wrt 0, inputs dy, W) or dW (wrt 1,
// inputs dy, x).
type convGradOp struct {
	opBase
	fwd     *convOp
	wrt     int
	out     buffer
	scratch convScratch
}

func (op *convGradOp) Arity() int    { return 2 }
func (op *convGradOp) Type() hm.Type { return fnType(4, 4, 4) }
func (op *convGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	if op.wrt == 0 {
		return batchShape(shapeOf(in, 0)[0], op.fwd.inShape), nil
	}
	return op.fwd.g.weightShape(), nil
}
func (op *convGradOp) Do(in ...G.Value) (G.Value, error) {
	var r *tensor.Dense
	if op.wrt == 0 {
		r = op.out.get(in[0].Dtype(), batchShape(in[0].Shape()[0], op.fwd.inShape)...)
	} else {
		r = op.out.get(in[0].Dtype(), op.fwd.g.weightShape()...)
	}
	if is32(in[0]) {
		convBackward(op, sl[float32](in[0]), sl[float32](in[1]), sl[float32](r))
	} else {
		convBackward(op, sl[float64](in[0]), sl[float64](in[1]), sl[float64](r))
	}
	return r, nil
}

func convBackward[T float32 | float64](op *convGradOp, dy, other, r []T) {
	g := op.fwd.g
	inN, outN := prod(op.fwd.inShape), prod(op.fwd.outShp)
	batch := len(dy) / outN
	scratch := scratchOf[T](&op.scratch)
	for b := 0; b < batch; b++ {
		dyb := dy[b*outN : (b+1)*outN]
		switch {
		case !g.transposed && op.wrt == 0: // dx_b = col2im(W^T @ dy_b)
			dxb := r[b*inN : (b+1)*inN]
			cols := colScratch(g, scratch)
			if g.direct() {
				cols = dxb
			}
			gemm(true, false, g.colRows(), g.colLen(), g.cout, 1, other, g.colRows(), dyb, g.colLen(), 0, cols, g.colLen())
			if !g.direct() {
				col2im(g, cols, dxb)
			}
		case !g.transposed: // dW += dy_b [Out, HoWo] @ im2col(x_b)^T
			cols := toCols(g, other[b*inN:(b+1)*inN], scratch)
			gemm(false, true, g.cout, g.colRows(), g.colLen(), 1, dyb, g.colLen(), cols, g.colLen(), T(min(b, 1)), r, g.colRows())
		case op.wrt == 0: // dx_b [Cin, HiWi] = W [Cin, CoutKK] @ im2col(dy_b)
			cols := toCols(g, dyb, scratch)
			gemm(false, false, g.cout, g.colLen(), g.colRows(), 1, other, g.colRows(), cols, g.colLen(), 0, r[b*inN:(b+1)*inN], g.colLen())
		default: // dW [Cin, CoutKK] += x_b [Cin, HiWi] @ im2col(dy_b)^T
			cols := toCols(g, dyb, scratch)
			gemm(false, true, g.cout, g.colRows(), g.colLen(), 1, other[b*inN:(b+1)*inN], g.colLen(), cols, g.colLen(), T(min(b, 1)), r, g.colRows())
		}
	}
}

// chanSumOp sums [B,C,H,W] over B, H and W: a convolution's bias gradient.
type chanSumOp struct {
	opBase
	out buffer
}

func (op *chanSumOp) Arity() int    { return 1 }
func (op *chanSumOp) Type() hm.Type { return fnType(4, 1) }
func (op *chanSumOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in, 0)[1]}, nil
}
func (op *chanSumOp) Do(in ...G.Value) (G.Value, error) {
	s := in[0].Shape()
	r := op.out.get(in[0].Dtype(), s[1])
	if is32(in[0]) {
		chanSum(sl[float32](in[0]), sl[float32](r), s[0], s[1], s[2]*s[3])
	} else {
		chanSum(sl[float64](in[0]), sl[float64](r), s[0], s[1], s[2]*s[3])
	}
	return r, nil
}

func chanSum[T float32 | float64](x, r []T, b, c, inner int) {
	for ch := range r {
		s := 0.0
		for i := 0; i < b; i++ {
			for _, v := range x[(i*c+ch)*inner : (i*c+ch+1)*inner] {
				s += float64(v)
			}
		}
		r[ch] = T(s)
	}
}
