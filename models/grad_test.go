package models

import (
	"testing"

	"poselab/nn"
)

// Gradient checks of the layers as this package composes them (residual
// blocks, the deconvolution head with the volumetric soft-argmax, a whole
// miniature IR network), in float64 on the CPU backend: analytic gradients
// from Program.Gradients against central differences of the training
// loss. Parameters travel as float32 in nn.State, so each difference uses
// the step actually taken after rounding.

func TestGradBasicBlock(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 3, 6, 6)
	y := BasicBlock(b, "blk.", x, 4, 2) // stride 2: downsample shortcut
	y = BasicBlock(b, "blk2.", y, 4, 1) // identity shortcut
	b.Input("t", 4, 3, 3)
	b.Loss(nn.MSE, y, "t", "", 1)
	assertGradients(t, b.Build(), 3, 12, 1e-4)
}

func TestGradBottleneckBlock(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 4, 6, 6)
	y := BottleneckBlock(b, "blk.", x, 2, 2)
	b.Input("t", 8, 3, 3)
	b.Loss(nn.MSE, y, "t", "", 1)
	assertGradients(t, b.Build(), 3, 12, 1e-4)
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
	assertGradients(t, b.Build(), 2, 16, 1e-4)
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
	assertGradients(t, g, 2, 4, 1e-4)
}
