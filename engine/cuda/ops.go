package cuda

import (
	"fmt"
	"time"

	"poselab/engine/cuda/cu"
	"poselab/nn"
)

// bnThreads picks the block size of the one-block-per-channel kernels.
func bnThreads(n int) int {
	switch {
	case n <= 256:
		return 256
	case n <= 16384:
		return 512
	}
	return 1024
}

// chw splits a per-sample shape into channels and the spatial size.
func chw(shape []int) (c, hw int) {
	c = shape[0]
	return c, nn.Numel(shape) / c
}

// foldedBias is the bias of convolution id when its output leaves it out
// for its consumer to add (the plan's BiasInto), else 0.
func (p *program) foldedBias(id int) uint64 {
	if _, folded := p.pl.BiasInto[id]; folded {
		return p.param(p.g.Nodes[id].Name + ".bias")
	}
	return 0
}

// forward queues every node's forward computation.
func (p *program) forward(train, update bool) error {
	for _, n := range p.g.Nodes {
		t0 := p.profStart()
		if err := p.forwardNode(n, train, update); err != nil {
			return fmt.Errorf("cuda: forward %s node %d (%s): %w", n.Op, n.ID, n.Name, err)
		}
		p.profEnd(t0, string(n.Op)+" fwd")
	}
	return nil
}

// profStart and profEnd time each node when a profile is being taken
// (eager steps only: they wait for the GPU after every node).
func (p *program) profStart() time.Time {
	if p.prof == nil {
		return time.Time{}
	}
	p.d.sync()
	return time.Now()
}

func (p *program) profEnd(t0 time.Time, key string) {
	if p.prof == nil {
		return
	}
	p.d.sync()
	p.prof[key] += time.Since(t0).Seconds()
}

func (p *program) forwardNode(n *nn.Node, train, update bool) error {
	d, B := p.d, p.pl.B
	nb := p.pl.Nodes[n.ID]
	y := p.y(n.ID)
	var x uint64
	var in *nn.Node
	if len(n.Inputs) > 0 {
		in = p.g.Nodes[n.Inputs[0]]
		x = p.y(in.ID)
	}
	switch n.Op {
	case nn.OpInput, nn.OpReshape:
		return nil
	case nn.OpLinear:
		F, O := in.Shape[0], n.Out
		if err := d.blas.Check("sgemm linear forward", d.blas.Sgemm(d.cublas, cu.OpT, cu.OpN, int32(O), int32(B), int32(F),
			&one, p.param(n.Name+".weight"), int32(F), x, int32(F), &zero, y, int32(O))); err != nil {
			return err
		}
		return d.launch("add_bias", d.gridFor(nb.N), 256, y, p.param(n.Name+".bias"), i64(nb.N), O, 1)
	case nn.OpConv2d, nn.OpConvT2d:
		l := p.convs[n.ID]
		w := p.param(n.Name + ".weight")
		var err error
		if n.Op == nn.OpConv2d {
			err = d.convForwardPrim(l, x, w, y, p.wsAt(n.ID, 0), &zero)
		} else {
			err = d.convBackwardDataPrim(l, w, x, y, p.wsAt(n.ID, 0), &zero)
		}
		if _, folded := p.pl.BiasInto[n.ID]; err != nil || !n.Bias || folded {
			return err
		}
		return d.launch("add_bias", d.gridFor(nb.N), 256, y, p.param(n.Name+".bias"), i64(nb.N), n.Shape[0], nn.Numel(n.Shape[1:]))
	case nn.OpBatchNorm:
		C, HW := chw(n.Shape)
		gm, bt := p.param(n.Name+".weight"), p.param(n.Name+".bias")
		rm, rv := p.buffer(n.Name+".running_mean"), p.buffer(n.Name+".running_var")
		relu := 0
		if _, fused := p.pl.FusedReLU[n.ID]; fused {
			relu = 1
		}
		cb := p.foldedBias(in.ID)
		if !train {
			return d.launch("bn_eval", d.gridFor(nb.N), 256, x, y, gm, bt, rm, rv, i64(nb.N), C, HW, f32(n.Eps), relu, cb)
		}
		upd := 0
		if update {
			upd = 1
		}
		S, _ := bnSplit(B * HW)
		return d.bnTrain(bnFwd{x: x, y: y, gamma: gm, beta: bt, rmean: rm, rvar: rv, aux: p.at(nb.Aux), B: B, C: C, HW: HW,
			eps: float32(n.Eps), mom: float32(n.Mom), update: upd, relu: relu, cbias: cb}, S, p.bnLegacy)
	case nn.OpReLU:
		if p.pl.fusedInto[n.ID] || p.pl.reluOfAdd[n.ID] {
			return nil // its BatchNorm or Add wrote max(0, .) into the shared buffer
		}
		return d.launch("relu_fwd", d.gridFor(nb.N), 256, x, y, i64(nb.N))
	case nn.OpDropout:
		tr := 0
		if train {
			tr = 1
		}
		return d.launch("dropout_fwd", d.gridFor(nb.N), 256, x, y, i64(nb.N), u64(uint64(p.opt.Seed)), p.at(p.pl.Ctrl),
			u64(uint64(n.ID)), f64(n.P), f32(float32(1/(1-n.P))), tr)
	case nn.OpMaxPool2d:
		C, H, W := in.Shape[0], in.Shape[1], in.Shape[2]
		return d.launch("maxpool_fwd", d.gridFor(nb.N), 256, x, y, p.at(nb.Aux), B*C, H, W, n.Shape[1], n.Shape[2], n.K, n.Stride, n.Pad)
	case nn.OpAvgPoolAll:
		C, HW := chw(in.Shape)
		return d.launch("gap_fwd", (B*C*32+255)/256, 256, x, y, B*C, HW)
	case nn.OpUpsample2x:
		return d.launch("upsample_fwd", d.gridFor(nb.N), 256, x, y, B*in.Shape[0], in.Shape[1], in.Shape[2])
	case nn.OpAdd:
		C, HW := chw(n.Shape)
		ba, bb := p.foldedBias(n.Inputs[0]), p.foldedBias(n.Inputs[1])
		kernel := "add_fwd"
		if _, relu := p.pl.AddReLU[n.ID]; relu {
			kernel = "add_relu_fwd"
		}
		return d.launch(kernel, d.gridFor(nb.N), 256, x, p.y(n.Inputs[1]), y, i64(nb.N), ba, bb, C, HW)
	case nn.OpSoftArgmax3D:
		H, W := in.Shape[1], in.Shape[2]
		return d.softArgmaxFwd(x, p.at(nb.Aux), y, B*n.Joints, n.Depth, H, W, p.bnLegacy)
	}
	return fmt.Errorf("unknown op")
}

