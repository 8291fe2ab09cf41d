package cuda

import (
	"fmt"
	"os"
	"sort"

	"poselab/nn"
)

// The plan lays out every device buffer a compiled program needs in one
// arena allocated once at Compile: nothing is allocated per step, and the
// fixed addresses let a captured CUDA graph be replayed. It is pure
// arithmetic, tested without a GPU.

const align = 256 // bytes; cuDNN and vector loads like 256-byte alignment

func alignUp(n int64) int64 { return (n + align - 1) / align * align }

// lossParts is the number of per-block partial sums a loss kernel writes.
const lossParts = 1024

// nodeBufs are one node's buffers (byte offsets into the arena; -1: none).
type nodeBufs struct {
	Y, DY    int64 // output and its gradient
	Aux      int64 // op scratch: BN mean and 1/std, max-pool argmax, soft-argmax probabilities
	AuxBytes int64
	N        int64 // elements of the output over the whole batch
}

// plan is the arena layout of one compiled graph.
type plan struct {
	B     int
	Nodes []nodeBufs
	// NeedGrad: the node's output gradient is needed (it depends on a
	// parameter and reaches a loss).
	NeedGrad []bool
	// FusedReLU maps a BatchNorm whose only consumer is a ReLU to that
	// ReLU: the BatchNorm kernels apply the ReLU, the ReLU node shares the
	// BatchNorm's output buffer and runs nothing, and the BatchNorm has no
	// gradient buffer of its own (its backward reads the ReLU's).
	FusedReLU map[int]int
	fusedInto map[int]bool // ReLU nodes fused into their BatchNorm

	Ctrl, LossOut, LossPart int64
	// Scratch is the partial sums the convolutions' bias gradients share.
	Scratch, ScratchBytes int64
	// The parameter arenas share one layout (ParamOff, in floats), so a
	// single Adam launch updates them all.
	Params, Grads, AdamM, AdamV int64
	ParamFloats                 int64
	ParamOff                    map[string]int64
	Buffers                     int64
	BufferOff                   map[string]int64
	BufferFloats                int64
	// [GradStart, GradEnd) holds parameter gradients and every node's
	// output gradient. Gradient buffers are not cleared each step: the
	// first contribution in the step's order writes (Overwrite, by
	// contribution key) and later ones add; ZeroDY lists the nodes whose
	// gradient must be zeroed first (scattering max-pool backward, or no
	// contribution at all). With ZeroAll the whole region is zeroed and
	// every contribution adds (POSELAB_CUDA_ZEROGRAD=1, for debugging).
	GradStart, GradEnd int64
	Overwrite          map[int]bool
	ZeroDY             []int
	ZeroAll            bool
	Total              int64
}

// auxBytes is the op scratch per node.
func auxBytes(g *nn.Graph, n *nn.Node, B int) int64 {
	switch n.Op {
	case nn.OpBatchNorm:
		C := n.Shape[0]
		S, _ := bnSplit(B * nn.Numel(n.Shape) / C)
		return bnAuxBytes(C, S)
	case nn.OpMaxPool2d:
		return int64(B * nn.Numel(n.Shape) * 4) // int32 argmax
	case nn.OpSoftArgmax3D:
		return int64(B * nn.Numel(g.Nodes[n.Inputs[0]].Shape) * 4)
	}
	return 0
}

