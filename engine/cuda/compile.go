package cuda

import (
	"fmt"
	"os"
	"unsafe"

	"poselab/nn"
)

// Compiling a graph for the GPU: convolution algorithms first (their
// workspaces are part of the plan), then the plan, the one arena, pinned
// staging and the initial state.

// planHook, when set by a test, may corrupt a plan to show that the memory
// trace test catches it.
var planHook func(*plan)

// findWorkspaceBytes bounds the scratch cuDNN may use while measuring
// algorithms and thus the workspace of the chosen ones.
const findWorkspaceBytes = 2 << 30

func (b *backend) compile(g *nn.Graph, opt nn.Options) (*program, error) {
	if opt.Adam == (nn.Adam{}) {
		opt.Adam = nn.DefaultAdam
	}
	pl, err := makePlan(g, opt.Batch) // which nodes need gradients, for the convolutions
	if err != nil {
		return nil, err
	}
	if err := checkGraph(g); err != nil {
		return nil, err
	}
	d := b.d
	p := &program{d: d, g: g, opt: opt, pl: pl, convs: map[int]*convLayer{}, stage: map[string]unsafe.Pointer{},
		useGraph: os.Getenv("POSELAB_CUDA_GRAPH") != "0", bnLegacy: bnLegacyEnv() || d.multiblockErr != nil}
	p.stageOn.Store(os.Getenv("POSELAB_CUDA_STAGE") != "0" && len(g.Losses) > 0)
	ok := false
	defer func() {
		if !ok {
			p.release()
		}
	}()
	// Algorithms first: their workspaces are part of the arena's plan.
	if err := p.setupConvs(); err != nil {
		return nil, err
	}
	if p.wsNote, err = p.pickAllAlgos(wsLimits(g, pl)); err != nil {
		return nil, err
	}
	if pl, err = makePlanWith(g, opt.Batch, p.convWorkspaces()); err != nil {
		return nil, err
	}
	if planHook != nil {
		planHook(pl)
	}
	p.pl = pl
	if pl.Reuse != reuseAll { // one workspace outside the arena, shared by every convolution
		for _, w := range p.convWorkspaces() {
			p.wsLen = max(p.wsLen, uint64(w[0]), uint64(w[1]))
		}
	}
	c := d.drv
	var free, total uint64
	c.MemGetInfo(&free, &total)
	if uint64(pl.Total)+p.wsLen > free {
		return nil, fmt.Errorf("cuda: the model at batch %d needs %.2f GiB of device memory, %.2f GiB free of %.2f GiB",
			opt.Batch, float64(uint64(pl.Total)+p.wsLen)/(1<<30), float64(free)/(1<<30), float64(total)/(1<<30))
	}
	if err := c.Check(fmt.Sprintf("cuMemAlloc(%d bytes arena)", pl.Total), c.MemAlloc(&p.arena, uint64(pl.Total))); err != nil {
		return nil, err
	}
	if p.wsLen > 0 {
		if err := c.Check("cuMemAlloc(cudnn workspace)", c.MemAlloc(&p.ws, p.wsLen)); err != nil {
			return nil, err
		}
	}
	if err := c.Check("cuMemsetD32Async(arena)", c.MemsetD32Async(p.arena, 0, uint64(pl.Total/4), d.stream)); err != nil {
		return nil, err
	}
	for name, id := range g.Inputs {
		var h unsafe.Pointer
		if err := c.Check("cuMemAllocHost", c.MemAllocHost(&h, uint64(pl.Nodes[id].N*4))); err != nil {
			return nil, err
		}
		p.stage[name] = h
	}
	if err := c.Check("cuMemAllocHost", c.MemAllocHost(&p.hostCtrl, 64)); err != nil {
		return nil, err
	}
	if err := d.sync(); err != nil {
		return nil, err
	}
	if err := p.setState(nn.InitState(g, opt.Seed)); err != nil {
		return nil, err
	}
	ok = true
	if u := p.usedBytes(); u > p.peak {
		p.peak = u
	}
	return p, nil
}

// checkGraph rejects what the kernels do not handle.
func checkGraph(g *nn.Graph) error {
	for _, n := range g.Nodes {
		want := 1
		switch n.Op {
		case nn.OpInput:
			want = 0
		case nn.OpAdd:
			want = 2
		}
		if len(n.Inputs) != want {
			return fmt.Errorf("cuda: %s node %d has %d inputs, want %d", n.Op, n.ID, len(n.Inputs), want)
		}
		switch n.Op {
		case nn.OpInput, nn.OpLinear, nn.OpBatchNorm, nn.OpReLU, nn.OpDropout, nn.OpAvgPoolAll, nn.OpAdd, nn.OpReshape:
		case nn.OpConv2d, nn.OpConvT2d, nn.OpMaxPool2d, nn.OpUpsample2x, nn.OpSoftArgmax3D:
			if len(g.Nodes[n.Inputs[0]].Shape) != 3 {
				return fmt.Errorf("cuda: %s node %d wants a [C,H,W] input, got %v", n.Op, n.ID, g.Nodes[n.Inputs[0]].Shape)
			}
		default:
			return fmt.Errorf("cuda: node %d has an op %q this backend does not know", n.ID, n.Op)
		}
	}
	return nil
}

