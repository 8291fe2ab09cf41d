package cuda

// The parity test's rules for gradients that are zero up to rounding
// must neither fail a correct device nor skip a real gradient.

import (
	"testing"

	"poselab/engine/cpu"
	"poselab/nn"
)

// A convolution that is a loss prediction AND feeds a BatchNorm (deep
// supervision): its bias gradient is not zero; biasesIntoBatchNorm ignores
// `exposed` and the parity test demands rms < 1e-6. CPU against CPU.
func TestParityExposedConvIntoBatchNorm(t *testing.T) {
	c := parityCase{"exposed-conv-into-bn", 3, nil, func(b *nn.Builder) {
		x := b.Input("x", 3, 6, 6)
		b.Input("t", 4, 6, 6)
		h := b.Conv2d("c1", x, 4, 3, 1, 1, true)
		y := b.Conv2d("c2", b.ReLU(b.BatchNorm("bn", h)), 4, 3, 1, 1, true)
		b.Loss(nn.MSE, h, "t", "", 1)
		b.Loss(nn.MSE, y, "t", "", 1)
	}}
	runParity(t, cpu.New(), cpu.New(), c, 1e-6)
}

// A bias whose exact gradient is zero for a reason biasesIntoBatchNorm
// does not see (a max-pool between the convolution and the BatchNorm
// commutes with a per-channel shift): emulated GPU against CPU.
func TestParityZeroGradientBehindMaxPool(t *testing.T) {
	emulator(t)
	c := parityCase{"conv-pool-bn", 3, nil, func(b *nn.Builder) {
		x := b.Input("x", 3, 8, 8)
		b.Input("t", 4, 4, 4)
		h := b.MaxPool2d(b.Conv2d("c1", x, 4, 3, 1, 1, true), 2, 2, 0)
		b.Loss(nn.MSE, b.Conv2d("c2", b.ReLU(b.BatchNorm("bn", h)), 4, 3, 1, 1, true), "t", "", 1)
	}}
	d, _ := newEmuDevice(t)
	defer close(d.work)
	runParity(t, cpu.New(), &backend{d: d}, c, 1e-4)
}
