package models

import (
	"fmt"

	"poselab/nn"
)

// The building blocks of Newell et al.'s Stacked Hourglass, written with
// the nn.Builder. Parameter names follow the PyTorch peer
// (/work/shared/peers/peer.py) so that a state_dict maps one to one.

// Residual is the pre-activation bottleneck module of the hourglass paper:
// BN-ReLU-1x1 conv (out/2), BN-ReLU-3x3 conv (out/2), BN-ReLU-1x1 conv
// (out), plus the input (through a 1x1 conv when the channel count
// changes).
func Residual(b *nn.Builder, name string, x *nn.Value, out int) *nn.Value {
	in := x.Shape[0]
	mid := out / 2
	if mid < 1 {
		panic(fmt.Sprintf("models: Residual %s needs at least 2 output channels, got %d", name, out))
	}
	y := b.Conv2d(name+".c1", b.ReLU(b.BatchNorm(name+".bn1", x)), mid, 1, 1, 0, true)
	y = b.Conv2d(name+".c2", b.ReLU(b.BatchNorm(name+".bn2", y)), mid, 3, 1, 1, true)
	y = b.Conv2d(name+".c3", b.ReLU(b.BatchNorm(name+".bn3", y)), out, 1, 1, 0, true)
	skip := x
	if in != out {
		skip = b.Conv2d(name+".skip", x, out, 1, 1, 0, true)
	}
	return b.Add(y, skip)
}

// Hourglass is one hourglass module of the given depth: the upper branch
// keeps the resolution through a residual module; the lower branch max-pools
// by 2, runs a residual module, a depth-1 hourglass (a residual module at
// depth 1), another residual module, and is upsampled (nearest) back and
// added. The spatial size must be divisible by 2^depth.
func Hourglass(b *nn.Builder, name string, x *nn.Value, depth int) *nn.Value {
	f, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	if depth < 1 {
		panic(fmt.Sprintf("models: Hourglass %s depth %d < 1", name, depth))
	}
	if h%2 != 0 || w%2 != 0 {
		panic(fmt.Sprintf("models: Hourglass %s: %dx%d is not divisible by 2 at depth %d", name, h, w, depth))
	}
	up := Residual(b, name+".up1", x, f)
	low := Residual(b, name+".low1", b.MaxPool2d(x, 2, 2, 0), f)
	if depth > 1 {
		low = Hourglass(b, name+".low2", low, depth-1)
	} else {
		low = Residual(b, name+".low2", low, f)
	}
	low = Residual(b, name+".low3", low, f)
	return b.Add(up, b.Upsample2x(low))
}