// losses queues the objective (and, with grad, its gradient into the
// predictions' gradient buffers); the total lands in LossOut.
func (p *program) losses(grad bool) error {
	d := p.d
	for i, l := range p.g.Losses {
		nb := p.pl.Nodes[l.Pred]
		var mask, dp uint64
		if l.Mask != "" {
			mask = p.y(p.g.Inputs[l.Mask])
		}
		acc := 0
		if grad && p.pl.NeedGrad[l.Pred] {
			dp = p.dy(l.Pred)
			acc = p.acc(lossKey(i))
		}
		kind := 0
		if l.Kind == nn.MSE {
			kind = 1
		} else if l.Kind != nn.L1 {
			return fmt.Errorf("cuda: loss kind %q", l.Kind)
		}
		grid := int((nb.N + 255) / 256)
		if grid > lossParts {
			grid = lossParts
		}
		if err := d.launch("loss_terms", grid, 256, p.y(l.Pred), p.y(p.g.Inputs[l.Target]), mask, dp, p.at(p.pl.LossPart),
			i64(nb.N), kind, f64(l.Weight), acc); err != nil {
			return err
		}
		first := 0
		if i == 0 {
			first = 1
		}
		if err := d.launch("loss_reduce", 1, 1024, p.at(p.pl.LossPart), grid, p.at(p.pl.LossOut), first); err != nil {
			return err
		}
	}
	return nil
}

// acc is the kernels' acc flag of a contribution (0: first, overwrite).
func (p *program) acc(key int) int {
	if p.pl.Overwrite[key] {
		return 0
	}
	return 1
}

// beta is the cuBLAS/cuDNN beta of a contribution.
func (p *program) beta(key int) *float32 {
	if p.pl.Overwrite[key] {
		return &zero
	}
	return &one
}

// backward queues every node's backward computation in reverse order.
func (p *program) backward() error {
	for i := len(p.g.Nodes) - 1; i >= 0; i-- {
		n := p.g.Nodes[i]
		if !p.pl.NeedGrad[i] {
			continue
		}
		t0 := p.profStart()
		if err := p.backwardNode(n); err != nil {
			return fmt.Errorf("cuda: backward %s node %d (%s): %w", n.Op, n.ID, n.Name, err)
		}
		p.profEnd(t0, string(n.Op)+" bwd")
	}
	return nil
}

