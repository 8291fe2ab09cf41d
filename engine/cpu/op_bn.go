package cpu

import (
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// bnShared is one BatchNorm layer's running statistics (the program's
// buffer tensors, shared by the training and evaluation graphs) and the
// program's switch for updating them.
type bnShared struct {
	mean, vari *tensor.Dense
	eps, mom   float64
	update     *bool // TrainStep updates the statistics, Gradients does not
}

// bnTrainOp normalises with the batch statistics over B (and H, W), as
// PyTorch's BatchNorm1d/2d in training mode: biased variance for the
// normalisation, unbiased for the running variance, momentum mom.
// Inputs x [B,C] or [B,C,H,W], gamma [C], beta [C].
type bnTrainOp struct {
	opBase
	st          *bnShared
	dims        int
	relu        bool // output max(y, 0): the ReLU after it is fused in
	out         buffer
	mean, istd  []float64
	dgamma, dbt []float64 // filled by the backward op
	coef        []float64 // backward scratch
}

func (op *bnTrainOp) Arity() int    { return 3 }
func (op *bnTrainOp) Type() hm.Type { return fnType(op.dims, 1, 1, op.dims) }
func (op *bnTrainOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}

// bnGeom is (batch, channels, inner size) of an input shape.
func bnGeom(s tensor.Shape) (b, c, inner int) {
	inner = 1
	for _, d := range s[2:] {
		inner *= d
	}
	return s[0], s[1], inner
}

func (op *bnTrainOp) Do(in ...G.Value) (G.Value, error) {
	x := in[0]
	b, c, inner := bnGeom(x.Shape())
	y := op.out.like(x)
	if len(op.mean) != c {
		op.mean, op.istd = make([]float64, c), make([]float64, c)
		op.dgamma, op.dbt = make([]float64, c), make([]float64, c)
		op.coef = make([]float64, 3*c)
	}
	if is32(x) {
		bnForward(sl[float32](x), sl[float32](y), sl[float32](in[1]), sl[float32](in[2]), op.mean, op.istd, b, c, inner, op.st.eps, op.relu)
	} else {
		bnForward(sl[float64](x), sl[float64](y), sl[float64](in[1]), sl[float64](in[2]), op.mean, op.istd, b, c, inner, op.st.eps, op.relu)
	}
	if *op.st.update {
		if is32(x) {
			bnRunning(sl[float32](op.st.mean), sl[float32](op.st.vari), op.mean, op.istd, op.st, b*inner)
		} else {
			bnRunning(sl[float64](op.st.mean), sl[float64](op.st.vari), op.mean, op.istd, op.st, b*inner)
		}
	}
	return y, nil
}

// bnRunning folds a batch's statistics into the running ones with
// PyTorch's momentum convention, using the unbiased variance.
func bnRunning[T float32 | float64](rm, rv []T, mean, istd []float64, st *bnShared, n int) {
	unbias := float64(n) / math.Max(float64(n-1), 1)
	for ch := range rm {
		v := 1/(istd[ch]*istd[ch]) - st.eps
		rm[ch] = T((1-st.mom)*float64(rm[ch]) + st.mom*mean[ch])
		rv[ch] = T((1-st.mom)*float64(rv[ch]) + st.mom*v*unbias)
	}
}

// bnForward computes the batch statistics and normalises. On images each
// core takes whole channels and normalises a channel right after its
// statistics, while its planes are still in cache: the whole batch's
// activation does not fit, and normalising it in a second sweep read it
// from memory again.
func bnForward[T float32 | float64](x, y, gamma, beta []T, mean, istd []float64, b, c, inner int, eps float64, relu bool) {
	if inner == 1 {
		bnStats(x, mean, istd, b, c, inner, eps)
		bnNormalise(x, y, gamma, beta, mean, istd, b, c, relu)
		return
	}
	parallelFor(c, 2*b*inner, func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			bnStatsChannels(x, mean, istd, b, c, inner, eps, ch, ch+1)
			bnNormaliseChannel(x, y, gamma, beta, mean, istd, b, c, inner, relu, ch)
		}
	})
}

