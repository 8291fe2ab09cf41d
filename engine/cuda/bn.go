package cuda

import (
	"os"

	"poselab/nn"
)

// BatchNorm and convolution bias-gradient launches. The default kernels
// split each channel over S blocks (grid (S, C)) so that a layer with 128
// channels of 131k elements fills all of an H100's 132 SMs; the legacy
// ones (POSELAB_CUDA_BN=legacy, for A/B runs) use one block per channel.

const (
	// bnChunkElems is the fewest elements one block reduces: enough work
	// per thread (16 at 256 threads) to hide the partial-sum round trip.
	bnChunkElems = 4096
	// bnMaxChunks bounds S: the apply kernels' blocks each add S partials.
	bnMaxChunks = 64
	bnBlock     = 256
)

// bnLegacyEnv reports whether POSELAB_CUDA_BN selects the one-block-per-
// channel kernels (read once per program, at compile).
func bnLegacyEnv() bool { return os.Getenv("POSELAB_CUDA_BN") == "legacy" }

// bnSplit cuts a channel's n elements into S chunks of chunk elements
// (the last may be shorter, none is empty): chunks of at least
// bnChunkElems, at most bnMaxChunks of them, S = 1 when n is small.
func bnSplit(n int) (S, chunk int) {
	S = min(max(n/bnChunkElems, 1), bnMaxChunks)
	return splitInto(n, S)
}

// splitInto is the chunk size for S chunks, with S lowered so that no
// chunk is empty.
func splitInto(n, S int) (int, int) {
	if n < 1 {
		return 1, 1
	}
	S = min(max(S, 1), n)
	chunk := (n + S - 1) / S
	return (n + chunk - 1) / chunk, chunk
}

// bnStatsOff is where, in a BatchNorm's aux buffer, the partial sums start
// (after the saved mean and 1/std, floats [0, C) and [C, 2C)).
func bnStatsOff(C int) int64 { return alignUp(int64(8 * C)) }

// bnAuxBytes is a BatchNorm's aux buffer: mean, 1/std and S partial pairs
// (double) per channel, shared by forward and backward (forward's are dead
// once its apply kernel ran).
func bnAuxBytes(C, S int) int64 { return bnStatsOff(C) + int64(16*C*S) }

// biasScratchBytes is the partial-sum scratch the convolutions' bias
// gradients share (they run one at a time on one stream).
func biasScratchBytes(C, B, HW int) int64 {
	S, _ := bnSplit(B * HW)
	return int64(8 * C * S)
}

// biasScratch is the plan's shared bias-gradient scratch for g at batch B:
// the largest any convolution with a bias needs.
func biasScratch(g *nn.Graph, B int) int64 {
	var most int64
	for _, n := range g.Nodes {
		if (n.Op == nn.OpConv2d || n.Op == nn.OpConvT2d) && n.Bias {
			C, HW := chw(n.Shape)
			most = max(most, biasScratchBytes(C, B, HW))
		}
	}
	return most
}

// bnFwd is one BatchNorm training forward's buffers and shape.
type bnFwd struct {
	x, y, gamma, beta, rmean, rvar, aux uint64
	B, C, HW                            int
	eps, mom                            float32
	update, relu                        int
	cbias                               uint64 // a folded convolution bias for the running mean, or 0
}

// bnTrain queues a training forward: batch statistics, output, saved mean
// and 1/std, running statistics when update is 1. S chunks per channel
// (legacy: ignored).
func (d *device) bnTrain(a bnFwd, S int, legacy bool) error {
	smean, sinv := a.aux, a.aux+uint64(4*a.C)
	if legacy {
		return d.launch("bn_train", a.C, bnThreads(a.B*a.HW), a.x, a.y, a.gamma, a.beta, a.rmean, a.rvar, smean, sinv,
			a.B, a.C, a.HW, f32(a.eps), f32(a.mom), a.update, a.relu, a.cbias)
	}
	S, chunk := splitInto(a.B*a.HW, S)
	part := a.aux + uint64(bnStatsOff(a.C))
	if err := d.launch2("bn_stats", S, a.C, bnBlock, a.x, part, a.B, a.C, a.HW, S, chunk); err != nil {
		return err
	}
	return d.launch2("bn_apply", S, a.C, bnBlock, a.x, a.y, a.gamma, a.beta, a.rmean, a.rvar, smean, sinv, part,
		a.B, a.C, a.HW, S, chunk, f32(a.eps), f32(a.mom), a.update, a.relu, a.cbias)
}

// bnBwd is one BatchNorm backward's buffers: dx 0 when the input needs no
// gradient, acc as in kernels.go.
type bnBwd struct {
	x, dy, gamma, aux, dx, dgamma, dbeta uint64
	// reluBeta is the BatchNorm's beta when a ReLU is fused into it (the
	// kernels recompute which elements the ReLU passed), else 0.
	reluBeta      uint64
	B, C, HW, acc int
}

// bnTrainBack queues the gamma, beta and (dx != 0) input gradients.
func (d *device) bnTrainBack(a bnBwd, S int, legacy bool) error {
	smean, sinv := a.aux, a.aux+uint64(4*a.C)
	if legacy {
		return d.launch("bn_train_back", a.C, bnThreads(a.B*a.HW), a.x, a.dy, a.reluBeta, a.gamma, smean, sinv, a.dx,
			a.dgamma, a.dbeta, a.B, a.C, a.HW, a.acc)
	}
	S, chunk := splitInto(a.B*a.HW, S)
	part := a.aux + uint64(bnStatsOff(a.C))
	if err := d.launch2("bn_back_reduce", S, a.C, bnBlock, a.x, a.dy, a.reluBeta, a.gamma, smean, sinv, part, a.B, a.C, a.HW, S,
		chunk); err != nil {
		return err
	}
	gx := S
	if a.dx == 0 {
		gx = 1 // only the blocks that write dgamma and dbeta
	}
	return d.launch2("bn_back_apply", gx, a.C, bnBlock, a.x, a.dy, a.reluBeta, a.gamma, smean, sinv, part, a.dx, a.dgamma,
		a.dbeta, a.B, a.C, a.HW, S, chunk, a.acc)
}

// biasGrad queues db[c] = sum of dy over batch and space (a convolution's
// bias gradient); scratch holds biasScratchBytes (S chunks per channel).
func (d *device) biasGrad(dy, db, scratch uint64, B, C, HW, S int, legacy bool) error {
	if legacy {
		return d.launch("bias_grad", C, bnThreads(B*HW), dy, db, B, C, HW)
	}
	S, chunk := splitInto(B*HW, S)
	if err := d.launch2("bias_part", S, C, bnBlock, dy, scratch, B, C, HW, S, chunk); err != nil {
		return err
	}
	return d.launch("bias_final", (C+bnBlock-1)/bnBlock, bnBlock, scratch, db, C, S)
}