// makePlan lays out g for batch B.
func makePlan(g *nn.Graph, B int) (*plan, error) {
	if B < 1 {
		return nil, fmt.Errorf("cuda: batch size %d, want at least 1", B)
	}
	p := &plan{B: B, Nodes: make([]nodeBufs, len(g.Nodes)), NeedGrad: make([]bool, len(g.Nodes)),
		ParamOff: map[string]int64{}, BufferOff: map[string]int64{}}
	var off int64
	take := func(bytes int64) int64 {
		o := off
		off += alignUp(bytes)
		return o
	}
	p.Ctrl = take(64)
	p.LossOut = take(8)
	p.LossPart = take(lossParts * 8)
	p.ScratchBytes = biasScratch(g, B)
	p.Scratch = take(p.ScratchBytes)

	// Parameter layout (floats, each parameter 64-float aligned).
	var pf, bf int64
	for _, ps := range g.Params {
		n := int64(nn.Numel(ps.Shape))
		if ps.Buffer {
			p.BufferOff[ps.Name] = bf
			bf += (n + 63) / 64 * 64
			continue
		}
		p.ParamOff[ps.Name] = pf
		pf += (n + 63) / 64 * 64
	}
	p.ParamFloats, p.BufferFloats = pf, bf
	p.Params = take(pf * 4)
	p.AdamM = take(pf * 4)
	p.AdamV = take(pf * 4)
	p.Buffers = take(bf * 4)

	// Which nodes need gradients: those downstream of a parameter...
	hasParam := func(n *nn.Node) bool {
		switch n.Op {
		case nn.OpLinear, nn.OpConv2d, nn.OpConvT2d, nn.OpBatchNorm:
			return true
		}
		return false
	}
	for i, n := range g.Nodes {
		if n.ID != i {
			return nil, fmt.Errorf("cuda: node %d has id %d", i, n.ID)
		}
		for _, in := range n.Inputs {
			if in < 0 || in >= i {
				return nil, fmt.Errorf("cuda: node %d (%s) reads node %d: not in topological order", i, n.Op, in)
			}
			p.NeedGrad[i] = p.NeedGrad[i] || p.NeedGrad[in]
		}
		p.NeedGrad[i] = p.NeedGrad[i] || hasParam(n)
	}
	// ...and upstream of a loss.
	reach := make([]bool, len(g.Nodes))
	for _, l := range g.Losses {
		if l.Pred < 0 || l.Pred >= len(g.Nodes) {
			return nil, fmt.Errorf("cuda: loss on node %d of %d", l.Pred, len(g.Nodes))
		}
		reach[l.Pred] = true
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		if reach[i] {
			for _, in := range g.Nodes[i].Inputs {
				reach[in] = true
			}
		}
	}
	for i := range p.NeedGrad {
		p.NeedGrad[i] = p.NeedGrad[i] && reach[i]
	}

	p.FusedReLU, p.fusedInto = fuseBatchNormReLU(g), map[int]bool{}
	if os.Getenv("POSELAB_CUDA_FUSE") == "0" { // debugging switch
		p.FusedReLU = map[int]int{}
	}
	for _, r := range p.FusedReLU {
		p.fusedInto[r] = true
	}

	// Activations and scratch.
	for i, n := range g.Nodes {
		nb := &p.Nodes[i]
		nb.N = int64(B * nn.Numel(n.Shape))
		if nb.N >= 1<<31 || (n.Op == nn.OpSoftArgmax3D && int64(B*nn.Numel(g.Nodes[n.Inputs[0]].Shape)) >= 1<<31) {
			return nil, fmt.Errorf("cuda: node %d (%s) holds %d values at batch %d: the kernels index at most 2^31-1", i, n.Op, nb.N, B)
		}
		nb.DY, nb.Aux = -1, -1
		if n.Op == nn.OpReshape || p.fusedInto[i] {
			nb.Y = p.Nodes[n.Inputs[0]].Y // a reshape or fused ReLU is free: same buffer
			continue
		}
		nb.Y = take(nb.N * 4)
		if a := auxBytes(g, n, B); a > 0 {
			nb.AuxBytes = a
			nb.Aux = take(a)
		}
	}
	// Gradients last, in one contiguous region: parameter gradients, then
	// the nodes' output gradients.
	p.GradStart = off
	p.Grads = take(pf * 4)
	p.ZeroAll = os.Getenv("POSELAB_CUDA_ZEROGRAD") == "1" // debugging switch
	for i, n := range g.Nodes {
		_, fused := p.FusedReLU[i]
		if p.NeedGrad[i] && n.Op != nn.OpReshape && !fused { // a fused BatchNorm reads its ReLU's gradient
			p.Nodes[i].DY = 0 // needed; placed below
		}
	}
	p.planInit(g)
	reuse := !p.ZeroAll && os.Getenv("POSELAB_CUDA_GRADREUSE") != "0"
	poolBytes := p.placeGradients(g, reuse)
	for i := range g.Nodes {
		if p.Nodes[i].DY >= 0 && g.Nodes[i].Op != nn.OpReshape {
			p.Nodes[i].DY += off
		}
	}
	for i, n := range g.Nodes {
		if n.Op == nn.OpReshape && p.NeedGrad[i] {
			p.Nodes[i].DY = p.Nodes[gradOwner(g, i)].DY
		}
	}
	off += poolBytes
	p.GradEnd = off
	p.Total = off
	return p, nil
}

// gradInterval is when a gradient buffer holds data during the backward
// pass, in the step's order: losses 0..L-1, then node backwards from the
// last node to the first.
type gradInterval struct {
	node        int
	first, last int
	bytes       int64
}

// gradIntervals lists every owned gradient buffer's live interval.
func (p *plan) gradIntervals(g *nn.Graph) []gradInterval {
	L, N := len(g.Losses), len(g.Nodes)
	back := func(i int) int { return L + (N - 1 - i) }
	iv := map[int]*gradInterval{}
	for i, n := range g.Nodes {
		if p.Nodes[i].DY >= 0 && n.Op != nn.OpReshape {
			iv[i] = &gradInterval{node: i, first: 1 << 30, last: -1, bytes: alignUp(p.Nodes[i].N * 4)}
		}
	}
	write := func(target, t int) {
		if v := iv[gradOwner(g, target)]; v != nil && t < v.first {
			v.first = t
		}
	}
	read := func(o, t int) {
		if v := iv[o]; v != nil && t > v.last {
			v.last = t
		}
	}
	for li, l := range g.Losses {
		if p.NeedGrad[l.Pred] {
			write(l.Pred, li)
		}
	}
	for i := N - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if !p.NeedGrad[i] || n.Op == nn.OpReshape || n.Op == nn.OpInput || p.fusedInto[i] {
			continue
		}
		if r, fused := p.FusedReLU[i]; fused {
			read(r, back(i))
		} else {
			read(i, back(i))
		}
		for _, in := range n.Inputs {
			if p.NeedGrad[in] {
				write(in, back(i))
			}
		}
	}
	for _, o := range p.ZeroDY {
		if v := iv[o]; v != nil {
			v.first = -1 // zeroed before the losses
		}
	}
	out := make([]gradInterval, 0, len(iv))
	for _, v := range iv {
		if v.first > v.last { // never written or never read: keep it for the whole step
			v.first, v.last = -1, L+N
		}
		out = append(out, *v)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].node < out[b].node })
	return out
}

