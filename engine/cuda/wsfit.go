package cuda

import (
	"fmt"
	"math"
	"os"

	"poselab/nn"
)

// Fitting convolution workspaces into the step's memory. cuDNN's fastest
// algorithm often wants hundreds of MiB of workspace where one a few
// percent slower wants none. In the pooled layout a workspace lives only
// at its convolution's forward or backward moment, so it costs memory only
// if it does not fit in a gap the other buffers leave at that moment: near
// the start of the forward pass or the end of the backward one most saved
// outputs are not live yet, or any more, and a large workspace is free; at
// the turn from forward to backward everything is live and it is not. So
// each primitive gets the fastest algorithm whose workspace fits in the
// largest gap at its moment, allowing the pool to grow by a small headroom.

// wsHeadroom is how far workspaces may raise a pool of the given size:
// 2 % (at least 32 MiB), which leaves the algorithm choice some room where
// memory is tightest.
func wsHeadroom(pool int64) int64 { return max(32<<20, pool/50) }

// wsFitOn: POSELAB_CUDA_WSFIT=0 takes the fastest algorithm of every
// primitive within the search workspace, as the first GPU session did.
func wsFitOn() bool { return os.Getenv("POSELAB_CUDA_WSFIT") != "0" }

// wsLimits is, per convolution node, the workspace it may use at its
// forward (0) and backward (1) moments: the largest gap at that moment in
// the pooled plan without workspaces (pl), below its size plus the
// headroom. placeSpans puts each workspace into such a gap after the rest,
// so workspaces within these limits raise the pool by at most the
// headroom. Without pooling, one workspace outside the arena serves every
// convolution and there is nothing to fit: no limit.
func wsLimits(g *nn.Graph, pl *plan) map[int][2]uint64 {
	lim := map[int][2]uint64{}
	fit := pl.Reuse == reuseAll && wsFitOn()
	tl := newTimeline(g)
	var spans []span
	var offs []int64
	var placed []int
	var ceiling int64
	if fit {
		spans = append(pl.activationSpans(g, tl), pl.gradSpans(g, tl)...)
		var size int64
		offs, size = placeSpans(spans)
		for i := range spans {
			placed = append(placed, i)
		}
		// Rounded down to the alignment, like every span's size, so that a
		// workspace within a gap still fits once rounded up.
		ceiling = (size + wsHeadroom(size)) / align * align
	}
	room := func(t int) uint64 {
		if !fit {
			return math.MaxUint64
		}
		return uint64(largestGap(spans, offs, placed, t, ceiling))
	}
	for i, n := range g.Nodes {
		if n.Op == nn.OpConv2d || n.Op == nn.OpConvT2d {
			lim[i] = [2]uint64{room(tl.fwd(i)), room(tl.back(i))}
		}
	}
	return lim
}

// primLimits maps a node's moment limits to its three primitives: a
// convolution runs cuDNN's forward in the forward pass and backward-data
// and backward-filter in the backward pass; a transposed convolution runs
// backward-data forward and the other two backward.
func primLimits(op nn.Op, m [2]uint64) [3]uint64 {
	if op == nn.OpConvT2d {
		return [3]uint64{m[1], m[0], m[1]}
	}
	return [3]uint64{m[0], m[1], m[1]}
}

// pickAllAlgos chooses every convolution's algorithms under the limits,
// logs each choice, and returns a line saying what fitting cost and saved.
func (p *program) pickAllAlgos(limits map[int][2]uint64) (string, error) {
	var held, prims int
	var extraMS float64
	for _, n := range p.g.Nodes {
		l := p.convs[n.ID]
		if l == nil {
			continue
		}
		np, nh, ms, err := p.d.pickAlgos(l, primLimits(n.Op, limits[n.ID]), p.opt.TF32)
		if err != nil {
			return "", fmt.Errorf("%s %s: %w", n.Op, n.Name, err)
		}
		prims, held, extraMS = prims+np, held+nh, extraMS+ms
		in := p.g.Nodes[n.Inputs[0]].Shape
		p.compileLog = append(p.compileLog, fmt.Sprintf("%s %s in %v out %v:%s", n.Op, n.Name, in, n.Shape, l.how))
	}
	if prims == 0 {
		return "", nil
	}
	if p.pl.Reuse != reuseAll || !wsFitOn() {
		return "convolution algorithms: the fastest of each primitive (workspaces not fitted)", nil
	}
	return fmt.Sprintf("convolution algorithms: fitted under the step's peak: %d of %d primitives took a smaller workspace than the fastest's (%+.2f ms/step as measured)",
		held, prims, extraMS), nil
}
