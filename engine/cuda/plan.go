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

// cursor hands out aligned arena offsets one after another.
type cursor struct{ off int64 }

func (c *cursor) take(bytes int64) int64 {
	o := c.off
	c.off += alignUp(bytes)
	return o
}

// lossParts is the number of per-block partial sums a loss kernel writes.
const lossParts = 1024

// nodeBufs are one node's buffers (byte offsets into the arena; -1: none).
type nodeBufs struct {
	Y, DY    int64 // output and its gradient
	Aux      int64 // op scratch: BN mean, 1/std and partial sums, max-pool argmax, soft-argmax probabilities
	AuxBytes int64
	N        int64 // elements of the output over the whole batch
	// WS is a convolution's cuDNN workspace at its forward (0) and
	// backward (1) moments, pooled like everything else (-1: none, or the
	// program's one shared workspace outside the pooled layout).
	WS, WSBytes [2]int64
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
	// AddReLU maps an Add whose only consumer is a ReLU to that ReLU: the
	// Add's kernel applies max(0, .) and writes the ReLU's buffer (the sum
	// itself is never stored); the ReLU runs no forward of its own but its
	// backward as usual (it reads its output, the shared buffer).
	AddReLU   map[int]int
	reluOfAdd map[int]bool
	// GradAlias maps a node whose only consumer is an Add to that Add: the
	// gradient of an Add's input is the Add's gradient, so the input reads
	// the Add's gradient buffer instead of a copy (a residual's last
	// convolution, an upsampling).
	GradAlias map[int]int
	// BiasInto maps a convolution with a bias whose only consumer is a
	// BatchNorm or an Add to that consumer: the convolution's output is
	// left without its bias (no add_bias pass over it) and the consumer
	// adds it where it matters: the Add to its sum, the BatchNorm to its
	// running mean and in evaluation (a batch-statistics BatchNorm's
	// output does not depend on a per-channel shift of its input).
	BiasInto map[int]int

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
	// [GradStart, GradEnd) holds the parameter gradients and, without
	// pooling (Reuse != reuseAll), every node's output gradient; pooled
	// node gradients live in the pool with everything else. Gradient
	// buffers are not cleared each step: the
	// first contribution in the step's order writes (Overwrite, by
	// contribution key) and later ones add; ZeroDY lists the nodes whose
	// gradient must be zeroed first (scattering max-pool backward, or no
	// contribution at all). With ZeroAll the whole region is zeroed and
	// every contribution adds (POSELAB_CUDA_ZEROGRAD=1, for debugging).
	GradStart, GradEnd int64
	Overwrite          map[int]bool
	ZeroDY             []int
	ZeroAll            bool
	// Reuse is the memory-sharing mode (reuseAll, reuseGrad, reuseNone).
	Reuse string
	Total int64
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
		return softArgmaxAuxBytes(B*n.Joints, nn.Numel(g.Nodes[n.Inputs[0]].Shape)/n.Joints)
	}
	return 0
}

// makePlan lays out g for batch B, without convolution workspaces.
func makePlan(g *nn.Graph, B int) (*plan, error) { return makePlanWith(g, B, nil) }