func (p *program) backwardNode(n *nn.Node) error {
	d, B := p.d, p.pl.B
	nb := p.pl.Nodes[n.ID]
	y, dy := p.y(n.ID), p.dy(n.ID)
	var x, dx uint64
	var in *nn.Node
	acc, beta := p.acc(contribKey(n.ID, 0)), p.beta(contribKey(n.ID, 0))
	if len(n.Inputs) > 0 {
		in = p.g.Nodes[n.Inputs[0]]
		x = p.y(in.ID)
		if p.pl.NeedGrad[in.ID] {
			dx = p.dy(in.ID)
		}
	}
	switch n.Op {
	case nn.OpInput, nn.OpReshape:
		return nil
	case nn.OpLinear:
		F, O := in.Shape[0], n.Out
		w := p.param(n.Name + ".weight")
		if dx != 0 {
			if err := d.blas.Check("sgemm linear dx", d.blas.Sgemm(d.cublas, cu.OpN, cu.OpN, int32(F), int32(B), int32(O),
				&one, w, int32(F), dy, int32(O), beta, dx, int32(F))); err != nil {
				return err
			}
		}
		if err := d.blas.Check("sgemm linear dw", d.blas.Sgemm(d.cublas, cu.OpN, cu.OpT, int32(F), int32(O), int32(B),
			&one, x, int32(F), dy, int32(O), &zero, p.grad(n.Name+".weight"), int32(F))); err != nil {
			return err
		}
		return d.launch("bias_grad", O, 256, dy, p.grad(n.Name+".bias"), B, O, 1)
	case nn.OpConv2d, nn.OpConvT2d:
		l := p.convs[n.ID]
		w, dw := p.param(n.Name+".weight"), p.grad(n.Name+".weight")
		if n.Op == nn.OpConv2d {
			if err := d.convBackwardFilterPrim(l, x, dy, dw, p.wsAt(n.ID, 1)); err != nil {
				return err
			}
			if dx != 0 {
				if err := d.convBackwardDataPrim(l, w, dy, dx, p.wsAt(n.ID, 1), beta); err != nil {
					return err
				}
			}
		} else {
			if err := d.convBackwardFilterPrim(l, dy, x, dw, p.wsAt(n.ID, 1)); err != nil {
				return err
			}
			if dx != 0 {
				if err := d.convForwardPrim(l, dy, w, dx, p.wsAt(n.ID, 1), beta); err != nil {
					return err
				}
			}
		}
		if !n.Bias {
			return nil
		}
		C, HW := chw(n.Shape)
		S, _ := bnSplit(B * HW)
		return d.biasGrad(dy, p.grad(n.Name+".bias"), p.at(p.pl.Scratch), B, C, HW, S, p.bnLegacy)
	case nn.OpBatchNorm:
		C, HW := chw(n.Shape)
		var reluBeta uint64
		if rid, fused := p.pl.FusedReLU[n.ID]; fused {
			dy, reluBeta = p.dy(rid), p.param(n.Name+".bias")
		}
		S, _ := bnSplit(B * HW)
		return d.bnTrainBack(bnBwd{x: x, dy: dy, reluBeta: reluBeta, gamma: p.param(n.Name + ".weight"), aux: p.at(nb.Aux), dx: dx,
			dgamma: p.grad(n.Name + ".weight"), dbeta: p.grad(n.Name + ".bias"), B: B, C: C, HW: HW, acc: acc}, S, p.bnLegacy)
	}
	if (dx == 0 && n.Op != nn.OpAdd) || p.pl.fusedInto[n.ID] {
		return nil
	}
	switch n.Op {
	case nn.OpReLU:
		return d.launch("relu_back", d.gridFor(nb.N), 256, y, dy, dx, i64(nb.N), acc)
	case nn.OpDropout:
		return d.launch("dropout_back", d.gridFor(nb.N), 256, dy, dx, i64(nb.N), u64(uint64(p.opt.Seed)), p.at(p.pl.Ctrl),
			u64(uint64(n.ID)), f64(n.P), f32(float32(1/(1-n.P))), acc)
	case nn.OpMaxPool2d:
		C, H, W := in.Shape[0], in.Shape[1], in.Shape[2]
		if n.K <= n.Stride {
			return d.launch("maxpool_back_disjoint", d.gridFor(int64(B*C*H*W)), 256, dy, p.at(nb.Aux), dx, B*C, H, W,
				n.Shape[1], n.Shape[2], n.K, n.Stride, n.Pad, acc)
		}
		// Overlapping windows scatter with atomics into a zeroed buffer.
		return d.launch("maxpool_back", d.gridFor(nb.N), 256, dy, p.at(nb.Aux), dx, B*C, H*W, n.Shape[1]*n.Shape[2])
	case nn.OpAvgPoolAll:
		C, HW := chw(in.Shape)
		return d.launch("gap_back", d.gridFor(int64(B*C*HW)), 256, dy, dx, B*C, HW, acc)
	case nn.OpUpsample2x:
		return d.launch("upsample_back", d.gridFor(int64(B*nn.Numel(in.Shape))), 256, dy, dx, B*in.Shape[0], in.Shape[1], in.Shape[2], acc)
	case nn.OpAdd:
		for k, id := range n.Inputs {
			if !p.pl.NeedGrad[id] || p.pl.gradAliasedTo(id, n.ID) {
				continue // no gradient, or it reads this Add's gradient buffer
			}
			if err := d.launch("accumulate", d.gridFor(nb.N), 256, dy, p.dy(id), i64(nb.N), p.acc(contribKey(n.ID, k))); err != nil {
				return err
			}
		}
		return nil
	case nn.OpSoftArgmax3D:
		H, W := in.Shape[1], in.Shape[2]
		total := int64(B * nn.Numel(in.Shape))
		return d.launch("softargmax_back", d.gridFor(total), 256, p.at(nb.Aux), y, dy, dx, i64(total), n.Depth, H, W, acc)
	}
	return fmt.Errorf("unknown op")
}