// bnStats computes per-channel mean and 1/sqrt(biased var + eps) in two
// passes with float64 sums, channels split over the cores.
func bnStats[T float32 | float64](x []T, mean, istd []float64, b, c, inner int, eps float64) {
	parallelFor(c, b*inner, func(lo, hi int) { bnStatsChannels(x, mean, istd, b, c, inner, eps, lo, hi) })
}

// bnStatsChannels is bnStats for channels [lo, hi).
func bnStatsChannels[T float32 | float64](x []T, mean, istd []float64, b, c, inner int, eps float64, lo, hi int) {
	n := float64(b * inner)
	m, v := mean[lo:hi], istd[lo:hi]
	for k := range m {
		m[k], v[k] = 0, 0
	}
	if inner == 1 {
		for i := 0; i < b; i++ {
			for k, x := range x[i*c+lo : i*c+hi] {
				m[k] += float64(x)
			}
		}
		for k := range m {
			m[k] /= n
		}
		for i := 0; i < b; i++ {
			for k, x := range x[i*c+lo : i*c+hi] {
				d := float64(x) - m[k]
				v[k] += d * d
			}
		}
	} else {
		for k := range m {
			ch := lo + k
			s := 0.0
			for i := 0; i < b; i++ {
				s += sum4(x[(i*c+ch)*inner : (i*c+ch+1)*inner])
			}
			m[k] = s / n
			s = 0
			for i := 0; i < b; i++ {
				s += sqDev4(x[(i*c+ch)*inner:(i*c+ch+1)*inner], m[k])
			}
			v[k] = s
		}
	}
	for k := range v {
		v[k] = 1 / math.Sqrt(v[k]/n+eps)
	}
}

// The per-channel sums run four float64 accumulators: with one, each add
// waits for the previous (a 4-cycle chain per element), which made the
// statistics cost more than normalising.

// sum4 is the sum of x in float64.
func sum4[T float32 | float64](x []T) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sqDev4 is the sum of (x-m)^2 in float64.
func sqDev4[T float32 | float64](x []T, m float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		d0, d1, d2, d3 := float64(v[0])-m, float64(v[1])-m, float64(v[2])-m, float64(v[3])-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(x); i++ {
		d := float64(x[i]) - m
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// sumDotXhat4 is the sum of a and the dot product of a and xhat =
// (x-m)*s (computed in T as bnNormalise does), in float64.
func sumDotXhat4[T float32 | float64](a, x []T, m, s T) (sum, dot float64) {
	x = x[:len(a)]
	var s0, s1, s2, s3, d0, d1, d2, d3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		v, w := a[i:i+4:i+4], x[i:i+4:i+4]
		h0, h1, h2, h3 := (w[0]-m)*s, (w[1]-m)*s, (w[2]-m)*s, (w[3]-m)*s
		s0 += float64(v[0])
		s1 += float64(v[1])
		s2 += float64(v[2])
		s3 += float64(v[3])
		d0 += float64(v[0]) * float64(h0)
		d1 += float64(v[1]) * float64(h1)
		d2 += float64(v[2]) * float64(h2)
		d3 += float64(v[3]) * float64(h3)
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i])
		d0 += float64(a[i]) * float64((x[i]-m)*s)
	}
	return (s0 + s1) + (s2 + s3), (d0 + d1) + (d2 + d3)
}

// maskSumDotXhat writes a = dy where y > 0, else 0 (the fused ReLU's
// gradient), into a and returns sumDotXhat4(a, x, m, s), in one pass.
func maskSumDotXhat[T float32 | float64](y, dy, a, x []T, m, s T) (sum, dot float64) {
	switch y := any(y).(type) {
	case []float32:
		return maskSumDotXhat32(y, any(dy).([]float32), any(a).([]float32), any(x).([]float32), float32(m), float32(s))
	case []float64:
		maskInto(y, any(dy).([]float64), any(a).([]float64))
		return sumDotXhat4(any(a).([]float64), any(x).([]float64), float64(m), float64(s))
	}
	panic("unreachable")
}