// makePlanWith lays out g for batch B with the convolution workspaces ws
// (bytes at each node's forward and backward moments).
func makePlanWith(g *nn.Graph, B int, ws map[int][2]int64) (*plan, error) {
	if B < 1 {
		return nil, fmt.Errorf("cuda: batch size %d, want at least 1", B)
	}
	p := &plan{B: B, Nodes: make([]nodeBufs, len(g.Nodes)), NeedGrad: make([]bool, len(g.Nodes)),
		ParamOff: map[string]int64{}, BufferOff: map[string]int64{}}
	cur := &cursor{}
	take := cur.take
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

	p.FusedReLU, p.AddReLU, p.BiasInto = map[int]int{}, map[int]int{}, map[int]int{}
	if os.Getenv("POSELAB_CUDA_FUSE") != "0" { // debugging switch: no fusion at all
		p.FusedReLU, p.AddReLU, p.BiasInto = fuseBatchNormReLU(g), fuseAddReLU(g), foldConvBias(g)
	}
	p.fusedInto, p.reluOfAdd = map[int]bool{}, map[int]bool{}
	for _, r := range p.FusedReLU {
		p.fusedInto[r] = true
	}
	for _, r := range p.AddReLU {
		p.reluOfAdd[r] = true
	}
	p.GradAlias = addGradAliases(g, p.NeedGrad)
	if os.Getenv("POSELAB_CUDA_ALIAS") == "0" { // debugging switch
		p.GradAlias = map[int]int{}
	}

	for i, n := range g.Nodes {
		nb := &p.Nodes[i]
		nb.N = int64(B * nn.Numel(n.Shape))
		if nb.N >= 1<<31 || (n.Op == nn.OpSoftArgmax3D && int64(B*nn.Numel(g.Nodes[n.Inputs[0]].Shape)) >= 1<<31) {
			return nil, fmt.Errorf("cuda: node %d (%s) holds %d values at batch %d: the kernels index at most 2^31-1", i, n.Op, nb.N, B)
		}
		nb.Y, nb.DY, nb.Aux, nb.WS = -1, -1, -1, [2]int64{-1, -1}
		nb.AuxBytes = auxBytes(g, n, B)
		nb.WSBytes = ws[i]
		_, fused := p.FusedReLU[i]
		_, aliased := p.GradAlias[i]
		if p.NeedGrad[i] && n.Op != nn.OpReshape && !fused && !aliased { // a fused BatchNorm reads its ReLU's gradient
			nb.DY = 0 // needed; placed below
		}
	}
	p.ZeroAll = os.Getenv("POSELAB_CUDA_ZEROGRAD") == "1" // debugging switch
	p.planInit(g)
	p.Reuse = memReuse(p.ZeroAll)
	if p.Reuse == reuseAll {
		p.layoutPooled(g, cur)
	} else {
		p.layoutSeparate(g, cur)
	}
	// Aliases: a reshape or a fused ReLU is free (its input's buffer); a
	// reshape's gradient, and an Add input's, is its owner's.
	for i, n := range g.Nodes {
		if n.Op == nn.OpReshape || p.fusedInto[i] || p.reluOfAdd[i] {
			p.Nodes[i].Y = p.Nodes[n.Inputs[0]].Y
		}
		if _, aliased := p.GradAlias[i]; p.NeedGrad[i] && (n.Op == nn.OpReshape || aliased) {
			p.Nodes[i].DY = p.Nodes[p.gradOwner(g, i)].DY
		}
	}
	p.Total = cur.off
	return p, nil
}

// Memory reuse modes (POSELAB_CUDA_MEMREUSE): all buffers pooled by live
// interval (the default), gradients only ("grad", the layout measured in
// the first GPU session), or none ("0"; also POSELAB_CUDA_GRADREUSE=0 and
// POSELAB_CUDA_ZEROGRAD=1, which zeroes one contiguous gradient region).
const (
	reuseNone = "none"
	reuseGrad = "grad"
	reuseAll  = "all"
)

func memReuse(zeroAll bool) string {
	switch {
	case zeroAll, os.Getenv("POSELAB_CUDA_MEMREUSE") == "0", os.Getenv("POSELAB_CUDA_GRADREUSE") == "0":
		return reuseNone
	case os.Getenv("POSELAB_CUDA_MEMREUSE") == "grad":
		return reuseGrad
	}
	return reuseAll
}

// layoutSeparate gives every activation and scratch buffer its own memory,
// then lays the gradients in one contiguous region [GradStart, GradEnd):
// parameter gradients, then node gradients (sharing memory by live
// interval in reuseGrad mode).
func (p *plan) layoutSeparate(g *nn.Graph, cur *cursor) {
	take := cur.take
	for i, n := range g.Nodes {
		nb := &p.Nodes[i]
		if n.Op == nn.OpReshape || p.fusedInto[i] || p.reluOfAdd[i] {
			continue
		}
		nb.Y = take(nb.N * 4)
		if nb.AuxBytes > 0 {
			nb.Aux = take(nb.AuxBytes)
		}
	}
	p.GradStart = cur.off
	p.Grads = take(p.ParamFloats * 4)
	spans := p.gradSpans(g, newTimeline(g))
	var offs []int64
	var size int64
	if p.Reuse == reuseGrad {
		offs, size = placeSpans(spans)
	} else {
		for _, s := range spans {
			offs = append(offs, size)
			size += s.bytes
		}
	}
	for k, s := range spans {
		p.Nodes[s.node].DY = cur.off + offs[k]
	}
	cur.off += size
	p.GradEnd = cur.off
}

// layoutPooled places every node output, op scratch and node gradient in
// one pool where buffers never live at the same time share memory. An
// output lives from its forward until its last reader, forward or backward:
// those only read in the forward pass (a residual's last convolution, an
// upsampling) give their memory back before the backward pass, and the
// backward pass reuses it for gradients. The parameter gradients keep
// their own region (Adam reads them all at once).
func (p *plan) layoutPooled(g *nn.Graph, cur *cursor) {
	p.Grads = cur.take(p.ParamFloats * 4)
	p.GradStart, p.GradEnd = p.Grads, cur.off
	tl := newTimeline(g)
	spans := append(p.activationSpans(g, tl), p.gradSpans(g, tl)...)
	offs, size := placeSpans(spans)
	for k, s := range spans {
		o := cur.off + offs[k]
		switch s.kind {
		case bufY:
			p.Nodes[s.node].Y = o
		case bufAux:
			p.Nodes[s.node].Aux = o
		case bufDY:
			p.Nodes[s.node].DY = o
		case bufWSFwd:
			p.Nodes[s.node].WS[0] = o
		case bufWSBack:
			p.Nodes[s.node].WS[1] = o
		}
	}
	cur.off += size
}

