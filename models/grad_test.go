package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
	"poselab/engine/cpu"
	"poselab/nn"
)

// Gradient checks of the layers as this package composes them (residual
// blocks, the deconvolution head with the volumetric soft-argmax, a whole
// miniature IR network), in float64 on the CPU backend: analytic gradients
// from Program.Gradients against central differences of the training
// loss. Parameters travel as float32 in nn.State, so each difference uses
// the step actually taken after rounding.

func randBatch(g *nn.Graph, batch int, seed uint64) nn.Batch {
	r := rand.New(rand.NewPCG(seed, 3))
	b := nn.Batch{}
	for name, id := range g.Inputs {
		t := nn.NewTensor(append([]int{batch}, g.Nodes[id].Shape...)...)
		for i := range t.Data {
			t.Data[i] = float32(2*r.Float64() - 1)
		}
		b[name] = t
	}
	return b
}

// checkGradients compares at most per elements of every parameter.
func checkGradients(t *testing.T, g *nn.Graph, batch, per int, tol float64) {
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
	checked := 0
	for _, ps := range g.Params {
		if ps.Buffer {
			continue
		}
		p, a := st.Params[ps.Name], grads[ps.Name]
		if a == nil || len(a.Data) != len(p.Data) {
			t.Fatalf("%s: no gradient of the right size", ps.Name)
		}
		n := len(p.Data)
		stride := max(1, n/per)
		var worst, scale float64
		for i := 0; i < n; i += stride {
			orig := p.Data[i]
			const h = 1e-5
			up, down := orig+h, orig-h
			p.Data[i] = up
			lu := loss()
			p.Data[i] = down
			ld := loss()
			p.Data[i] = orig
			num := (lu - ld) / (float64(up) - float64(down))
			worst = math.Max(worst, math.Abs(num-float64(a.Data[i])))
			scale = math.Max(scale, math.Abs(num))
			checked++
		}
		if scale > 0 && worst/scale > tol {
			t.Errorf("%s: gradient off by %.2e relative (max |numeric| %.3g)", ps.Name, worst/scale, scale)
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}

func TestGradBasicBlock(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 3, 6, 6)
	y := BasicBlock(b, "blk.", x, 4, 2) // stride 2: downsample shortcut
	y = BasicBlock(b, "blk2.", y, 4, 1) // identity shortcut
	b.Input("t", 4, 3, 3)
	b.Loss(nn.MSE, y, "t", "", 1)
	checkGradients(t, b.Build(), 3, 12, 1e-4)
}

func TestGradBottleneckBlock(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 4, 6, 6)
	y := BottleneckBlock(b, "blk.", x, 2, 2)
	b.Input("t", 8, 3, 3)
	b.Loss(nn.MSE, y, "t", "", 1)
	checkGradients(t, b.Build(), 3, 12, 1e-4)
}

func TestGradDeconvSoftArgmaxHead(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 4, 2, 2)
	y := DeconvHead(b, "deconv.", x, 2, 3)
	y = b.Conv2d("final", y, 2*3, 1, 1, 0, true)
	c := b.SoftArgmax3D(y, 2, 3)
	b.Input("t", 2, 3)
	b.Input("w", 2, 3)
	b.Loss(nn.L1, c, "t", "w", 1)
	checkGradients(t, b.Build(), 2, 16, 1e-4)
}

// A whole miniature Integral Regression network, end to end.
func TestGradMiniIR(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	g, err := IR(IRConfig{Backbone: ResNetConfig{Depth: 18, Width: 2, Blocks: []int{1, 1, 1, 1}}, Input: 32,
		Deconvs: 2, DeconvChannels: 3, Depth: 4, Joints: 2, DepthRangeMM: 1000})
	if err != nil {
		t.Fatal(err)
	}
	checkGradients(t, g, 2, 4, 1e-4)
}