func maskSumDotXhat32(y, dy, a, x []float32, m, s float32) (sum, dot float64) {
	dy, a, x = dy[:len(y)], a[:len(y)], x[:len(y)]
	var s0, s1, d0, d1 float64
	i := 0
	for ; i+2 <= len(y); i += 2 {
		v0 := math.Float32frombits(math.Float32bits(dy[i]) & keep32(y[i]))
		v1 := math.Float32frombits(math.Float32bits(dy[i+1]) & keep32(y[i+1]))
		a[i], a[i+1] = v0, v1
		s0 += float64(v0)
		s1 += float64(v1)
		d0 += float64(v0) * float64((x[i]-m)*s)
		d1 += float64(v1) * float64((x[i+1]-m)*s)
	}
	for ; i < len(y); i++ {
		v := math.Float32frombits(math.Float32bits(dy[i]) & keep32(y[i]))
		a[i] = v
		s0 += float64(v)
		d0 += float64(v) * float64((x[i]-m)*s)
	}
	return s0 + s1, d0 + d1
}

// bnNormalise writes y = gamma*xhat + beta with xhat = (x-mean)*istd (then
// max(y, 0) with relu) for vectors (inner 1), samples split over the
// cores. xhat is not kept: the backward recomputes it from x with the same
// operations, which costs less than writing it to memory and reading it
// back.
func bnNormalise[T float32 | float64](x, y, gamma, beta []T, mean, istd []float64, b, c int, relu bool) {
	parallelFor(b, c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xs, ys := x[i*c:(i+1)*c], y[i*c:(i+1)*c]
			for ch, v := range xs {
				h := (v - T(mean[ch])) * T(istd[ch])
				ys[ch] = gamma[ch]*h + beta[ch]
			}
			if relu {
				reluInPlace(ys)
			}
		}
	})
}

// bnNormaliseChannel is bnNormalise for channel ch of images.
func bnNormaliseChannel[T float32 | float64](x, y, gamma, beta []T, mean, istd []float64, b, c, inner int, relu bool, ch int) {
	m, s, g, bt := T(mean[ch]), T(istd[ch]), gamma[ch], beta[ch]
	for i := 0; i < b; i++ {
		o := (i*c + ch) * inner
		xs, ys := x[o:o+inner], y[o:o+inner]
		if x32, ok := any(xs).([]float32); ok && relu {
			normaliseReLU32(x32, any(ys).([]float32), float32(m), float32(s), float32(g), float32(bt))
			continue
		}
		for k, v := range xs {
			h := (v - m) * s
			ys[k] = g*h + bt
		}
		if relu {
			reluInPlace(ys) // the plane is still in cache
		}
	}
}

// normaliseReLU32 is y = max(g*(x-m)*s + bt, 0) in one loop, as the
// normalisation followed by reluBits32.
func normaliseReLU32(x, y []float32, m, s, g, bt float32) {
	y = y[:len(x)]
	for k, v := range x {
		z := g*((v-m)*s) + bt
		y[k] = math.Float32frombits(math.Float32bits(z) & keep32(z))
	}
}

// reluInPlace is y = max(y, 0) as the ReLU Op computes it.
func reluInPlace[T float32 | float64](y []T) {
	switch y := any(y).(type) {
	case []float32:
		reluBits32(y, y)
	case []float64:
		reluBits64(y, y)
	}
}

// maskInto is dx = dy where y > 0, else 0, as the ReLU's gradient.
func maskInto[T float32 | float64](y, dy, dx []T) {
	switch y := any(y).(type) {
	case []float32:
		passWhere32(y, any(dy).([]float32), nil, any(dx).([]float32))
	case []float64:
		passWhere64(y, any(dy).([]float64), nil, any(dx).([]float64))
	}
}

