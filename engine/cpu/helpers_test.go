package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
	"poselab/nn"
)

// compile64 compiles g in float64 for gradient checks, with input
// gradients for the named inputs.
func compile64(t *testing.T, g *nn.Graph, batch int, seed int64, wrtInputs ...string) *program {
	t.Helper()
	p, err := compile(g, nn.Options{Batch: batch, Seed: seed}, tensor.Float64, wrtInputs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// randomBatch fills every input of g with uniform numbers in [-1,1) (masks
// get 0/1 values, about a third zero).
func randomBatch(g *nn.Graph, batch int, seed uint64) nn.Batch {
	rng := rand.New(rand.NewPCG(seed, 7))
	masks := map[string]bool{}
	for _, l := range g.Losses {
		if l.Mask != "" {
			masks[l.Mask] = true
		}
	}
	b := nn.Batch{}
	// Inputs in graph order, not map order: the same seed must give the
	// same batch in every run, or a failure cannot be reproduced.
	for _, n := range g.Nodes {
		if n.Op != nn.OpInput {
			continue
		}
		name := n.Name
		t := nn.NewTensor(append([]int{batch}, n.Shape...)...)
		for i := range t.Data {
			if masks[name] {
				if rng.Float64() > 1.0/3 {
					t.Data[i] = 1
				}
				continue
			}
			t.Data[i] = float32(rng.Float64()*2 - 1)
		}
		b[name] = t
	}
	return b
}

// gradErr compares analytic gradients (training mode, fixed step) with
// central differences for every parameter element (or at most maxElems
// spread over the tensor) and every element of the requested inputs. The
// error of a tensor is max |analytic - numeric| / max |numeric|.
func gradErr(t *testing.T, p *program, b nn.Batch, step int, maxElems int) map[string]float64 {
	t.Helper()
	const h = 1e-6
	if _, err := p.forwardBackward(b, step, false); err != nil {
		t.Fatal(err)
	}
	analytic := map[string][]float64{}
	targets := map[string][]float64{}
	for i, name := range p.names {
		if p.train.grads[i] == nil {
			continue
		}
		analytic[name] = append([]float64(nil), sl[float64](p.train.grads[i].Value())...)
		targets[name] = sl[float64](p.params[name])
	}
	// Input gradients: perturb the bound input (reloaded from b each run,
	// so perturb a float64 copy of the batch instead).
	for name, n := range p.train.inGrads {
		analytic["input:"+name] = append([]float64(nil), sl[float64](n.Value())...)
	}
	loss := func() float64 {
		l, err := p.forwardBackward(b, step, false)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	errs := map[string]float64{}
	for name, a := range analytic {
		var get func(i int) float64
		var set func(i int, v float64)
		if w, ok := targets[name]; ok {
			get = func(i int) float64 { return w[i] }
			set = func(i int, v float64) { w[i] = v }
		} else {
			// Inputs are float32 in the batch: perturb through an
			// input override hook on the bound float64 tensor.
			in := name[len("input:"):]
			get, set = p.inputAccess(b, in)
		}
		stride := 1
		if maxElems > 0 && len(a) > maxElems {
			stride = (len(a) + maxElems - 1) / maxElems
		}
		maxDiff, maxNum := 0.0, 0.0
		for i := 0; i < len(a); i += stride {
			x := get(i)
			set(i, x+h)
			lp := loss()
			set(i, x-h)
			lm := loss()
			set(i, x)
			num := (lp - lm) / (2 * h)
			maxDiff = math.Max(maxDiff, math.Abs(num-a[i]))
			maxNum = math.Max(maxNum, math.Abs(num))
		}
		// The floor keeps exactly-zero gradients (a bias before a
		// BatchNorm) from dividing finite-difference noise by ~0.
		errs[name] = maxDiff / math.Max(maxNum, 1e-3)
	}
	p.override = nil
	return errs
}

func checkGrads(t *testing.T, p *program, b nn.Batch, step int, maxElems int, tol float64) {
	t.Helper()
	for name, e := range gradErr(t, p, b, step, maxElems) {
		t.Logf("%-24s max rel err %.2e", name, e)
		if !(e <= tol) {
			t.Errorf("gradient of %s: relative error %.3e > %.0e", name, e, tol)
		}
	}
}

// inputAccess makes input name of b perturbable in float64.
func (p *program) inputAccess(b nn.Batch, name string) (func(int) float64, func(int, float64)) {
	if p.override == nil {
		p.override = map[string][]float64{}
	}
	v := make([]float64, len(b[name].Data))
	for i, x := range b[name].Data {
		v[i] = float64(x)
	}
	p.override[name] = v
	return func(i int) float64 { return v[i] }, func(i int, x float64) { v[i] = x }
}
