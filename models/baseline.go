package models

import (
	"fmt"

	"poselab/nn"
	"poselab/pose"
)

// BaselineConfig sizes the seed's baselines A and B (the course's
// boilerplate): a ResNet backbone, global average pooling and one fully
// connected layer regressing the root-relative 17x3 pose. A and B share
// the network; B differs only in data augmentation (flip and rotation),
// which the engine's task applies.
type BaselineConfig struct {
	Backbone ResNetConfig
	Input    int // crop side, px (multiple of 32)
	Joints   int
}

// Baseline graph names.
const (
	BaselineImage  = "image"  // [3, Input, Input]
	BaselineTarget = "target" // [Joints*3] normalised root-relative pose
	BaselinePose   = "pose"   // [Joints*3] predicted normalised pose
)

// BaselinePreset returns the named configuration: "seed" is a ResNet-50
// at 256 px; "tiny" the same narrow ResNet-18-like backbone as IR's tiny
// preset at 64 px; "test" a 4-channel one at 32 px for end-to-end tests.
func BaselinePreset(name string) (BaselineConfig, error) {
	switch name {
	case "seed":
		return BaselineConfig{Backbone: ResNetConfig{Depth: 50, Width: 64}, Input: 256, Joints: pose.NumJoints}, nil
	case "tiny":
		return BaselineConfig{Backbone: ResNetConfig{Depth: 18, Width: 16, Blocks: []int{1, 1, 1, 1}}, Input: 64,
			Joints: pose.NumJoints}, nil
	case "test":
		return BaselineConfig{Backbone: ResNetConfig{Depth: 18, Width: 4, Blocks: []int{1, 1, 1, 1}}, Input: 32,
			Joints: pose.NumJoints}, nil
	}
	return BaselineConfig{}, fmt.Errorf("baseline: unknown preset %q (tiny, seed, test)", name)
}

// Validate reports a configuration that cannot be built.
func (c BaselineConfig) Validate() error {
	if err := c.Backbone.Validate(); err != nil {
		return err
	}
	if c.Input < 32 || c.Input%32 != 0 {
		return fmt.Errorf("baseline: input must be a positive multiple of 32 px, got %d", c.Input)
	}
	if c.Joints < 1 {
		return fmt.Errorf("baseline: need at least one joint, got %d", c.Joints)
	}
	return nil
}

// Baseline builds the regression graph with the given loss (L1 or MSE)
// on the normalised pose.
func Baseline(c BaselineConfig, loss nn.LossKind) (*nn.Graph, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if loss != nn.L1 && loss != nn.MSE {
		return nil, fmt.Errorf("baseline: unknown loss %q (l1, mse)", loss)
	}
	b := nn.NewBuilder()
	x := b.Input(BaselineImage, 3, c.Input, c.Input)
	y := ResNet(b, "backbone.", x, c.Backbone)
	y = b.GlobalAvgPool(y)
	out := b.Linear("fc", y, 3*c.Joints)
	b.Output(BaselinePose, out)
	b.Input(BaselineTarget, 3*c.Joints)
	b.Loss(loss, out, BaselineTarget, "", 1)
	return b.Build(), nil
}