func (op *bnTrainOp) DiffWRT(int) []bool { return []bool{true, true, true} }
func (op *bnTrainOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	dx := apply(&bnGradOp{opBase: newBase("BatchNormDX"), fwd: op}, in[1], out, grad, in[0])
	dg := apply(&bnParamGradOp{opBase: newBase("BatchNormDGamma"), fwd: op, beta: false}, dx)
	db := apply(&bnParamGradOp{opBase: newBase("BatchNormDBeta"), fwd: op, beta: true}, dx)
	return G.Nodes{dx, dg, db}, nil
}

// bnGradOp is dx = gamma*istd*(dy - mean(dy) - xhat*mean(dy*xhat)); on the
// way it sums dgamma = sum(dy*xhat) and dbeta = sum(dy) into the forward
// Op, where the two bnParamGradOps (which take dx to run after it) read
// them. Inputs gamma, y (for ordering, and with a fused ReLU to mask dy
// where y = 0), dy, x.
type bnGradOp struct {
	opBase
	fwd *bnTrainOp
	out buffer
}

func (op *bnGradOp) Arity() int { return 4 }
func (op *bnGradOp) Type() hm.Type {
	return fnType(1, op.fwd.dims, op.fwd.dims, op.fwd.dims, op.fwd.dims)
}
func (op *bnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 2).Clone(), nil
}
func (op *bnGradOp) Do(in ...G.Value) (G.Value, error) {
	dy := in[2]
	b, c, inner := bnGeom(dy.Shape())
	dx := op.out.like(dy)
	f := op.fwd
	if is32(dy) {
		var y []float32
		if f.relu {
			y = sl[float32](in[1])
		}
		bnBackward(sl[float32](dy), y, sl[float32](in[3]), sl[float32](in[0]), sl[float32](dx), f.mean, f.istd, f.dgamma, f.dbt, f.coef, b, c, inner)
	} else {
		var y []float64
		if f.relu {
			y = sl[float64](in[1])
		}
		bnBackward(sl[float64](dy), y, sl[float64](in[3]), sl[float64](in[0]), sl[float64](dx), f.mean, f.istd, f.dgamma, f.dbt, f.coef, b, c, inner)
	}
	return dx, nil
}

// bnBackward writes dx for dy, recomputing xhat from x as bnNormalise
// did. With a fused ReLU (y, its output, not nil) the first pass writes dy
// masked where y = 0 into dx, and the second reads it from there.
func bnBackward[T float32 | float64](dy, y, x, gamma, dx []T, mean, istd, dgamma, dbeta, coef []float64, b, c, inner int) {
	n := float64(b * inner)
	if inner > 1 {
		// Each core takes whole channels and runs both passes over a
		// channel while its planes are in cache, as bnForward.
		parallelFor(c, 2*b*inner, func(lo, hi int) {
			src := dy
			if y != nil {
				src = dx // masked; the second pass reads each element before writing it
			}
			for ch := lo; ch < hi; ch++ {
				m, s := T(mean[ch]), T(istd[ch])
				sg, sb := 0.0, 0.0
				for i := 0; i < b; i++ {
					o := (i*c + ch) * inner
					var d, dot float64
					if y != nil {
						d, dot = maskSumDotXhat(y[o:o+inner], dy[o:o+inner], dx[o:o+inner], x[o:o+inner], m, s)
					} else {
						d, dot = sumDotXhat4(dy[o:o+inner], x[o:o+inner], m, s)
					}
					sb += d
					sg += dot
				}
				dgamma[ch], dbeta[ch] = sg, sb
				k1, mdy, mdyx := T(float64(gamma[ch])*istd[ch]), T(sb/n), T(sg/n)
				for i := 0; i < b; i++ {
					o := (i*c + ch) * inner
					xs, ds := x[o:o+inner], dx[o:o+inner]
					for k, d := range src[o : o+inner] {
						h := (xs[k] - m) * s
						ds[k] = k1 * (d - mdy - h*mdyx)
					}
				}
			}
		})
		return
	}
	parallelFor(c, b, func(lo, hi int) {
		dg, db := dgamma[lo:hi], dbeta[lo:hi]
		for k := range dg {
			dg[k], db[k] = 0, 0
		}
		for i := 0; i < b; i++ {
			xs, ds := x[i*c+lo:i*c+hi], dy[i*c+lo:i*c+hi]
			if y != nil {
				maskInto(y[i*c+lo:i*c+hi], ds, dx[i*c+lo:i*c+hi])
				ds = dx[i*c+lo : i*c+hi]
			}
			for k, d := range ds {
				h := (xs[k] - T(mean[lo+k])) * T(istd[lo+k])
				db[k] += float64(d)
				dg[k] += float64(d) * float64(h)
			}
		}
	})
	if y != nil {
		dy = dx // masked; the loop below reads each element before writing it
	}
	k1, mdy, mdyx := coef[:c], coef[c:2*c], coef[2*c:3*c]
	for ch := 0; ch < c; ch++ {
		k1[ch], mdy[ch], mdyx[ch] = float64(gamma[ch])*istd[ch], dbeta[ch]/n, dgamma[ch]/n
	}
	parallelFor(b, c, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			xs, ds := x[i*c:(i+1)*c], dx[i*c:(i+1)*c]
			for ch, d := range dy[i*c : (i+1)*c] {
				h := (xs[ch] - T(mean[ch])) * T(istd[ch])
				ds[ch] = T(k1[ch]) * (d - T(mdy[ch]) - h*T(mdyx[ch]))
			}
		}
	})
}

