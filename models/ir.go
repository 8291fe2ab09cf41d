package models

import (
	"fmt"

	"poselab/nn"
	"poselab/pose"
)

// IRConfig sizes an Integral Regression network (Sun et al. 2018): a ResNet
// backbone, Deconvs transposed convolutions (4x4, stride 2, pad 1, each +
// BN + ReLU) that upsample by 2 each, a 1x1 conv to Joints*Depth
// volumetric heatmaps and a soft-argmax over each joint's D x H x W volume.
type IRConfig struct {
	Backbone       ResNetConfig
	Input          int     // crop side, px (multiple of 32)
	Deconvs        int     // number of transposed convolutions (3)
	DeconvChannels int     // their channels (256)
	Depth          int     // depth bins D of the volumetric heatmaps (64)
	Joints         int     // 17
	DepthRangeMM   float64 // depth bins span -DepthRangeMM..+DepthRangeMM relative to the root
}

// IR graph names: inputs, targets and the output.
const (
	IRImage  = "image"  // [3, Input, Input] crop, RGB scaled to 0..1 and normalised by the task
	IRTarget = "target" // [Joints, 3] x, y in heatmap px and z in depth bins
	IRWeight = "weight" // [Joints, 3] per-coordinate loss weights (normalisation x mask)
	IRCoords = "coords" // [Joints, 3] predicted x, y (heatmap px), z (depth bins)
)

// IRPreset returns the named Integral Regression configuration.
//
//   - seed: the seed report's model: ResNet-50, 256 px crops, 3 deconvolutions
//     of 256 channels, 64 depth bins (64 x 64 x 64 volumes per joint).
//   - tiny: a CPU-sized model that trains in minutes: a narrow ResNet-18-like
//     backbone (16 base channels, one basic block per stage), 64 px crops,
//     3 deconvolutions of 64 channels, 16 x 16 x 16 volumes per joint.
//   - test: the smallest that still learns, for trying a command (seconds):
//     4 base channels, 32 px crops, 3 deconvolutions of 16 channels,
//     8 x 8 x 8 volumes per joint.
//
// Depth is relative to the root over +-1000 mm in both: Human3.6M joints
// lie within about +-900 mm of the pelvis in depth.
func IRPreset(name string) (IRConfig, error) {
	switch name {
	case "seed":
		return IRConfig{Backbone: ResNetConfig{Depth: 50, Width: 64}, Input: 256, Deconvs: 3, DeconvChannels: 256,
			Depth: 64, Joints: pose.NumJoints, DepthRangeMM: 1000}, nil
	case "tiny":
		return IRConfig{Backbone: ResNetConfig{Depth: 18, Width: 16, Blocks: []int{1, 1, 1, 1}}, Input: 64, Deconvs: 3,
			DeconvChannels: 64, Depth: 16, Joints: pose.NumJoints, DepthRangeMM: 1000}, nil
	case "test":
		return IRConfig{Backbone: ResNetConfig{Depth: 18, Width: 4, Blocks: []int{1, 1, 1, 1}}, Input: 32, Deconvs: 3,
			DeconvChannels: 16, Depth: 8, Joints: pose.NumJoints, DepthRangeMM: 1000}, nil
	}
	return IRConfig{}, fmt.Errorf("ir: unknown preset %q (tiny, seed, test)", name)
}

// Validate reports a configuration that cannot be built.
func (c IRConfig) Validate() error {
	if err := c.Backbone.Validate(); err != nil {
		return err
	}
	switch {
	case c.Input < 32 || c.Input%32 != 0:
		return fmt.Errorf("ir: input must be a positive multiple of 32 px, got %d", c.Input)
	case c.Deconvs < 0 || c.DeconvChannels < 1 && c.Deconvs > 0:
		return fmt.Errorf("ir: bad deconvolution head (%d layers of %d channels)", c.Deconvs, c.DeconvChannels)
	case c.Depth < 2 || c.Joints < 1:
		return fmt.Errorf("ir: need at least 2 depth bins and 1 joint, got %d and %d", c.Depth, c.Joints)
	case !(c.DepthRangeMM > 0):
		return fmt.Errorf("ir: depth range must be positive, got %g mm", c.DepthRangeMM)
	}
	return nil
}

