package cpu

import "math"

// fillMask writes one dropout layer's mask for a step: scale where
// nn.DropoutKeep(seed, step, node, i, p) keeps element i, else 0. It is
// nn.DropoutUniform's hash with the (seed, step, node) part hoisted out of
// the loop and the float comparison u/2^24 >= p done on the integer u
// (exact: both sides scale by a power of two). TestMaskMatchesDropoutKeep
// holds it to nn's definition.
func fillMask[T float32 | float64](d []T, seed int64, step, node int, p float64, scale T) {
	z0 := uint64(seed) ^ uint64(step)*0x9e3779b97f4a7c15 ^ uint64(node)*0xbf58476d1ce4e5b9
	thr := uint64(math.Ceil(p * (1 << 24)))
	parallelFor(len(d), 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			z := z0 ^ uint64(i)*0x94d049bb133111eb
			z ^= z >> 30
			z *= 0xbf58476d1ce4e5b9
			z ^= z >> 27
			z *= 0x94d049bb133111eb
			z ^= z >> 31
			if z>>40 >= thr {
				d[i] = scale
			} else {
				d[i] = 0
			}
		}
	})
}
