package nn

import (
	"math"
	"math/rand/v2"
)

// InitState returns a freshly initialised State for g: weights and biases
// uniform in +-1/sqrt(fanIn) (PyTorch's defaults for Linear and Conv,
// kaiming_uniform with a=sqrt(5)) unless the model chose another init
// (normal: N(0, Std^2); zeros), BatchNorm gamma 1, beta 0, running mean
// 0, variance 1, zero Adam moments. The same seed gives the same numbers on
// every machine, so CPU and GPU start from identical weights.
func InitState(g *Graph, seed int64) *State {
	s := &State{Params: map[string]*Tensor{}, Buffers: map[string]*Tensor{}, AdamM: map[string]*Tensor{}, AdamV: map[string]*Tensor{}}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	for _, p := range g.Params {
		t := NewTensor(p.Shape...)
		switch p.Init {
		case "uniform":
			bound := 1 / math.Sqrt(float64(p.FanIn))
			for i := range t.Data {
				t.Data[i] = float32((rng.Float64()*2 - 1) * bound)
			}
		case "normal":
			for i := range t.Data {
				t.Data[i] = float32(rng.NormFloat64() * p.Std)
			}
		case "ones":
			for i := range t.Data {
				t.Data[i] = 1
			}
		}
		if p.Buffer {
			s.Buffers[p.Name] = t
			continue
		}
		s.Params[p.Name] = t
		s.AdamM[p.Name] = NewTensor(p.Shape...)
		s.AdamV[p.Name] = NewTensor(p.Shape...)
	}
	return s
}

// DropoutKeep reports whether element i of dropout layer `node` is kept at
// training step `step`. Every backend uses this one hash so that CPU and
// GPU draw the same masks and a resumed run repeats them exactly. It is a
// SplitMix64-style mix of (seed, step, node, i); the CUDA backend computes
// the same function in its kernel.
func DropoutKeep(seed int64, step, node, i int, p float64) bool {
	return DropoutUniform(seed, step, node, i) >= p
}

// DropoutUniform is the uniform number in [0,1) behind DropoutKeep.
func DropoutUniform(seed int64, step, node, i int) float64 {
	z := uint64(seed) ^ uint64(step)*0x9e3779b97f4a7c15 ^ uint64(node)*0xbf58476d1ce4e5b9 ^ uint64(i)*0x94d049bb133111eb
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>40) / float64(1<<24)
}
