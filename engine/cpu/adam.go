package cpu

import (
	"math"

	"poselab/nn"
)

// adamUpdate is one step of torch.optim.Adam on one parameter, with t the
// 1-based step: g += wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps). The arithmetic is
// float64 per element whatever T is.
func adamUpdate[T float32 | float64](p, g, m, v []T, a nn.Adam, lr float64, t int) {
	b1, b2 := a.Beta1, a.Beta2
	bc1 := 1 - math.Pow(b1, float64(t))
	bc2 := 1 - math.Pow(b2, float64(t))
	step := lr / bc1
	isq := 1 / math.Sqrt(bc2)
	wd := a.WeightDecay
	g = g[:len(p)]
	m = m[:len(p)]
	v = v[:len(p)]
	for i, pi := range p {
		gi := float64(g[i])
		if wd != 0 {
			gi += wd * float64(pi)
		}
		mi := b1*float64(m[i]) + (1-b1)*gi
		vi := b2*float64(v[i]) + (1-b2)*gi*gi
		m[i], v[i] = T(mi), T(vi)
		p[i] = T(float64(pi) - step*mi/(math.Sqrt(vi)*isq+a.Eps))
	}
}