// bnParamGradOp hands out the dgamma or dbeta its bnGradOp summed.
type bnParamGradOp struct {
	opBase
	fwd  *bnTrainOp
	beta bool
	out  buffer
}

func (op *bnParamGradOp) Arity() int    { return 1 }
func (op *bnParamGradOp) Type() hm.Type { return fnType(op.fwd.dims, 1) }
func (op *bnParamGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in, 0)[1]}, nil
}
func (op *bnParamGradOp) Do(in ...G.Value) (G.Value, error) {
	src := op.fwd.dgamma
	if op.beta {
		src = op.fwd.dbt
	}
	r := op.out.get(in[0].Dtype(), len(src))
	if is32(in[0]) {
		d := sl[float32](r)
		for i, v := range src {
			d[i] = float32(v)
		}
	} else {
		copy(sl[float64](r), src)
	}
	return r, nil
}

// bnEvalOp normalises with the running statistics (evaluation mode).
type bnEvalOp struct {
	opBase
	st   *bnShared
	dims int
	relu bool // output max(y, 0), as bnTrainOp
	out  buffer
}

func (op *bnEvalOp) Arity() int    { return 3 }
func (op *bnEvalOp) Type() hm.Type { return fnType(op.dims, 1, 1, op.dims) }
func (op *bnEvalOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *bnEvalOp) Do(in ...G.Value) (G.Value, error) {
	x := in[0]
	b, c, inner := bnGeom(x.Shape())
	y := op.out.like(x)
	if is32(x) {
		bnEval(sl[float32](x), sl[float32](y), sl[float32](in[1]), sl[float32](in[2]), sl[float32](op.st.mean), sl[float32](op.st.vari), op.st.eps, b, c, inner, op.relu)
	} else {
		bnEval(sl[float64](x), sl[float64](y), sl[float64](in[1]), sl[float64](in[2]), sl[float64](op.st.mean), sl[float64](op.st.vari), op.st.eps, b, c, inner, op.relu)
	}
	return y, nil
}

func bnEval[T float32 | float64](x, y, gamma, beta, rm, rv []T, eps float64, b, c, inner int, relu bool) {
	parallelFor(b, c*inner, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for ch := 0; ch < c; ch++ {
				s := float64(gamma[ch]) / math.Sqrt(float64(rv[ch])+eps)
				sc, sh := T(s), T(float64(beta[ch])-s*float64(rm[ch]))
				lo, hi := (i*c+ch)*inner, (i*c+ch+1)*inner
				ys := y[lo:hi]
				for k, v := range x[lo:hi] {
					ys[k] = sc*v + sh
				}
				if relu && inner > 1 {
					reluInPlace(ys)
				}
			}
			if relu && inner == 1 {
				reluInPlace(y[i*c : (i+1)*c])
			}
		}
	})
}
