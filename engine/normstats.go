package engine

import "math"

// meanStd is the per-coordinate mean and standard deviation of n samples
// of d coordinates (get(i, k) is coordinate k of sample i), the
// normalisation statistics of the SB and baseline tasks. A coordinate that
// never varies (the root of a root-relative pose) gets std 1, so that it
// normalises to 0 instead of dividing by zero.
func meanStd(n, d int, get func(i, k int) float64) (mean, std []float64) {
	mean, std = make([]float64, d), make([]float64, d)
	for k := 0; k < d; k++ {
		if n == 0 {
			std[k] = 1
			continue
		}
		var s, s2 float64
		for i := 0; i < n; i++ {
			v := get(i, k)
			s += v
			s2 += v * v
		}
		m := s / float64(n)
		sd := math.Sqrt(math.Max(0, s2/float64(n)-m*m))
		if sd < 1e-3 {
			sd = 1
		}
		mean[k], std[k] = m, sd
	}
	return mean, std
}
