package cpu

import (
	"math"

	"poselab/nn"
)

// adamUpdate is one step of torch.optim.Adam on one parameter, with t the
// 1-based step: g += wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps), in the parameter's
// own float type as PyTorch computes it (the bias corrections are folded
// into two constants).
func adamUpdate[T float32 | float64](p, g, m, v []T, a nn.Adam, lr float64, t int) {
	bc1 := 1 - math.Pow(a.Beta1, float64(t))
	bc2 := 1 - math.Pow(a.Beta2, float64(t))
	b1, c1 := T(a.Beta1), T(1-a.Beta1)
	b2, c2 := T(a.Beta2), T(1-a.Beta2)
	step, isq, eps, wd := T(lr/bc1), T(1/math.Sqrt(bc2)), T(a.Eps), T(a.WeightDecay)
	g = g[:len(p)]
	m = m[:len(p)]
	v = v[:len(p)]
	for i, pi := range p {
		gi := g[i]
		if wd != 0 {
			gi += wd * pi
		}
		mi := b1*m[i] + c1*gi
		vi := b2*v[i] + c2*gi*gi
		m[i], v[i] = mi, vi
		p[i] = pi - step*mi/(T(math.Sqrt(float64(vi)))*isq+eps)
	}
}