// Contribution keys: backward of node n into its k-th input, or loss l's
// gradient into its prediction.
func contribKey(node, input int) int { return node*4 + input }
func lossKey(l int) int              { return -1 - l }

// gradOwner follows reshape and Add aliases to the node that owns a
// gradient buffer.
func (p *plan) gradOwner(g *nn.Graph, id int) int {
	for {
		if g.Nodes[id].Op == nn.OpReshape {
			id = g.Nodes[id].Inputs[0]
		} else if a, ok := p.GradAlias[id]; ok {
			id = a
		} else {
			return id
		}
	}
}

// ownsGrad reports whether node i has a gradient buffer of its own.
func (p *plan) ownsGrad(g *nn.Graph, i int) bool {
	_, aliased := p.GradAlias[i]
	return p.Nodes[i].DY >= 0 && g.Nodes[i].Op != nn.OpReshape && !aliased
}

// gradAliasedTo reports whether input in of node n reads n's gradient.
func (p *plan) gradAliasedTo(in, n int) bool {
	a, ok := p.GradAlias[in]
	return ok && a == n
}

// addGradAliases finds the nodes consumed once, by an Add, and neither an
// output nor a loss prediction (reshapes keep their own aliasing).
func addGradAliases(g *nn.Graph, needGrad []bool) map[int]int {
	consumers, exposed := consumersOf(g)
	alias := map[int]int{}
	for _, n := range g.Nodes {
		if n.Op != nn.OpAdd || !needGrad[n.ID] {
			continue
		}
		for _, in := range n.Inputs {
			if len(consumers[in]) == 1 && needGrad[in] && !exposed[in] && g.Nodes[in].Op != nn.OpReshape {
				alias[in] = n.ID
			}
		}
	}
	return alias
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
		o := p.gradOwner(g, target)
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
			if p.NeedGrad[in] && !p.gradAliasedTo(in, i) {
				scatter := n.Op == nn.OpMaxPool2d && n.K > n.Stride
				note(contribKey(i, k), in, !scatter)
			}
		}
	}
	for i := range g.Nodes {
		if p.ownsGrad(g, i) && !seen[i] {
			p.ZeroDY = append(p.ZeroDY, i)
		}
	}
}

// consumersOf lists each node's consumers, and the nodes the program
// exposes (outputs and loss predictions), whose buffers must stay their own.
func consumersOf(g *nn.Graph) (consumers [][]int, exposed map[int]bool) {
	consumers = make([][]int, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			consumers[in] = append(consumers[in], n.ID)
		}
	}
	exposed = map[int]bool{}
	for _, id := range g.Outputs {
		exposed[id] = true
	}
	for _, l := range g.Losses {
		exposed[l.Pred] = true
	}
	return consumers, exposed
}

// fuseAddReLU finds Add nodes consumed by exactly one node, a ReLU, and
// neither an output nor a loss prediction themselves (a ResNet block's
// sum and ReLU).
func fuseAddReLU(g *nn.Graph) map[int]int { return reluConsumers(g, nn.OpAdd) }

// fuseBatchNormReLU finds BatchNorm nodes consumed by exactly one node, a
// ReLU, and neither an output nor a loss prediction themselves.
func fuseBatchNormReLU(g *nn.Graph) map[int]int { return reluConsumers(g, nn.OpBatchNorm) }

// reluConsumers maps every node of op whose only consumer is a ReLU, and
// which is neither an output nor a loss prediction, to that ReLU.
func reluConsumers(g *nn.Graph, op nn.Op) map[int]int {
	consumers, exposed := consumersOf(g)
	fused := map[int]int{}
	for _, n := range g.Nodes {
		if n.Op != op || exposed[n.ID] || len(consumers[n.ID]) != 1 {
			continue
		}
		if r := consumers[n.ID][0]; g.Nodes[r].Op == nn.OpReLU {
			fused[n.ID] = r
		}
	}
	return fused
}

// foldConvBias finds the convolutions with a bias consumed once, by a
// BatchNorm or an Add, and neither an output nor a loss prediction.
func foldConvBias(g *nn.Graph) map[int]int {
	consumers, exposed := consumersOf(g)
	fold := map[int]int{}
	for _, n := range g.Nodes {
		if (n.Op != nn.OpConv2d && n.Op != nn.OpConvT2d) || !n.Bias || exposed[n.ID] || len(consumers[n.ID]) != 1 {
			continue
		}
		c := g.Nodes[consumers[n.ID][0]]
		if c.Op == nn.OpAdd || (c.Op == nn.OpBatchNorm && c.Inputs[0] == n.ID) {
			fold[n.ID] = c.ID
		}
	}
	return fold
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
