// Package models writes poselab's networks in the nn model language: the
// ResNet backbone, Integral Regression (Sun et al.) and the image-to-3D
// regression baselines A and B. A model is a pure nn.Graph plus the
// preset that sizes it; it knows nothing about data sets or devices.
package models

import (
	"fmt"

	"poselab/nn"
)

// ResNetConfig sizes a ResNet backbone (He et al.), torchvision layout:
// stem 7x7/2 conv + BN + ReLU + 3x3/2 max pool, then four stages whose
// first block strides by 2 (except stage 1). Basic blocks (two 3x3 convs)
// for depths 18 and 34, bottleneck blocks (1x1, 3x3, 1x1 with 4x
// expansion, stride on the 3x3 as torchvision v1.5) for 50.
type ResNetConfig struct {
	Depth  int   // 18, 34 or 50: picks the block kind and, unless Blocks is set, the blocks per stage
	Width  int   // channels of the stem and of stage 1's 3x3 convs (64 in the real ResNet)
	Blocks []int // blocks per stage (4 numbers); nil: the depth's standard counts
}

// Bottleneck reports whether the configuration uses bottleneck blocks.
func (c ResNetConfig) Bottleneck() bool { return c.Depth >= 50 }

// StageBlocks returns the number of blocks in each of the four stages.
func (c ResNetConfig) StageBlocks() []int {
	if c.Blocks != nil {
		return c.Blocks
	}
	switch c.Depth {
	case 18:
		return []int{2, 2, 2, 2}
	case 34, 50:
		return []int{3, 4, 6, 3}
	}
	return nil
}

// OutChannels is the number of channels the backbone ends with
// (8*Width for basic blocks, 32*Width for bottlenecks: 512 and 2048 for
// the real ResNet-18 and ResNet-50).
func (c ResNetConfig) OutChannels() int {
	if c.Bottleneck() {
		return 32 * c.Width
	}
	return 8 * c.Width
}

// Validate reports a configuration that cannot be built.
func (c ResNetConfig) Validate() error {
	switch c.Depth {
	case 18, 34, 50:
	default:
		return fmt.Errorf("resnet: depth %d not supported (18, 34 or 50)", c.Depth)
	}
	if c.Width < 1 {
		return fmt.Errorf("resnet: width must be positive, got %d", c.Width)
	}
	b := c.StageBlocks()
	if len(b) != 4 {
		return fmt.Errorf("resnet: need blocks for 4 stages, got %v", b)
	}
	for _, n := range b {
		if n < 1 {
			return fmt.Errorf("resnet: every stage needs at least one block, got %v", b)
		}
	}
	return nil
}

// conv is a ResNet convolution (no bias: a BatchNorm follows) with
// torchvision's init, kaiming_normal_(mode='fan_out', nonlinearity='relu'),
// rather than PyTorch's default: the seed started from ImageNet weights,
// which cannot be had here, and torchvision's init is what a ResNet
// trained from scratch in PyTorch starts from. BatchNorm's 1 and 0 are
// torchvision's too.
func conv(b *nn.Builder, name string, x *nn.Value, out, k, stride, pad int) *nn.Value {
	y := b.Conv2d(name, x, out, k, stride, pad, false)
	b.InitKaimingNormal(name+".weight", true)
	return y
}

// ResNet appends the backbone to b and returns its last feature map
// ([OutChannels, S/32, S/32] for an S x S input). Parameter names follow
// torchvision (conv1, bn1, layer1.0.conv1, ...) under prefix.
func ResNet(b *nn.Builder, prefix string, x *nn.Value, cfg ResNetConfig) *nn.Value {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if len(x.Shape) != 3 {
		panic(fmt.Sprintf("resnet: wants [C,H,W], got %v", x.Shape))
	}
	y := conv(b, prefix+"conv1", x, cfg.Width, 7, 2, 3)
	y = b.ReLU(b.BatchNorm(prefix+"bn1", y))
	y = b.MaxPool2d(y, 3, 2, 1)
	for s, n := range cfg.StageBlocks() {
		width := cfg.Width << s
		for i := 0; i < n; i++ {
			stride := 1
			if i == 0 && s > 0 {
				stride = 2
			}
			name := fmt.Sprintf("%slayer%d.%d.", prefix, s+1, i)
			if cfg.Bottleneck() {
				y = BottleneckBlock(b, name, y, width, stride)
			} else {
				y = BasicBlock(b, name, y, width, stride)
			}
		}
	}
	return y
}

// BasicBlock is ResNet-18/34's residual block: relu(bn(conv3x3(relu(bn(
// conv3x3(x))))) + shortcut(x)), the shortcut a strided 1x1 conv + BN when
// the shape changes.
func BasicBlock(b *nn.Builder, name string, x *nn.Value, out, stride int) *nn.Value {
	y := conv(b, name+"conv1", x, out, 3, stride, 1)
	y = b.ReLU(b.BatchNorm(name+"bn1", y))
	y = conv(b, name+"conv2", y, out, 3, 1, 1)
	y = b.BatchNorm(name+"bn2", y)
	return b.ReLU(b.Add(y, shortcut(b, name, x, out, stride)))
}

// BottleneckBlock is ResNet-50's residual block: 1x1 to width, 3x3 (with
// the stride), 1x1 to 4*width, each with BN, ReLU after the sum.
func BottleneckBlock(b *nn.Builder, name string, x *nn.Value, width, stride int) *nn.Value {
	out := 4 * width
	y := conv(b, name+"conv1", x, width, 1, 1, 0)
	y = b.ReLU(b.BatchNorm(name+"bn1", y))
	y = conv(b, name+"conv2", y, width, 3, stride, 1)
	y = b.ReLU(b.BatchNorm(name+"bn2", y))
	y = conv(b, name+"conv3", y, out, 1, 1, 0)
	y = b.BatchNorm(name+"bn3", y)
	return b.ReLU(b.Add(y, shortcut(b, name, x, out, stride)))
}

// shortcut is the identity when shapes agree, else torchvision's
// "downsample": strided 1x1 conv + BN.
func shortcut(b *nn.Builder, name string, x *nn.Value, out, stride int) *nn.Value {
	if stride == 1 && x.Shape[0] == out {
		return x
	}
	d := conv(b, name+"downsample.0", x, out, 1, stride, 0)
	return b.BatchNorm(name+"downsample.1", d)
}
