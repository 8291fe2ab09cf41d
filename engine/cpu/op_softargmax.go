package cpu

import (
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// softArgmaxOp turns [B, J*D, H, W] volumetric heatmaps into [B, J, 3]
// expected coordinates (x in 0..W-1, y in 0..H-1, z in 0..D-1): a softmax
// over each joint's D*H*W voxels, then the probability-weighted mean
// voxel position. The probabilities are kept for the backward pass:
// d out_c / d x_i = p_i (c_i - out_c).
type softArgmaxOp struct {
	opBase
	joints, depth int
	out           buffer
	prob          buffer
}

func (op *softArgmaxOp) Arity() int    { return 1 }
func (op *softArgmaxOp) Type() hm.Type { return fnType(4, 3) }
func (op *softArgmaxOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{shapeOf(in, 0)[0], op.joints, 3}, nil
}
func (op *softArgmaxOp) Do(in ...G.Value) (G.Value, error) {
	s := in[0].Shape()
	y := op.out.get(in[0].Dtype(), s[0], op.joints, 3)
	p := op.prob.like(in[0])
	if is32(in[0]) {
		softArgmax(sl[float32](in[0]), sl[float32](p), sl[float32](y), op.depth, s[2], s[3])
	} else {
		softArgmax(sl[float64](in[0]), sl[float64](p), sl[float64](y), op.depth, s[2], s[3])
	}
	return y, nil
}

func softArgmax[T float32 | float64](x, p, y []T, d, h, w int) {
	vol := d * h * w
	parallelFor(len(x)/vol, vol, func(v0, v1 int) { softArgmaxVolumes(x, p, y, v0, v1, d, h, w) })
}

func softArgmaxVolumes[T float32 | float64](x, p, y []T, v0, v1, d, h, w int) {
	vol := d * h * w
	for v := v0; v < v1; v++ {
		xv, pv := x[v*vol:(v+1)*vol], p[v*vol:(v+1)*vol]
		mx := math.Inf(-1)
		for _, a := range xv {
			mx = math.Max(mx, float64(a))
		}
		sum := 0.0
		for i, a := range xv {
			e := math.Exp(float64(a) - mx)
			pv[i] = T(e)
			sum += e
		}
		var ex, ey, ez float64
		inv := 1 / sum
		i := 0
		for z := 0; z < d; z++ {
			for r := 0; r < h; r++ {
				for c := 0; c < w; c++ {
					q := float64(pv[i]) * inv
					pv[i] = T(q)
					ex += q * float64(c)
					ey += q * float64(r)
					ez += q * float64(z)
					i++
				}
			}
		}
		y[3*v], y[3*v+1], y[3*v+2] = T(ex), T(ey), T(ez)
	}
}

func (op *softArgmaxOp) DiffWRT(int) []bool { return []bool{true} }
func (op *softArgmaxOp) SymDiff(in G.Nodes, out, grad *G.Node) (G.Nodes, error) {
	return G.Nodes{apply(&softArgmaxGradOp{opBase: newBase("SoftArgmax3DGrad"), fwd: op}, in[0], out, grad)}, nil
}

// softArgmaxGradOp: inputs x (for the shape), out, dy.
type softArgmaxGradOp struct {
	opBase
	fwd *softArgmaxOp
	out buffer
}

func (op *softArgmaxGradOp) Arity() int    { return 3 }
func (op *softArgmaxGradOp) Type() hm.Type { return fnType(4, 3, 3, 4) }
func (op *softArgmaxGradOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	return shapeOf(in, 0).Clone(), nil
}
func (op *softArgmaxGradOp) Do(in ...G.Value) (G.Value, error) {
	dx := op.out.like(in[0])
	s := in[0].Shape()
	if is32(in[0]) {
		softArgmaxGrad(sl[float32](op.fwd.prob.t), sl[float32](in[1]), sl[float32](in[2]), sl[float32](dx), op.fwd.depth, s[2], s[3])
	} else {
		softArgmaxGrad(sl[float64](op.fwd.prob.t), sl[float64](in[1]), sl[float64](in[2]), sl[float64](dx), op.fwd.depth, s[2], s[3])
	}
	return dx, nil
}

func softArgmaxGrad[T float32 | float64](p, y, dy, dx []T, d, h, w int) {
	vol := d * h * w
	parallelFor(len(p)/vol, vol, func(v0, v1 int) { softArgmaxGradVolumes(p, y, dy, dx, v0, v1, d, h, w) })
}

func softArgmaxGradVolumes[T float32 | float64](p, y, dy, dx []T, v0, v1, d, h, w int) {
	vol := d * h * w
	for v := v0; v < v1; v++ {
		pv, dv := p[v*vol:(v+1)*vol], dx[v*vol:(v+1)*vol]
		gx, gy, gz := float64(dy[3*v]), float64(dy[3*v+1]), float64(dy[3*v+2])
		base := gx*float64(y[3*v]) + gy*float64(y[3*v+1]) + gz*float64(y[3*v+2])
		i := 0
		for z := 0; z < d; z++ {
			for r := 0; r < h; r++ {
				for c := 0; c < w; c++ {
					dv[i] = T(float64(pv[i]) * (gx*float64(c) + gy*float64(r) + gz*float64(z) - base))
					i++
				}
			}
		}
	}
}
