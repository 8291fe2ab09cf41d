// Package models holds poselab's networks, each written once in the nn
// model language. A model only builds an nn.Graph; it never sees data sets,
// files or devices (the engine's tasks do the data plumbing).
package models

import (
	"fmt"

	"poselab/nn"
)

// Names of the Simple Baseline's graph inputs and output. Both input and
// target are normalised per coordinate (see engine/task_sb.go); the output
// is in the same normalised units as the target.
const (
	SBInput  = "pose2d"  // [2*Joints]: (u,v) of each joint, normalised
	SBTarget = "pose3d"  // [3*Joints]: root-relative camera-space (x,y,z) in mm, normalised
	SBOutput = "pose3d_" // [3*Joints]: the prediction, normalised like the target
)

// SBConfig sizes the Simple Baseline (Martinez et al. 2017).
type SBConfig struct {
	Joints  int         // 17 (H36M)
	Hidden  int         // 1024 in the paper
	Blocks  int         // residual blocks, 2 in the paper
	Dropout float64     // 0.5 in the paper
	Loss    nn.LossKind // nn.L1 (the seed) or nn.MSE (Martinez)
}

// DefaultSB is the seed report's configuration.
var DefaultSB = SBConfig{Joints: 17, Hidden: 1024, Blocks: 2, Dropout: 0.5, Loss: nn.L1}

// SBPresets are the named sizes: "seed" is the paper's network; "tiny" is
// a quarter-width network (256 hidden units) that trains on two CPU cores
// in seconds on the synthetic tiny data set.
var SBPresets = map[string]SBConfig{
	"seed": DefaultSB,
	"tiny": {Joints: 17, Hidden: 256, Blocks: 2, Dropout: 0.5, Loss: nn.L1},
}

// Validate rejects sizes that cannot build a network.
func (c SBConfig) Validate() error {
	if c.Joints <= 0 || c.Hidden <= 0 || c.Blocks < 0 {
		return fmt.Errorf("sb: joints, hidden must be positive and blocks >= 0, got %d, %d, %d", c.Joints, c.Hidden, c.Blocks)
	}
	if c.Dropout < 0 || c.Dropout >= 1 {
		return fmt.Errorf("sb: dropout must be in [0,1), got %g", c.Dropout)
	}
	if c.Loss != nn.L1 && c.Loss != nn.MSE {
		return fmt.Errorf("sb: loss must be %q or %q, got %q", nn.L1, nn.MSE, c.Loss)
	}
	return nil
}

// SB builds the Simple Baseline: Linear(2J -> H), BatchNorm, ReLU, Dropout;
// Blocks residual blocks of two (Linear H, BatchNorm, ReLU, Dropout) with a
// skip connection around each block; Linear(H -> 3J). The layout matches
// the PyTorch peer (peer.py) layer for layer, so parameter counts and
// initial weight distributions agree. An invalid config panics (like the
// nn.Builder's shape errors); callers with user input call Validate first.
func SB(c SBConfig) *nn.Graph {
	if err := c.Validate(); err != nil {
		panic(err)
	}
	b := nn.NewBuilder()
	x := b.Input(SBInput, 2*c.Joints)
	b.Input(SBTarget, 3*c.Joints)
	unit := func(name string, v *nn.Value) *nn.Value {
		v = b.Linear(name+".linear", v, c.Hidden)
		v = b.BatchNorm(name+".bn", v)
		v = b.ReLU(v)
		if c.Dropout > 0 {
			v = b.Dropout(v, c.Dropout)
		}
		return v
	}
	h := unit("input", x)
	for i := 0; i < c.Blocks; i++ {
		y := unit(fmt.Sprintf("block%d.a", i), h)
		y = unit(fmt.Sprintf("block%d.b", i), y)
		h = b.Add(h, y)
	}
	out := b.Linear("output", h, 3*c.Joints)
	b.Output(SBOutput, out)
	b.Loss(c.Loss, out, SBTarget, "", 1)
	return b.Build()
}
