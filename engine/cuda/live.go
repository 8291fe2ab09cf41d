package cuda

import (
	"sort"

	"poselab/nn"
)

// Live intervals: when each buffer of a training step holds data the step
// still needs. Buffers whose intervals do not overlap share memory (see
// placeSpans), which is how the plan keeps peak memory down.

// timeline numbers the moments of one training step in the order the
// program queues them: the batch upload, every node's forward, the zeroing
// of gradients, the losses, every node's backward from the last node to
// the first, and the end (outputs and the loss are read back).
type timeline struct{ N, L int }

func newTimeline(g *nn.Graph) timeline { return timeline{N: len(g.Nodes), L: len(g.Losses)} }
func (t timeline) upload() int         { return 0 }
func (t timeline) fwd(i int) int       { return 1 + i }
func (t timeline) zero() int           { return t.N + 1 }
func (t timeline) loss(l int) int      { return t.N + 2 + l }
func (t timeline) back(i int) int      { return t.N + 2 + t.L + (t.N - 1 - i) }
func (t timeline) end() int            { return 2*t.N + 2 + t.L }

type bufKind int8

const (
	bufY      bufKind = iota // a node's output
	bufAux                   // its op scratch (BatchNorm statistics, max-pool argmax, soft-argmax probabilities)
	bufDY                    // its output's gradient
	bufWSFwd                 // a convolution's cuDNN workspace in the forward pass
	bufWSBack                // and in the backward pass
)

// span is one buffer's live interval: written first at `first`, read last
// at `last` (inclusive; the buffers one operation reads and writes are all
// live at its moment, so they never share memory).
type span struct {
	kind        bufKind
	node        int
	first, last int
	bytes       int64
}

// yOwner follows reshapes and fused ReLUs to the node whose output buffer
// they share.
func (p *plan) yOwner(g *nn.Graph, id int) int {
	for g.Nodes[id].Op == nn.OpReshape || p.fusedInto[id] || p.reluOfAdd[id] {
		id = g.Nodes[id].Inputs[0]
	}
	return id
}

// activationSpans lists every owned output and scratch buffer with its
// live interval. Only the inputs carry data from one pass to the next;
// everything else is written before it is read in every pass. The readers are the ones ops.go and conv.go launch:
// forward reads every input; the losses read predictions, targets and
// masks; the outputs are read at the end; backward reads the input of a
// linear layer, convolution or BatchNorm, the output of a ReLU (not fused
// into a BatchNorm) or soft-argmax, and the scratch of a BatchNorm,
// max-pool or soft-argmax.
func (p *plan) activationSpans(g *nn.Graph, tl timeline) []span {
	ys := map[int]*span{}
	aux := map[int]*span{}
	var order []*span
	for i, n := range g.Nodes {
		if n.Op == nn.OpReshape || p.fusedInto[i] || p.reluOfAdd[i] {
			continue
		}
		first, last := tl.fwd(i), tl.fwd(i)
		if n.Op == nn.OpInput {
			// Inputs are uploaded once and may be read by several passes:
			// the first training step runs an eager pass, then captures the
			// step and launches the graph, all on one upload.
			first, last = tl.upload(), tl.end()
		}
		ys[i] = &span{kind: bufY, node: i, first: first, last: last, bytes: alignUp(p.Nodes[i].N * 4)}
		order = append(order, ys[i])
		if a := p.Nodes[i].AuxBytes; a > 0 {
			aux[i] = &span{kind: bufAux, node: i, first: tl.fwd(i), last: tl.fwd(i), bytes: alignUp(a)}
			order = append(order, aux[i])
		}
	}
	extend := func(s *span, t int) {
		if t > s.last {
			s.last = t
		}
	}
	readY := func(id, t int) { extend(ys[p.yOwner(g, id)], t) }
	for j, n := range g.Nodes {
		for _, in := range n.Inputs {
			readY(in, tl.fwd(j))
		}
	}
	for li, l := range g.Losses {
		readY(l.Pred, tl.loss(li))
		readY(g.Inputs[l.Target], tl.loss(li))
		if l.Mask != "" {
			readY(g.Inputs[l.Mask], tl.loss(li))
		}
	}
	for _, id := range g.Outputs {
		readY(id, tl.end())
	}
	for j, n := range g.Nodes {
		if !p.NeedGrad[j] || len(n.Inputs) == 0 {
			continue
		}
		t := tl.back(j)
		needDX := p.NeedGrad[n.Inputs[0]]
		switch n.Op {
		case nn.OpLinear, nn.OpConv2d, nn.OpConvT2d:
			readY(n.Inputs[0], t) // the weight gradient
		case nn.OpBatchNorm: // a fused ReLU's mask is recomputed from the input
			readY(n.Inputs[0], t)
			extend(aux[j], t)
		case nn.OpReLU:
			if needDX && !p.fusedInto[j] {
				readY(j, t)
			}
		case nn.OpMaxPool2d:
			if needDX {
				extend(aux[j], t)
			}
		case nn.OpSoftArgmax3D:
			if needDX {
				readY(j, t)
				extend(aux[j], t)
			}
		}
	}
	out := make([]span, len(order))
	for k, s := range order {
		out[k] = *s
	}
	// A workspace lives for its one operation: convolutions far from the
	// peak of saved outputs get their scratch for free.
	for i := range g.Nodes {
		if b := p.Nodes[i].WSBytes[0]; b > 0 {
			out = append(out, span{kind: bufWSFwd, node: i, first: tl.fwd(i), last: tl.fwd(i), bytes: alignUp(b)})
		}
		if b := p.Nodes[i].WSBytes[1]; b > 0 && p.NeedGrad[i] {
			out = append(out, span{kind: bufWSBack, node: i, first: tl.back(i), last: tl.back(i), bytes: alignUp(b)})
		}
	}
	return out
}