// HeatmapSize is the side of the volumetric heatmaps (Input/32 * 2^Deconvs).
func (c IRConfig) HeatmapSize() int { return c.Input / 32 << c.Deconvs }

// Stride is crop px per heatmap px.
func (c IRConfig) Stride() float64 { return float64(c.Input) / float64(c.HeatmapSize()) }

// DepthToBin maps depth relative to the root (mm) to the continuous depth
// bin coordinate the soft-argmax returns: bin k's centre is depth
// ((k+0.5)/D)*2R - R, so -R maps to -0.5 and +R to D-0.5.
func (c IRConfig) DepthToBin(mm float64) float64 {
	return (mm+c.DepthRangeMM)/(2*c.DepthRangeMM)*float64(c.Depth) - 0.5
}

// BinToDepth is the inverse of DepthToBin (mm relative to the root).
func (c IRConfig) BinToDepth(bin float64) float64 {
	return (bin+0.5)/float64(c.Depth)*2*c.DepthRangeMM - c.DepthRangeMM
}

// CoordWeights are the per-coordinate loss weights that make the L1 loss
// act on normalised coordinates (x/W, y/H, z/D, Sun et al.'s [-0.5, 0.5]
// cube): the nn loss multiplies |pred - target| by the weight input, so
// the task puts these (times a joint's mask) there.
func (c IRConfig) CoordWeights() [3]float64 {
	s := float64(c.HeatmapSize())
	return [3]float64{1 / s, 1 / s, 1 / float64(c.Depth)}
}

// IR builds the Integral Regression graph with an L1 loss on normalised
// (x, y, z). The weight input zeroes what a sample does not supervise
// (z for MPII people, joints without a label).
func IR(c IRConfig) (*nn.Graph, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := nn.NewBuilder()
	x := b.Input(IRImage, 3, c.Input, c.Input)
	y := ResNet(b, "backbone.", x, c.Backbone)
	y = DeconvHead(b, "deconv.", y, c.Deconvs, c.DeconvChannels)
	y = b.Conv2d("final", y, c.Joints*c.Depth, 1, 1, 0, true)
	// Sun et al.'s (and Xiao et al.'s) head init: N(0, 0.001^2) weights,
	// zero bias, so the volumes start all but flat.
	b.InitNormal("final.weight", headStd)
	b.InitZeros("final.bias")
	coords := b.SoftArgmax3D(y, c.Joints, c.Depth)
	b.Output(IRCoords, coords)
	b.Input(IRTarget, c.Joints, 3)
	b.Input(IRWeight, c.Joints, 3)
	b.Loss(nn.L1, coords, IRTarget, IRWeight, 1)
	return b.Build(), nil
}

// headStd is the standard deviation of the deconvolution head's weights
// and of the final 1x1 conv's in Sun et al.'s and Xiao et al.'s released
// code (nn.init.normal_(std=0.001)).
const headStd = 0.001

// DeconvHead is Simple Baselines' upsampling head: n x (ConvTranspose2d
// 4x4/2 pad 1 without bias, BN, ReLU), doubling H and W each time, the
// transposed convolutions initialised N(0, 0.001^2) as in Xiao et al.'s
// and Sun et al.'s code (BN 1 and 0).
func DeconvHead(b *nn.Builder, prefix string, x *nn.Value, n, channels int) *nn.Value {
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s%d", prefix, 3*i)
		x = b.ConvTranspose2d(name, x, channels, 4, 2, 1, false)
		b.InitNormal(name+".weight", headStd)
		x = b.ReLU(b.BatchNorm(fmt.Sprintf("%s%d", prefix, 3*i+1), x))
	}
	return x
}