// setupConvs creates descriptors and measures the algorithms of every
// convolution before the arena exists, on scratch buffers of the largest
// convolution's shapes and a temporary search workspace (the compile's
// peak: scratch plus search, not arena plus search).
func (p *program) setupConvs() error {
	d, pl, B := p.d, p.pl, int64(p.pl.B)
	var scratchBytes int64
	for _, n := range p.g.Nodes {
		if n.Op == nn.OpConv2d || n.Op == nn.OpConvT2d {
			x, y, w := convScratch(n, p.g.Nodes[n.Inputs[0]].Shape, B)
			scratchBytes = max(scratchBytes, x+y+w)
		}
	}
	if scratchBytes == 0 {
		return nil
	}
	var scratch, search uint64
	defer func() {
		for _, a := range []uint64{scratch, search} {
			if a != 0 {
				d.drv.MemFree(a)
			}
		}
	}()
	if err := d.drv.Check("cuMemAlloc(convolution scratch)", d.drv.MemAlloc(&scratch, uint64(scratchBytes))); err != nil {
		return err
	}
	// Zeros, as the arena the search used to run on held: the timings
	// should not meet whatever the allocation happened to contain.
	if err := d.drv.Check("cuMemsetD32Async(convolution scratch)", d.drv.MemsetD32Async(scratch, 0, uint64(scratchBytes/4), d.stream)); err != nil {
		return err
	}
	var free, total uint64
	d.drv.MemGetInfo(&free, &total)
	searchBytes := min(uint64(findWorkspaceBytes), free/2)
	if err := d.drv.Check("cuMemAlloc(cudnn search workspace)", d.drv.MemAlloc(&search, searchBytes)); err != nil {
		return err
	}
	p.peak = scratchBytes + int64(searchBytes) + int64(d.blasWSBytes)
	for _, n := range p.g.Nodes {
		if n.Op != nn.OpConv2d && n.Op != nn.OpConvT2d {
			continue
		}
		in := n.Inputs[0]
		l, err := d.newConvLayer(n, p.g.Nodes[in].Shape, pl.B, p.opt.TF32)
		if err != nil {
			return err
		}
		p.convs[n.ID] = l
		needDX := pl.NeedGrad[n.ID] && pl.NeedGrad[in]
		if n.Op == nn.OpConv2d {
			l.needFwd, l.needBwdData, l.needBwdFilter = true, needDX, pl.NeedGrad[n.ID]
		} else {
			l.needBwdData, l.needFwd, l.needBwdFilter = true, needDX, pl.NeedGrad[n.ID]
		}
		// cx, cy and the filter side by side; a gradient has its value's shape.
		x, y, _ := convScratch(n, p.g.Nodes[in].Shape, B)
		cx, cy, w := scratch, scratch+uint64(x), scratch+uint64(x+y)
		b := convBufs{cx: cx, cy: cy, w: w, dcx: cx, dcy: cy, dw: w}
		if err := d.measureAlgos(l, b, search, searchBytes); err != nil {
			return fmt.Errorf("%s %s: %w", n.Op, n.Name, err)
		}
	}
	return nil
}

// convScratch is the bytes of a convolution's cx, cy and filter at batch B.
func convScratch(n *nn.Node, in []int, B int64) (x, y, w int64) {
	cx, cy, fk, fc := convGeometry(n, in)
	return alignUp(B * int64(cx[0]*cx[1]*cx[2]) * 4), alignUp(B * int64(cy[0]*cy[1]*cy[2]) * 4), alignUp(int64(fk*fc*n.K*n.K) * 4)
}

// convWorkspaces is the cuDNN workspace each convolution needs at its
// forward and backward moments (a transposed convolution runs cuDNN's
// backward-data forward and its forward and backward-filter backward).
func (p *program) convWorkspaces() map[int][2]int64 {
	ws := map[int][2]int64{}
	for id, l := range p.convs {
		if p.g.Nodes[id].Op == nn.OpConv2d {
			ws[id] = [2]int64{int64(l.fwdWS), int64(max(l.bwdDataWS, l.bwdFilterWS))}
		} else {
			ws[id] = [2]int64{int64(l.bwdDataWS), int64(max(l.fwdWS, l.bwdFilterWS))}
		}
	}
	return ws
}

// wsAt is node id's workspace at a moment (0 forward, 1 backward).
func (p *program) wsAt(id, moment int) uint64 {
	if o := p.pl.Nodes[id].WS[moment]; o >= 0 {
		return p.at(o)
	}
	return p.ws
}
