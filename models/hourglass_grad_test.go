package models

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"poselab/engine/cpu"
	"poselab/nn"

	"gorgonia.org/tensor"
)

// Finite-difference checks of the hourglass blocks as this package
// composes them (the CPU backend checks each layer on its own): analytic
// gradients of the float64 CPU backend against central differences of the
// training-mode loss, for a few elements of every parameter tensor. The
// helpers here (randBatch, gradErrors, assertGradients) serve every test of
// the package.

func randBatch(g *nn.Graph, batch int, seed uint64) nn.Batch {
	rng := rand.New(rand.NewPCG(seed, 3))
	masks := map[string]bool{}
	for _, l := range g.Losses {
		if l.Mask != "" {
			masks[l.Mask] = true
		}
	}
	b := nn.Batch{}
	names := make([]string, 0, len(g.Inputs))
	for name := range g.Inputs {
		names = append(names, name)
	}
	sort.Strings(names) // the same numbers on every run
	for _, name := range names {
		id := g.Inputs[name]
		t := nn.NewTensor(append([]int{batch}, g.Nodes[id].Shape...)...)
		for i := range t.Data {
			switch {
			case masks[name] && rng.Float64() < 0.7:
				t.Data[i] = 1
			case !masks[name]:
				t.Data[i] = float32(2*rng.Float64() - 1)
			}
		}
		b[name] = t
	}
	return b
}

// gradErrors returns, per parameter tensor, max |analytic - numeric|
// over max(max |numeric|, 1e-6) on up to per elements spread over the
// tensor.
func gradErrors(t *testing.T, g *nn.Graph, batch, per int) map[string]float64 {
	t.Helper()
	prog, err := cpu.NewWithDType(tensor.Float64).Compile(g, nn.Options{Batch: batch, Seed: 5, Adam: nn.DefaultAdam})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	b := randBatch(g, batch, 9)
	_, grads, err := prog.Gradients(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, err := prog.State()
	if err != nil {
		t.Fatal(err)
	}
	loss := func() float64 {
		if err := prog.SetState(st); err != nil {
			t.Fatal(err)
		}
		l, _, err := prog.Gradients(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	// Small steps: the ReLUs and max-pools have kinks that larger steps
	// cross (parameters are float32 in nn.State; the actual steps taken
	// are measured below, and the loss is float64).
	const h = 1e-5
	base := loss()
	out := map[string]float64{}
	kinks, total := 0, 0
	for name, p := range st.Params {
		n := len(p.Data)
		var maxDiff, maxNum float64
		for k := 0; k < min(per, n); k++ {
			i := k * n / min(per, n)
			orig := p.Data[i]
			p.Data[i] = orig + h
			up, dUp := loss(), float64(p.Data[i])-float64(orig)
			p.Data[i] = orig - h
			down, dDown := loss(), float64(orig)-float64(p.Data[i])
			p.Data[i] = orig
			if len(grads[name].Data) != n {
				t.Fatalf("%s: gradient of %d values for %d parameters (%v vs %v)", name, len(grads[name].Data), n, grads[name].Shape, p.Shape)
			}
			total++
			// A step that crosses a ReLU or max-pool kink shows as one-sided
			// slopes that disagree; such an element says nothing about the
			// analytic gradient, so it is skipped (and counted).
			fwd, bwd := (up-base)/dUp, (base-down)/dDown
			if math.Abs(fwd-bwd) > 1e-2*math.Max(math.Abs(fwd), math.Abs(bwd))+1e-4 {
				kinks++
				continue
			}
			num := (up - down) / (dUp + dDown)
			maxDiff = math.Max(maxDiff, math.Abs(float64(grads[name].Data[i])-num))
			maxNum = math.Max(maxNum, math.Abs(num))
		}
		// A floor for gradients that are zero up to rounding (biases
		// feeding a BatchNorm), where a ratio would only measure noise.
		out[name] = maxDiff / math.Max(maxNum, 1e-6)
	}
	if kinks > 0 {
		t.Logf("%d of %d elements skipped: their steps cross a kink", kinks, total)
	}
	if kinks > total/10 {
		t.Fatalf("%d of %d checked elements sit on kinks: the check says little", kinks, total)
	}
	return out
}

func assertGradients(t *testing.T, g *nn.Graph, batch, per int, tol float64) {
	t.Helper()
	errs := gradErrors(t, g, batch, per)
	if len(errs) == 0 {
		t.Fatal("no parameters checked")
	}
	worst, at := 0.0, ""
	for name, e := range errs {
		if !(e <= tol) {
			t.Errorf("%s: relative gradient error %.3g > %.0g", name, e, tol)
		}
		if e > worst {
			worst, at = e, name
		}
	}
	t.Logf("%d parameter tensors, worst relative error %.2g (%s)", len(errs), worst, at)
}

func TestResidualGradients(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 4, 6, 6)
	b.Input("t", 6, 6, 6)
	b.Input("m", 6, 6, 6)
	y := Residual(b, "r", x, 6) // 4 -> 6 channels: with the skip convolution
	b.Loss(nn.MSE, y, "t", "m", 1)
	assertGradients(t, b.Build(), 2, 6, 1e-4)
}

func TestHourglassDepth2Gradients(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 4, 8, 8)
	b.Input("t", 4, 8, 8)
	y := Hourglass(b, "hg", x, 2)
	b.Loss(nn.MSE, y, "t", "", 1)
	assertGradients(t, b.Build(), 2, 4, 1e-4)
}

// Two stacks: stem, hourglass, heads and the re-injection between stacks,
// with both stacks' masked losses.
func TestTwoStackSHGradients(t *testing.T) {
	g, err := BuildSH(SHConfig{Stacks: 2, Features: 4, Depth: 1, Input: 16, Joints: 17, Stem1: 2, Stem2: 4})
	if err != nil {
		t.Fatal(err)
	}
	assertGradients(t, g, 2, 2, 1e-4)
}
