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
func im2col[T float32 | float64](g convGeom, x, col []T) { im2colGroup(g, x, col, 1) }

// im2colGroup is im2col of gs consecutive samples x (each c*h*w) side by
// side: sample j fills columns [j*n, (j+1)*n) of the rows of length gs*n,
// so that one GEMM covers the group.
func im2colGroup[T float32 | float64](g convGeom, x, col []T, gs int) {
	n := g.colLen()
	inN := g.c * g.h * g.w
	parallelFor(gs*g.c, g.k*g.k*n, func(i0, i1 int) {
		for i := i0; i < i1; {
			j, c0 := i/g.c, i%g.c
			c1 := min(g.c, c0+i1-i)
			im2colChannels(g, x[j*inN:(j+1)*inN], col[j*n:], gs*n, c0, c1)
			i += c1 - c0
		}
	})
}

// im2colChannels fills channels [c0, c1) of one sample into col, whose
// rows are ld apart.
func im2colChannels[T float32 | float64](g convGeom, x, col []T, ld, c0, c1 int) {
	n := g.colLen()
	if g.s == 1 && g.wo == g.w {
		im2colSame(g, x, col, ld, c0, c1)
		return
	}
	for ch := c0; ch < c1; ch++ {
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((ch*g.k+ki)*g.k+kj)*ld:][:n]
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

// im2colSame is im2colChannels for stride 1 and an output as wide as the
// image (the "same" padding of the hourglass's and ResNet's 3x3 windows,
// and of every input gradient fullGeom computes). There row oh of a
// window offset's plane is image row oh-pad+ki shifted by kj-pad, so the
// rows of one plane that fall inside the image are a single contiguous
// stretch of the image: one copy, then the few columns that the shift
// carried over from the neighbouring row are zeroed. Copying row by row
// made a call per 4-32 values: the hourglass's 16x16 maps (64 channels,
// 8 samples) took 0.6-1.1 ms per im2col, now 0.35-0.4 ms, and its 4x4 to
// 32x32 maps gain 1.35-1.7x.
func im2colSame[T float32 | float64](g convGeom, x, col []T, ld, c0, c1 int) {
	w, n := g.w, g.colLen()
	for ch := c0; ch < c1; ch++ {
		for ki := 0; ki < g.k; ki++ {
			// Output rows [a, b) read image rows a-pad+ki .. b-1-pad+ki.
			a, b := max(0, g.pad-ki), min(g.ho, g.h+g.pad-ki)
			for kj := 0; kj < g.k; kj++ {
				row := col[((ch*g.k+ki)*g.k+kj)*ld:][:n]
				lo, hi := g.validCols(kj)
				if a >= b || lo >= hi { // the window misses the image
					zero(row)
					continue
				}
				// row[i] = x[i+base] for i in rows [a, b), columns [lo, hi).
				base := (ch*g.h-g.pad+ki)*w + kj - g.pad
				i0, i1 := a*w+lo, (b-1)*w+hi
				zero(row[:i0])
				copy(row[i0:i1], x[i0+base:i1+base])
				zero(row[i1:])
				for oh := a; oh < b-1; oh++ { // the carried-over columns
					r := row[oh*w : (oh+2)*w]
					for i := hi; i < w; i++ {
						r[i] = 0
					}
					for i := w; i < w+lo; i++ {
						r[i] = 0
					}
				}
			}
		}
	}
}

// col2im is im2col's transpose: x (zeroed here) accumulates the columns.
func col2im[T float32 | float64](g convGeom, col, x []T) { col2imGroup(g, col, x, 1) }

// col2imGroup is col2im of a group laid out as im2colGroup writes it, into
// gs consecutive samples x.
func col2imGroup[T float32 | float64](g convGeom, col, x []T, gs int) {
	n := g.colLen()
	inN := g.c * g.h * g.w
	parallelFor(gs*g.c, g.k*g.k*n, func(i0, i1 int) {
		for i := i0; i < i1; {
			j, c0 := i/g.c, i%g.c
			c1 := min(g.c, c0+i1-i)
			xj := x[j*inN : (j+1)*inN]
			zero(xj[c0*g.h*g.w : c1*g.h*g.w])
			col2imChannels(g, col[j*n:], xj, gs*n, c0, c1)
			i += c1 - c0
		}
	})
}

func col2imChannels[T float32 | float64](g convGeom, col, x []T, ld, c0, c1 int) {
	n := g.colLen()
	for ch := c0; ch < c1; ch++ {
		for ki := 0; ki < g.k; ki++ {
			for kj := 0; kj < g.k; kj++ {
				row := col[((ch*g.k+ki)*g.k+kj)*ld:][:n]
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

// Per-sample GEMMs are small at the low resolutions of an hourglass or a
// ResNet (an 8x8 map is a 64-column product) and OpenBLAS runs those at a
// fraction of its speed, so there a convolution multiplies a group of
// samples at once: the group's matrices hold the samples side by side,
// each row [rows, gs*n], and gatherSamples/scatterSamples move activations
// between that layout and NCHW. Measured on the hourglass's shapes, a 3x3
// convolution runs twice as fast grouped at 8x8 and a quarter faster at
// 16x16, but not at 32x32, where the copies cost what the larger product
// saves. A 1x1 window, whose column matrix is the sample itself (no copy
// at all ungrouped), gains only below 4x4. So maps of fewer than
// groupBelow columns (groupBelowDirect for 1x1 windows) are grouped, as
// many samples as fit maxGroupElems per matrix; a group of one sample
// needs no copies.
var (
	groupBelow       = 1024
	groupBelowDirect = 16
	maxGroupElems    = 1 << 23
)

// groupSize is the number of samples one GEMM covers: the fewest groups
// under maxGroupElems, balanced.
func (g convGeom) groupSize(batch int) int {
	below := groupBelow
	if g.direct() {
		below = groupBelowDirect
	}
	if g.colLen() >= below {
		return 1
	}
	most := max(1, maxGroupElems/(max(g.colRows(), g.cout)*g.colLen()))
	groups := (batch + most - 1) / most
	return (batch + groups - 1) / groups
}

// gatherSamples copies gs samples src [gs][rows][n] into dst [rows][gs*n].
func gatherSamples[T float32 | float64](src, dst []T, rows, n, gs int) {
	parallelFor(rows, gs*n, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			d := dst[r*gs*n : (r+1)*gs*n]
			for j := 0; j < gs; j++ {
				copy(d[j*n:(j+1)*n], src[(j*rows+r)*n:(j*rows+r+1)*n])
			}
		}
	})
}

// scatterSamples is gatherSamples' inverse, adding bias[r] to row r when
// bias is given.
func scatterSamples[T float32 | float64](src, dst, bias []T, rows, n, gs int) {
	parallelFor(rows, gs*n, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			s := src[r*gs*n : (r+1)*gs*n]
			for j := 0; j < gs; j++ {
				d := dst[(j*rows+r)*n : (j*rows+r+1)*n]
				if bias == nil {
					copy(d, s[j*n:(j+1)*n])
					continue
				}
				bv := bias[r]
				for i, v := range s[j*n : (j+1)*n] {
					d[i] = v + bv
				}
			}
		}
	})
}

// convScratch holds the group matrices of the convolutions of one graph
// in either float type. The graph runs its Ops one at a time, so all its
// convolutions share it.
type convScratch struct {
	f32 [2][]float32
	f64 [2][]float64
}

// scratchBuf returns scratch slot i (0 or 1) with at least n elements.
func scratchBuf[T float32 | float64](s *convScratch, i, n int) []T {
	var z T
	var p *[]T
	if _, ok := any(z).(float32); ok {
		p = any(&s.f32[i]).(*[]T)
	} else {
		p = any(&s.f64[i]).(*[]T)
	}
	if len(*p) < n {
		*p = make([]T, n)
	}
	return (*p)[:n]
}

// toGroupCols returns the group's column matrix [colRows, gs*n] of the
// image-side samples img: im2col in scratch slot 0, or for a 1x1 window
// the samples themselves (one) or gathered side by side.
func toGroupCols[T float32 | float64](g convGeom, img []T, gs int, s *convScratch) []T {
	if g.direct() {
		return toGroup(img, g.c, g.colLen(), gs, s, 0)
	}
	cols := scratchBuf[T](s, 0, g.colRows()*g.colLen()*gs)
	im2colGroup(g, img, cols, gs)
	return cols
}

// toGroup returns gs samples [gs][rows][n] as [rows][gs*n]: the data
// itself for one sample, else gathered into scratch slot i.
func toGroup[T float32 | float64](x []T, rows, n, gs int, s *convScratch, i int) []T {
	if gs == 1 {
		return x[:rows*n]
	}
	d := scratchBuf[T](s, i, rows*n*gs)
	gatherSamples(x, d, rows, n, gs)
	return d
}

// groupOut is where a GEMM writes a group result of rows x gs*n that
// belongs in dst [gs][rows][n]: dst itself for one sample, else scratch
// slot i (fromGroup then moves it).
func groupOut[T float32 | float64](dst []T, rows, n, gs int, s *convScratch, i int) []T {
	if gs == 1 {
		return dst[:rows*n]
	}
	return scratchBuf[T](s, i, rows*n*gs)
}

// fromGroup moves a group result written to groupOut into dst, adding a
// per-row bias when given.
func fromGroup[T float32 | float64](out, dst, bias []T, rows, n, gs int) {
	if gs == 1 {
		if bias != nil {
			addBias(dst[:rows*n], bias)
		}
		return
	}
	scatterSamples(out, dst, bias, rows, n, gs)
}

// addBias adds bias[r] to row r of one sample y [len(bias)][...].
func addBias[T float32 | float64](y, bias []T) {
	plane := len(y) / len(bias)
	for r, bv := range bias {
		p := y[r*plane : (r+1)*plane]
		for i := range p {
			p[i] += bv
		}
	}
}

// fromGroupCols writes a group column matrix [colRows, gs*n] back to the
// image-side samples img: col2im, or for a 1x1 window a scatter.
func fromGroupCols[T float32 | float64](g convGeom, cols, img []T, gs int) {
	if g.direct() {
		fromGroup(cols, img, nil, g.c, g.colLen(), gs)
		return
	}
	col2imGroup(g, cols, img, gs)
}

// groupColsOut is where a GEMM writes a group column matrix that
// fromGroupCols then moves to img.
func groupColsOut[T float32 | float64](g convGeom, img []T, gs int, s *convScratch) []T {
	if g.direct() {
		return groupOut(img, g.c, g.colLen(), gs, s, 0)
	}
	return scratchBuf[T](s, 0, g.colRows()*g.colLen()*gs)
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
	scratch *convScratch // the graph's
	noDX    bool         // x is a graph input nobody asked the gradient of
}

func newConv(g convGeom, bias bool, in, out []int, scratch *convScratch) *convOp {
	name := "Conv2d"
	if g.transposed {
		name = "ConvTranspose2d"
	}
	return &convOp{opBase: newBase("%s(k%d s%d p%d)", name, g.k, g.s, g.pad), g: g, bias: bias, inShape: in, outShp: out, scratch: scratch}
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
	g, s := op.g, op.scratch
	if !g.transposed {
		conv(g, s, x, w, bias, y)
		return
	}
	inN, outN := prod(op.inShape), prod(op.outShp)
	batch := len(x) / inN
	n, gsMax := g.colLen(), g.groupSize(batch)
	for b := 0; b < batch; b += gsMax {
		gs := min(gsMax, batch-b)
		xg, yg := x[b*inN:(b+gs)*inN], y[b*outN:(b+gs)*outN]
		ld := gs * n
		// cols [CoutKK, gs*HiWi] = W^T (W [Cin, CoutKK]) @ x [Cin, gs*HiWi]; y = col2im(cols)
		xm := toGroup(xg, g.cout, n, gs, s, 1)
		cols := groupColsOut(g, yg, gs, s)
		gemm(true, false, g.colRows(), ld, g.cout, 1, w, g.colRows(), xm, ld, 0, cols, ld)
		fromGroupCols(g, cols, yg, gs)
		if bias != nil {
			for j := 0; j < gs; j++ {
				addBias(yg[j*outN:(j+1)*outN], bias)
			}
		}
	}
}

// conv is the convolution (not transposed) of the batch x [B, C, H, W]
// with w [Out, C, K, K] into y [B, Out, Ho, Wo], plus bias when given.
func conv[T float32 | float64](g convGeom, s *convScratch, x, w, bias, y []T) {
	inN, outN := g.c*g.h*g.w, g.cout*g.ho*g.wo
	batch := len(x) / inN
	n, gsMax := g.colLen(), g.groupSize(batch)
	for b := 0; b < batch; b += gsMax {
		gs := min(gsMax, batch-b)
		xg, yg := x[b*inN:(b+gs)*inN], y[b*outN:(b+gs)*outN]
		ld := gs * n
		// y [Out, gs*HoWo] = W [Out, CKK] @ cols [CKK, gs*HoWo]
		cols := toGroupCols(g, xg, gs, s)
		out := groupOut(yg, g.cout, n, gs, s, 1)
		gemm(false, false, g.cout, ld, g.colRows(), 1, w, g.colRows(), cols, ld, 0, out, ld)
		fromGroup(out, yg, bias, g.cout, n, gs)
	}
}

// fullGeom is the geometry of a stride-1 convolution's input gradient
// computed as a convolution: dx = conv(dy, W flipped in space with the
// channel axes swapped, padding k-1-pad). Its GEMM has the forward's
// shape (out x, reading an im2col of dy), where the default way (W^T @ dy
// into a column matrix, then col2im) writes a K*K times larger matrix and
// reads it back: at 32x32 the col2im alone took a quarter of the time.
// ok is false where that does not apply (strides, 1x1 windows, padding
// past k-1).
func (g convGeom) fullGeom() (f convGeom, ok bool) {
	if g.transposed || g.s != 1 || g.direct() || g.pad > g.k-1 {
		return g, false
	}
	return convGeom{c: g.cout, h: g.ho, w: g.wo, k: g.k, s: 1, pad: g.k - 1 - g.pad, ho: g.h, wo: g.w, cout: g.c}, true
}

// minFullDX is the smallest image (h*w) whose input gradient takes
// fullGeom: below 8x8 flipping the weights and the im2col of dy cost
// about what the smaller matrices save (at 2x2 more). With im2colSame the
// 8x8 maps gain too: a 3x3, 64-channel input gradient of 8 samples took
// 0.71 ms of CPU instead of 1.1-1.3 (one thread each, this machine).
var minFullDX = 64

// flipWeights writes wf [C, Out, K, K] with wf[c][o][i][j] = w[o][c][k-1-i][k-1-j].
func flipWeights[T float32 | float64](w, wf []T, out, c, k int) {
	kk := k * k
	for o := 0; o < out; o++ {
		for ch := 0; ch < c; ch++ {
			src, dst := w[(o*c+ch)*kk:][:kk], wf[(ch*out+o)*kk:][:kk]
			for i, v := range src {
				dst[kk-1-i] = v
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
	r[0] = !op.noDX
	return r
}
func (op *convOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	var dx *G.Node // gorgonia would run a gradient Op nobody reads
	if !op.noDX {
		dx = apply(&convGradOp{opBase: newBase("%sDX", op.name), fwd: op, wrt: 0}, grad, in[1])
	}
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
	fwd   *convOp
	wrt   int
	out   buffer
	wflip convScratch // the flipped weights of fullGeom (slot 0)
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
	g, s := op.fwd.g, op.fwd.scratch
	inN, outN := prod(op.fwd.inShape), prod(op.fwd.outShp)
	batch := len(dy) / outN
	n, gsMax := g.colLen(), g.groupSize(batch)
	for b := 0; b < batch; b += gsMax {
		gs := min(gsMax, batch-b)
		dyg := dy[b*outN : (b+gs)*outN]
		ld := gs * n
		beta := T(min(b, 1)) // dW accumulates over the groups
		switch {
		case !g.transposed && op.wrt == 0: // dx = col2im(W^T @ dy)
			if f, ok := g.fullGeom(); ok && g.h*g.w >= minFullDX {
				wf := scratchBuf[T](&op.wflip, 0, len(other))
				flipWeights(other, wf, g.cout, g.c, g.k)
				conv(f, s, dy, wf, nil, r)
				return
			}
			dxg := r[b*inN : (b+gs)*inN]
			dym := toGroup(dyg, g.cout, n, gs, s, 1)
			cols := groupColsOut(g, dxg, gs, s)
			gemm(true, false, g.colRows(), ld, g.cout, 1, other, g.colRows(), dym, ld, 0, cols, ld)
			fromGroupCols(g, cols, dxg, gs)
		case !g.transposed: // dW += dy [Out, gs*HoWo] @ im2col(x)^T
			dym := toGroup(dyg, g.cout, n, gs, s, 1)
			cols := toGroupCols(g, other[b*inN:(b+gs)*inN], gs, s)
			gemm(false, true, g.cout, g.colRows(), ld, 1, dym, ld, cols, ld, beta, r, g.colRows())
		case op.wrt == 0: // dx [Cin, gs*HiWi] = W [Cin, CoutKK] @ im2col(dy)
			dxg := r[b*inN : (b+gs)*inN]
			cols := toGroupCols(g, dyg, gs, s)
			out := groupOut(dxg, g.cout, n, gs, s, 1)
			gemm(false, false, g.cout, ld, g.colRows(), 1, other, g.colRows(), cols, ld, 0, out, ld)
			fromGroup(out, dxg, nil, g.cout, n, gs)
		default: // dW [Cin, CoutKK] += x [Cin, gs*HiWi] @ im2col(dy)^T
			xm := toGroup(other[b*inN:(b+gs)*inN], g.cout, n, gs, s, 1)
			cols := toGroupCols(g, dyg, gs, s)
			gemm(false, true, g.cout, g.colRows(), ld, 1, xm, ld, cols, ld, beta, r, g.colRows())
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
	parallelFor(c, b*inner, func(c0, c1 int) {
		for ch := c0; ch < c1; ch++ {
			s := 0.0
			for i := 0; i < b; i++ {
				s += sum4(x[(i*c+ch)*inner : (i*c+ch+1)*inner])
			}
			r[ch] = T(s)
		}
	})
}
