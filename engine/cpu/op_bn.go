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
	out, xhat   buffer
	mean, istd  []float64
	dgamma, dbt []float64 // filled by the backward op
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
	y, xh := op.out.like(x), op.xhat.like(x)
	if len(op.mean) != c {
		op.mean, op.istd = make([]float64, c), make([]float64, c)
		op.dgamma, op.dbt = make([]float64, c), make([]float64, c)
	}
	if is32(x) {
		bnStats(sl[float32](x), op.mean, op.istd, b, c, inner, op.st.eps)
		bnNormalise(sl[float32](x), sl[float32](xh), sl[float32](y), sl[float32](in[1]), sl[float32](in[2]), op.mean, op.istd, b, c, inner)
	} else {
		bnStats(sl[float64](x), op.mean, op.istd, b, c, inner, op.st.eps)
		bnNormalise(sl[float64](x), sl[float64](xh), sl[float64](y), sl[float64](in[1]), sl[float64](in[2]), op.mean, op.istd, b, c, inner)
	}
	if *op.st.update {
		n := float64(b * inner)
		unbias := n / math.Max(n-1, 1)
		for ch := 0; ch < c; ch++ {
			v := 1/(op.istd[ch]*op.istd[ch]) - op.st.eps
			if is32(x) {
				rm, rv := sl[float32](op.st.mean), sl[float32](op.st.vari)
				rm[ch] = float32((1-op.st.mom)*float64(rm[ch]) + op.st.mom*op.mean[ch])
				rv[ch] = float32((1-op.st.mom)*float64(rv[ch]) + op.st.mom*v*unbias)
			} else {
				rm, rv := sl[float64](op.st.mean), sl[float64](op.st.vari)
				rm[ch] = (1-op.st.mom)*rm[ch] + op.st.mom*op.mean[ch]
				rv[ch] = (1-op.st.mom)*rv[ch] + op.st.mom*v*unbias
			}
		}
	}
	return y, nil
}

// bnStats computes per-channel mean and 1/sqrt(biased var + eps) in two
// passes with float64 sums.
func bnStats[T float32 | float64](x []T, mean, istd []float64, b, c, inner int, eps float64) {
	n := float64(b * inner)
	for ch := range mean {
		mean[ch], istd[ch] = 0, 0
	}
	if inner == 1 {
		for i := 0; i < b; i++ {
			row := x[i*c : (i+1)*c]
			for ch, v := range row {
				mean[ch] += float64(v)
			}
		}
		for ch := range mean {
			mean[ch] /= n
		}
		for i := 0; i < b; i++ {
			row := x[i*c : (i+1)*c]
			for ch, v := range row {
				d := float64(v) - mean[ch]
				istd[ch] += d * d
			}
		}
	} else {
		for i := 0; i < b; i++ {
			for ch := 0; ch < c; ch++ {
				s := 0.0
				for _, v := range x[(i*c+ch)*inner : (i*c+ch+1)*inner] {
					s += float64(v)
				}
				mean[ch] += s
			}
		}
		for ch := range mean {
			mean[ch] /= n
		}
		for i := 0; i < b; i++ {
			for ch := 0; ch < c; ch++ {
				s, m := 0.0, mean[ch]
				for _, v := range x[(i*c+ch)*inner : (i*c+ch+1)*inner] {
					d := float64(v) - m
					s += d * d
				}
				istd[ch] += s
			}
		}
	}
	for ch := range istd {
		istd[ch] = 1 / math.Sqrt(istd[ch]/n+eps)
	}
}

// bnNormalise writes xhat = (x-mean)*istd and y = gamma*xhat + beta.
func bnNormalise[T float32 | float64](x, xh, y, gamma, beta []T, mean, istd []float64, b, c, inner int) {
	for i := 0; i < b; i++ {
		for ch := 0; ch < c; ch++ {
			m, s, g, bt := T(mean[ch]), T(istd[ch]), gamma[ch], beta[ch]
			lo, hi := (i*c+ch)*inner, (i*c+ch+1)*inner
			xs, xhs, ys := x[lo:hi], xh[lo:hi], y[lo:hi]
			for k, v := range xs {
				h := (v - m) * s
				xhs[k] = h
				ys[k] = g*h + bt
			}
		}
	}
}

