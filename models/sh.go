package models

import (
	"fmt"
	"strconv"

	"poselab/nn"
)

// SHConfig sizes a Stacked Hourglass (Newell et al. 2016).
type SHConfig struct {
	Stacks   int // hourglass modules, each with its own supervised heatmaps (1, 2, 8)
	Features int // channels inside the hourglasses (256 in the paper)
	Depth    int // down-samplings per hourglass (4 in the paper)
	Input    int // square input crop, px; heatmaps are Input/4
	Joints   int // heatmaps per stack
	Stem1    int // channels of the 7x7 stride-2 stem convolution (64)
	Stem2    int // channels of the stem's first residual module (128)
}

// Graph input and output names of the SH model.
const (
	SHImage       = "image"       // [3, Input, Input] normalised RGB
	SHTarget      = "target_hm"   // [Joints, Input/4, Input/4] Gaussian targets
	SHMask        = "target_mask" // same shape: 1 where a joint is labelled, 0 elsewhere
	SHHeatmaps    = "heatmaps"    // the last stack's heatmaps
	SHStackPrefix = "heatmaps_s"  // heatmaps_s0 .. of every stack (intermediate supervision)
)

// SHPresets are the named model sizes: "seed" is the seed report's network
// (2 stacks, 256 px, 256 features, depth 4); "tiny" trains on a CPU in
// minutes; "test" is the smallest network that still learns, for tests.
var SHPresets = map[string]SHConfig{
	"seed": {Stacks: 2, Features: 256, Depth: 4, Input: 256, Joints: 17, Stem1: 64, Stem2: 128},
	"tiny": {Stacks: 1, Features: 32, Depth: 3, Input: 64, Joints: 17, Stem1: 16, Stem2: 32},
	"test": {Stacks: 1, Features: 16, Depth: 2, Input: 64, Joints: 17, Stem1: 8, Stem2: 16},
}

// HeatmapSize is the side of the output heatmaps (a quarter of the input).
func (c SHConfig) HeatmapSize() int { return c.Input / 4 }

// Validate reports a configuration the network cannot be built with.
func (c SHConfig) Validate() error {
	switch {
	case c.Stacks < 1:
		return fmt.Errorf("sh: stacks must be >= 1, got %d", c.Stacks)
	case c.Depth < 1:
		return fmt.Errorf("sh: hourglass depth must be >= 1, got %d", c.Depth)
	case c.Features < 2 || c.Stem1 < 1 || c.Stem2 < 2:
		return fmt.Errorf("sh: features %d, stem %d/%d too small", c.Features, c.Stem1, c.Stem2)
	case c.Joints < 1:
		return fmt.Errorf("sh: joints must be >= 1, got %d", c.Joints)
	case c.Input%4 != 0 || (c.Input/4)%(1<<c.Depth) != 0:
		return fmt.Errorf("sh: input %d px: the %d px heatmaps must be divisible by 2^depth = %d", c.Input, c.Input/4, 1<<c.Depth)
	}
	return nil
}

// BuildSH writes the Stacked Hourglass as an nn.Graph: stem (7x7 stride-2
// conv, BN, ReLU, residual, max-pool, two residuals), then per stack an
// hourglass, a residual and 1x1 conv-BN-ReLU ("feat"), a 1x1 conv to the
// heatmaps ("out") and, between stacks, the re-injection x + merge_f(feat)
// + merge_o(heatmaps). Every stack's heatmaps get an MSE loss against the
// same Gaussian targets, masked per joint by visibility, weight 1 each (the
// sum over stacks, as the paper and the PyTorch peer do).
func BuildSH(c SHConfig) (*nn.Graph, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b := nn.NewBuilder()
	img := b.Input(SHImage, 3, c.Input, c.Input)
	hm := c.HeatmapSize()
	b.Input(SHTarget, c.Joints, hm, hm)
	b.Input(SHMask, c.Joints, hm, hm)

	x := b.ReLU(b.BatchNorm("stem.1", b.Conv2d("stem.0", img, c.Stem1, 7, 2, 3, true)))
	x = Residual(b, "stem.3", x, c.Stem2)
	x = b.MaxPool2d(x, 2, 2, 0)
	x = Residual(b, "stem.5", x, c.Stem2)
	x = Residual(b, "stem.6", x, c.Features)

	var out *nn.Value
	for s := 0; s < c.Stacks; s++ {
		i := strconv.Itoa(s)
		y := Hourglass(b, "hg."+i, x, c.Depth)
		y = Residual(b, "feat."+i+".0", y, c.Features)
		y = b.ReLU(b.BatchNorm("feat."+i+".2", b.Conv2d("feat."+i+".1", y, c.Features, 1, 1, 0, true)))
		out = b.Conv2d("out."+i, y, c.Joints, 1, 1, 0, true)
		b.Output(SHStackPrefix+i, out)
		b.Loss(nn.MSE, out, SHTarget, SHMask, 1)
		if s < c.Stacks-1 {
			x = b.Add(x, b.Add(b.Conv2d("merge_f."+i, y, c.Features, 1, 1, 0, true),
				b.Conv2d("merge_o."+i, out, c.Features, 1, 1, 0, true)))
		}
	}
	b.Output(SHHeatmaps, out)
	return b.Build(), nil
}