// gradSpans lists every owned gradient buffer's live interval: from its
// first contribution (or its zeroing) to its last reader, the backward of
// its node (a fused BatchNorm reads its ReLU's gradient).
func (p *plan) gradSpans(g *nn.Graph, tl timeline) []span {
	iv := map[int]*span{}
	for i := range g.Nodes {
		if p.ownsGrad(g, i) {
			iv[i] = &span{kind: bufDY, node: i, first: 1 << 30, last: -1, bytes: alignUp(p.Nodes[i].N * 4)}
		}
	}
	write := func(target, t int) {
		if v := iv[p.gradOwner(g, target)]; v != nil && t < v.first {
			v.first = t
		}
	}
	read := func(o, t int) {
		if v := iv[p.gradOwner(g, o)]; v != nil && t > v.last {
			v.last = t
		}
	}
	for li, l := range g.Losses {
		if p.NeedGrad[l.Pred] {
			write(l.Pred, tl.loss(li))
		}
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if !p.NeedGrad[i] || n.Op == nn.OpReshape || n.Op == nn.OpInput || p.fusedInto[i] {
			continue
		}
		if r, fused := p.FusedReLU[i]; fused {
			read(r, tl.back(i))
		} else {
			read(i, tl.back(i))
		}
		for _, in := range n.Inputs {
			if p.NeedGrad[in] && !p.gradAliasedTo(in, i) {
				write(in, tl.back(i))
			}
		}
	}
	for _, o := range p.ZeroDY {
		if v := iv[o]; v != nil {
			v.first = tl.zero()
		}
	}
	out := make([]span, 0, len(iv))
	for _, v := range iv {
		if v.first > v.last { // never written or never read: keep it for the whole step
			v.first, v.last = tl.upload(), tl.end()
		}
		out = append(out, *v)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].node < out[b].node })
	return out
}

// placeSpans gives every span an offset in one pool and returns the pool's
// size: largest first, each at the lowest offset that no span live at the
// same time occupies. Convolution workspaces go last, each into a gap at
// its moment: they live for one operation, so the rest of the layout is
// the same with or without them (wsLimits relies on that).
func placeSpans(spans []span) (offs []int64, size int64) {
	var order, ws []int
	for i, s := range spans {
		if s.kind == bufWSFwd || s.kind == bufWSBack {
			ws = append(ws, i)
		} else {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return spans[order[a]].bytes > spans[order[b]].bytes })
	offs = make([]int64, len(spans))
	var done []int
	for _, k := range append(order, ws...) {
		off := lowestGap(spans, offs, done, spans[k])
		offs[k] = off
		done = append(done, k)
		size = max(size, off+spans[k].bytes)
	}
	return offs, size
}

// lowestGap is the lowest offset where v fits among the placed spans live
// at the same time as v.
func lowestGap(spans []span, offs []int64, placed []int, v span) int64 {
	busy := overlapping(spans, offs, placed, v.first, v.last)
	var off int64
	for _, b := range busy {
		if off+v.bytes <= offs[b] {
			break
		}
		off = max(off, offs[b]+spans[b].bytes)
	}
	return off
}

// overlapping lists the placed spans live at some moment of [first, last],
// by offset.
func overlapping(spans []span, offs []int64, placed []int, first, last int) []int {
	var busy []int
	for _, d := range placed {
		if spans[d].first <= last && first <= spans[d].last {
			busy = append(busy, d)
		}
	}
	sort.Slice(busy, func(a, b int) bool { return offs[busy[a]] < offs[busy[b]] })
	return busy
}

// largestGap is the largest free run below ceiling at moment t among the
// placed spans.
func largestGap(spans []span, offs []int64, placed []int, t int, ceiling int64) int64 {
	var gap, off int64
	for _, b := range overlapping(spans, offs, placed, t, t) {
		gap = max(gap, offs[b]-off)
		off = max(off, offs[b]+spans[b].bytes)
	}
	return max(gap, ceiling-off)
}