// placeGradients gives every owned gradient buffer an offset (relative to
// the pool) and returns the pool's size. With reuse, buffers whose live
// intervals do not overlap share memory (largest first, each at the lowest
// offset free during its interval); without, they are laid end to end.
func (p *plan) placeGradients(g *nn.Graph, reuse bool) int64 {
	ivs := p.gradIntervals(g)
	if !reuse {
		var off int64
		for _, v := range ivs {
			p.Nodes[v.node].DY = off
			off += v.bytes
		}
		return off
	}
	order := append([]gradInterval(nil), ivs...)
	sort.SliceStable(order, func(a, b int) bool { return order[a].bytes > order[b].bytes })
	type placed struct {
		gradInterval
		off int64
	}
	var done []placed
	var size int64
	for _, v := range order {
		// Address ranges taken by buffers live at the same time, by start.
		var busy []placed
		for _, d := range done {
			if d.first <= v.last && v.first <= d.last {
				busy = append(busy, d)
			}
		}
		sort.Slice(busy, func(a, b int) bool { return busy[a].off < busy[b].off })
		var off int64
		for _, b := range busy {
			if off+v.bytes <= b.off {
				break
			}
			if end := b.off + b.bytes; end > off {
				off = end
			}
		}
		p.Nodes[v.node].DY = off
		done = append(done, placed{v, off})
		if off+v.bytes > size {
			size = off + v.bytes
		}
	}
	return size
}

// Contribution keys: backward of node n into its k-th input, or loss l's
// gradient into its prediction.
func contribKey(node, input int) int { return node*4 + input }
func lossKey(l int) int              { return -1 - l }

// gradOwner follows reshape aliases to the node that owns a gradient buffer.
func gradOwner(g *nn.Graph, id int) int {
	for g.Nodes[id].Op == nn.OpReshape {
		id = g.Nodes[id].Inputs[0]
	}
	return id
}

// planInit decides, in the order the step runs them (losses, then node
// backwards from last to first, inputs in order), which contribution
// initialises each gradient buffer.
func (p *plan) planInit(g *nn.Graph) {
	p.Overwrite = map[int]bool{}
	p.ZeroDY = nil
	if p.ZeroAll {
		return
	}
	seen := map[int]bool{}
	note := func(key, target int, canWrite bool) {
		o := gradOwner(g, target)
		if seen[o] {
			return
		}
		seen[o] = true
		if canWrite {
			p.Overwrite[key] = true
		} else {
			p.ZeroDY = append(p.ZeroDY, o)
		}
	}
	for li, l := range g.Losses {
		if p.NeedGrad[l.Pred] {
			note(lossKey(li), l.Pred, true)
		}
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if !p.NeedGrad[i] || n.Op == nn.OpReshape || n.Op == nn.OpInput || p.fusedInto[i] {
			continue
		}
		for k, in := range n.Inputs {
			if p.NeedGrad[in] {
				scatter := n.Op == nn.OpMaxPool2d && n.K > n.Stride
				note(contribKey(i, k), in, !scatter)
			}
		}
	}
	for i, n := range g.Nodes {
		if p.Nodes[i].DY >= 0 && n.Op != nn.OpReshape && !seen[i] {
			p.ZeroDY = append(p.ZeroDY, i)
		}
	}
}

// fuseBatchNormReLU finds BatchNorm nodes consumed by exactly one node, a
// ReLU, and neither an output nor a loss prediction themselves.
func fuseBatchNormReLU(g *nn.Graph) map[int]int {
	consumers := make([][]int, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			consumers[in] = append(consumers[in], n.ID)
		}
	}
	exposed := map[int]bool{}
	for _, id := range g.Outputs {
		exposed[id] = true
	}
	for _, l := range g.Losses {
		exposed[l.Pred] = true
	}
	fused := map[int]int{}
	for _, n := range g.Nodes {
		if n.Op != nn.OpBatchNorm || exposed[n.ID] || len(consumers[n.ID]) != 1 {
			continue
		}
		if r := consumers[n.ID][0]; g.Nodes[r].Op == nn.OpReLU {
			fused[n.ID] = r
		}
	}
	return fused
}

// paramNames returns the trainable parameter names in layout order.
func (p *plan) paramNames() []string {
	names := make([]string, 0, len(p.ParamOff))
	for n := range p.ParamOff {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return p.ParamOff[names[i]] < p.ParamOff[names[j]] })
	return names
}