func (op *bnTrainOp) DiffWRT(int) []bool { return []bool{true, true, true} }
func (op *bnTrainOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	dx := apply(&bnGradOp{opBase: newBase("BatchNormDX"), fwd: op}, in[1], out, grad)
	dg := apply(&bnParamGradOp{opBase: newBase("BatchNormDGamma"), fwd: op, beta: false}, dx)
	db := apply(&bnParamGradOp{opBase: newBase("BatchNormDBeta"), fwd: op, beta: true}, dx)
	return G.Nodes{dx, dg, db}, nil
}

// bnGradOp is dx = gamma*istd*(dy - mean(dy) - xhat*mean(dy*xhat)); on the
// way it sums dgamma = sum(dy*xhat) and dbeta = sum(dy) into the forward
// Op, where the two bnParamGradOps (which take dx to run after it) read
// them. Inputs gamma, y (for ordering), dy.
type bnGradOp struct {
	opBase
	fwd *bnTrainOp
	out buffer
}

func (op *bnGradOp) Arity() int    { return 3 }
func (op *bnGradOp) Type() hm.Type { return fnType(1, op.fwd.dims, op.fwd.dims, op.fwd.dims) }
func (op *bnGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 2).Clone(), nil
}
func (op *bnGradOp) Do(in ...G.Value) (G.Value, error) {
	dy := in[2]
	b, c, inner := bnGeom(dy.Shape())
	dx := op.out.like(dy)
	f := op.fwd
	if is32(dy) {
		bnBackward(sl[float32](dy), sl[float32](f.xhat.t), sl[float32](in[0]), sl[float32](dx), f.istd, f.dgamma, f.dbt, b, c, inner)
	} else {
		bnBackward(sl[float64](dy), sl[float64](f.xhat.t), sl[float64](in[0]), sl[float64](dx), f.istd, f.dgamma, f.dbt, b, c, inner)
	}
	return dx, nil
}

func bnBackward[T float32 | float64](dy, xh, gamma, dx []T, istd, dgamma, dbeta []float64, b, c, inner int) {
	n := float64(b * inner)
	for ch := 0; ch < c; ch++ {
		dgamma[ch], dbeta[ch] = 0, 0
	}
	for i := 0; i < b; i++ {
		for ch := 0; ch < c; ch++ {
			lo, hi := (i*c+ch)*inner, (i*c+ch+1)*inner
			sg, sb := 0.0, 0.0
			for k, d := range dy[lo:hi] {
				sb += float64(d)
				sg += float64(d) * float64(xh[lo+k])
			}
			dgamma[ch] += sg
			dbeta[ch] += sb
		}
	}
	for i := 0; i < b; i++ {
		for ch := 0; ch < c; ch++ {
			k1 := T(float64(gamma[ch]) * istd[ch])
			mdy, mdyx := T(dbeta[ch]/n), T(dgamma[ch]/n)
			lo, hi := (i*c+ch)*inner, (i*c+ch+1)*inner
			xs, ds := xh[lo:hi], dx[lo:hi]
			for k, d := range dy[lo:hi] {
				ds[k] = k1 * (d - mdy - xs[k]*mdyx)
			}
		}
	}
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
		bnEval(sl[float32](x), sl[float32](y), sl[float32](in[1]), sl[float32](in[2]), sl[float32](op.st.mean), sl[float32](op.st.vari), op.st.eps, b, c, inner)
	} else {
		bnEval(sl[float64](x), sl[float64](y), sl[float64](in[1]), sl[float64](in[2]), sl[float64](op.st.mean), sl[float64](op.st.vari), op.st.eps, b, c, inner)
	}
	return y, nil
}

func bnEval[T float32 | float64](x, y, gamma, beta, rm, rv []T, eps float64, b, c, inner int) {
	for i := 0; i < b; i++ {
		for ch := 0; ch < c; ch++ {
			s := float64(gamma[ch]) / math.Sqrt(float64(rv[ch])+eps)
			sc, sh := T(s), T(float64(beta[ch])-s*float64(rm[ch]))
			lo, hi := (i*c+ch)*inner, (i*c+ch+1)*inner
			ys := y[lo:hi]
			for k, v := range x[lo:hi] {
				ys[k] = sc*v + sh
			}
		}
	}
}
