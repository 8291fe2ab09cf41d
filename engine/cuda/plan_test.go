package cuda

import (
	"strings"
	"testing"

	"poselab/models"
	"poselab/nn"
)

// spans returns every [start, end) region the plan hands out except aliases.
func planRegions(p *plan) map[int64]int64 {
	r := map[int64]int64{}
	add := func(off, bytes int64) {
		if off >= 0 && bytes > 0 {
			r[off] = alignUp(bytes)
		}
	}
	add(p.Ctrl, 64)
	add(p.LossOut, 8)
	add(p.LossPart, lossParts*8)
	add(p.Scratch, p.ScratchBytes)
	for _, a := range []int64{p.Params, p.AdamM, p.AdamV, p.Grads} {
		add(a, p.ParamFloats*4)
	}
	add(p.Buffers, p.BufferFloats*4)
	return r
}

func TestPlanLayoutIsDisjointAlignedAndComplete(t *testing.T) {
	t.Setenv("POSELAB_CUDA_GRADREUSE", "0") // reuse shares gradient memory on purpose; tested below
	g := models.SB(models.DefaultSB)
	const B = 256
	p, err := makePlan(g, B)
	if err != nil {
		t.Fatal(err)
	}
	regions := planRegions(p)
	for i, n := range g.Nodes {
		nb := p.Nodes[i]
		if nb.N != int64(B*nn.Numel(n.Shape)) {
			t.Fatalf("node %d: %d elements, want %d", i, nb.N, B*nn.Numel(n.Shape))
		}
		if _, fusedBN := p.FusedReLU[i]; fusedBN && nb.DY != -1 {
			t.Fatalf("fused BatchNorm %d has a gradient buffer", i)
		}
		if n.Op != nn.OpReshape && !p.fusedInto[i] {
			regions[nb.Y] = alignUp(nb.N * 4)
		}
		if n.Op != nn.OpReshape && nb.DY >= 0 {
			regions[nb.DY] = alignUp(nb.N * 4)
		}
		if nb.Aux >= 0 {
			regions[nb.Aux] = alignUp(nb.AuxBytes)
		}
	}
	// Sorted walk: regions must tile [0, Total) without overlap.
	var offs []int64
	for o := range regions {
		offs = append(offs, o)
	}
	sortInt64(offs)
	var end int64
	for _, o := range offs {
		if o%align != 0 {
			t.Fatalf("offset %d not %d-byte aligned", o, align)
		}
		if o != end {
			t.Fatalf("gap or overlap at %d (previous region ends at %d)", o, end)
		}
		end = o + regions[o]
	}
	if end != p.Total {
		t.Fatalf("regions end at %d, plan total %d", end, p.Total)
	}
	// The zeroed gradient region covers parameter and activation gradients.
	if p.Grads < p.GradStart || p.Grads+p.ParamFloats*4 > p.GradEnd {
		t.Fatalf("parameter gradients [%d,+%d) outside zeroed region [%d,%d)", p.Grads, p.ParamFloats*4, p.GradStart, p.GradEnd)
	}
	for i, nb := range p.Nodes {
		if nb.DY >= 0 && (nb.DY < p.GradStart || nb.DY+nb.N*4 > p.GradEnd) {
			t.Fatalf("node %d gradient outside the zeroed region", i)
		}
	}
	// Every parameter has room for its values, in declaration order.
	var want int64
	for _, ps := range g.Params {
		if ps.Buffer {
			continue
		}
		if p.ParamOff[ps.Name] != want {
			t.Fatalf("%s at float %d, want %d", ps.Name, p.ParamOff[ps.Name], want)
		}
		want += (int64(nn.Numel(ps.Shape)) + 63) / 64 * 64
	}
	if want != p.ParamFloats {
		t.Fatalf("parameter floats %d, want %d", p.ParamFloats, want)
	}
}

func sortInt64(a []int64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// SB's BatchNorms each feed one ReLU: all fuse, and the ReLUs share the
// BatchNorms' buffers.
func TestPlanFusesBatchNormReLU(t *testing.T) {
	g := models.SB(models.DefaultSB)
	p, err := makePlan(g, 8)
	if err != nil {
		t.Fatal(err)
	}
	bns := 0
	for _, n := range g.Nodes {
		if n.Op != nn.OpBatchNorm {
			continue
		}
		bns++
		r, ok := p.FusedReLU[n.ID]
		if !ok || g.Nodes[r].Op != nn.OpReLU || g.Nodes[r].Inputs[0] != n.ID {
			t.Fatalf("BatchNorm %d not fused with its ReLU (%v)", n.ID, p.FusedReLU)
		}
		if p.Nodes[r].Y != p.Nodes[n.ID].Y || p.Nodes[r].DY < 0 || p.Nodes[n.ID].DY != -1 {
			t.Fatalf("fused pair %d/%d: buffers %+v %+v", n.ID, r, p.Nodes[n.ID], p.Nodes[r])
		}
	}
	if bns == 0 || len(p.FusedReLU) != bns {
		t.Fatalf("%d of %d BatchNorms fused", len(p.FusedReLU), bns)
	}
	// A BatchNorm that is also an output, or feeds two nodes, stays unfused.
	b := nn.NewBuilder()
	x := b.Input("x", 4)
	b.Input("t", 4)
	bn := b.BatchNorm("bn", b.Linear("l", x, 4))
	b.Output("bn", bn)
	b.Loss(nn.MSE, b.ReLU(bn), "t", "", 1)
	bn2 := b.BatchNorm("bn2", b.Linear("l2", x, 4))
	b.Loss(nn.MSE, b.Add(b.ReLU(bn2), bn2), "t", "", 1)
	if f := fuseBatchNormReLU(b.Build()); len(f) != 0 {
		t.Fatalf("fused %v", f)
	}
}

func TestPlanGradientsOnlyWhereNeeded(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 4)
	b.Input("t", 3)
	r := b.Reshape(x, 2, 2) // depends on no parameter: no gradient
	h := b.Linear("a", x, 3)
	side := b.Linear("side", x, 2) // reaches no loss: no gradient
	back := b.Reshape(b.ReLU(h), 3)
	b.Loss(nn.MSE, back, "t", "", 1)
	b.Output("side", side)
	b.Output("r", b.Reshape(r, 4))
	g := b.Build()
	p, err := makePlan(g, 5)
	if err != nil {
		t.Fatal(err)
	}
	// Nodes: 0 x, 1 t, 2 reshape r, 3 linear a, 4 linear side, 5 relu, 6 reshape back, 7 reshape out.
	want := map[int]bool{3: true, 5: true, 6: true}
	for i := range g.Nodes {
		if p.NeedGrad[i] != want[i] {
			t.Errorf("node %d (%s): NeedGrad %v, want %v", i, g.Nodes[i].Op, p.NeedGrad[i], want[i])
		}
	}
	if p.Nodes[6].Y != p.Nodes[5].Y || p.Nodes[6].DY != p.Nodes[5].DY || p.Nodes[6].DY < 0 {
		t.Error("a reshape must alias its input's value and gradient")
	}
	if p.Nodes[4].DY != -1 || p.Nodes[2].DY != -1 || p.Nodes[0].DY != -1 {
		t.Error("a node without a parameter path or loss got a gradient buffer")
	}
}

func TestPlanRejectsBadBatchAndOrder(t *testing.T) {
	g := models.SB(models.DefaultSB)
	if _, err := makePlan(g, 0); err == nil || !strings.Contains(err.Error(), "batch") {
		t.Fatalf("batch 0: %v", err)
	}
	bad := &nn.Graph{Nodes: []*nn.Node{{ID: 0, Op: nn.OpReLU, Inputs: []int{1}, Shape: []int{2}}, {ID: 1, Op: nn.OpInput, Shape: []int{2}}}}
	if _, err := makePlan(bad, 2); err == nil || !strings.Contains(err.Error(), "topological") {
		t.Fatalf("out-of-order graph: %v", err)
	}
}

func TestConvGeometry(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 8, 16, 16)
	c := b.Conv2d("c", x, 32, 3, 2, 1, true)
	b.ConvTranspose2d("d", c, 4, 4, 2, 1, false)
	g := b.Build()
	cx, cy, k, ch := convGeometry(g.Nodes[1], x.Shape)
	if cx != [3]int{8, 16, 16} || cy != [3]int{32, 8, 8} || k != 32 || ch != 8 {
		t.Fatalf("conv: cx %v cy %v filter %dx%d", cx, cy, k, ch)
	}
	// The transposed conv 32x8x8 -> 4x16x16 is the forward conv 4x16x16 ->
	// 32x8x8 read backwards, with PyTorch's weight [32, 4, 4, 4] as its filter.
	cx, cy, k, ch = convGeometry(g.Nodes[2], c.Shape)
	if cx != [3]int{4, 16, 16} || cy != [3]int{32, 8, 8} || k != 32 || ch != 4 {
		t.Fatalf("convT: cx %v cy %v filter %dx%d", cx, cy, k, ch)
	}
	// The forward conv over cx must produce cy: (16 + 2 - 4)/2 + 1 = 8.
	if (cx[1]+2*1-4)/2+1 != cy[1] {
		t.Fatal("convT geometry is not a valid forward convolution")
	}
}

// The first contribution to each gradient buffer in the step's order
// overwrites it; later ones add.
func TestPlanFirstContributionOverwrites(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 4)
	b.Input("t", 4)
	h := b.ReLU(b.Linear("a", x, 4)) // node 3, used by nodes 4 and 5
	o := b.Add(h, b.Linear("b", h, 4))
	b.Loss(nn.MSE, o, "t", "", 1)
	g := b.Build()
	p, err := makePlan(g, 2)
	if err != nil {
		t.Fatal(err)
	}
	// Linear b (node 4) feeds only the Add: it reads the Add's gradient
	// and the Add writes only into h's.
	want := map[int]bool{lossKey(0): true, contribKey(5, 0): true, contribKey(3, 0): true}
	if len(p.Overwrite) != len(want) || len(p.ZeroDY) != 0 {
		t.Fatalf("overwrite %v zero %v, want %v and none", p.Overwrite, p.ZeroDY, want)
	}
	for k := range want {
		if !p.Overwrite[k] {
			t.Fatalf("overwrite %v lacks %d", p.Overwrite, k)
		}
	}
	if p.GradAlias[4] != 5 || len(p.GradAlias) != 1 || p.Nodes[4].DY != p.Nodes[5].DY || p.ownsGrad(g, 4) {
		t.Fatalf("aliases %v, node 4 gradient at %d, the Add's at %d", p.GradAlias, p.Nodes[4].DY, p.Nodes[5].DY)
	}
	// Without the alias the Add's second contribution writes node 4's own.
	t.Setenv("POSELAB_CUDA_ALIAS", "0")
	if p, err = makePlan(g, 2); err != nil {
		t.Fatal(err)
	}
	if !p.Overwrite[contribKey(5, 1)] || len(p.Overwrite) != 4 || p.Nodes[4].DY == p.Nodes[5].DY {
		t.Fatalf("without aliases: overwrite %v, node 4 gradient at %d, the Add's at %d", p.Overwrite, p.Nodes[4].DY, p.Nodes[5].DY)
	}
	t.Setenv("POSELAB_CUDA_ALIAS", "")
	// Overlapping max-pool windows scatter: their input is zeroed instead.
	b = nn.NewBuilder()
	xi := b.Input("x", 1, 5, 5)
	b.Input("t", 2, 3, 3)
	b.Loss(nn.MSE, b.MaxPool2d(b.Conv2d("c", xi, 2, 3, 1, 1, true), 3, 2, 1), "t", "", 1)
	p, err = makePlan(b.Build(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.ZeroDY) != 1 || p.ZeroDY[0] != 2 || p.Overwrite[contribKey(3, 0)] {
		t.Fatalf("max-pool 3/2: zero %v overwrite %v", p.ZeroDY, p.Overwrite)
	}
}

// In every model each gradient buffer is initialised exactly once.
func TestPlanEveryGradientInitialisedOnce(t *testing.T) {
	sh, _ := models.BuildSH(models.SHPresets["seed"])
	c, _ := models.IRPreset("seed")
	ir, _ := models.IR(c)
	for name, g := range map[string]*nn.Graph{"sb": models.SB(models.DefaultSB), "sh": sh, "ir": ir} {
		p, err := makePlan(g, 2)
		if err != nil {
			t.Fatal(err)
		}
		owned := 0
		for i := range g.Nodes {
			if p.ownsGrad(g, i) {
				owned++
			}
		}
		if len(p.Overwrite)+len(p.ZeroDY) != owned {
			t.Errorf("%s: %d overwrites + %d zeroed for %d gradient buffers", name, len(p.Overwrite), len(p.ZeroDY), owned)
		}
	}
}

func TestParallelCopy(t *testing.T) {
	for _, n := range []int{0, 5, 1 << 20, 3<<20 + 7} {
		src := make([]float32, n)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, n)
		parallelCopy(dst, src)
		for i := range src {
			if dst[i] != src[i] {
				t.Fatalf("n %d: element %d is %v", n, i, dst[i])
			}
		}
	}
}

// Buffers that share memory are never live at the same time, in every
// reuse mode, and sharing saves memory on the big models.
func TestPlanReuseNeverOverlapsLiveBuffers(t *testing.T) {
	sh, _ := models.BuildSH(models.SHPresets["seed"])
	c, _ := models.IRPreset("seed")
	ir, _ := models.IR(c)
	graphs := map[string]*nn.Graph{"sb": models.SB(models.DefaultSB), "sh": sh, "ir": ir}
	for _, pc := range parityCases() {
		b := nn.NewBuilder()
		pc.build(b)
		graphs[pc.name] = b.Build()
	}
	for name, g := range graphs {
		sizes := map[string]int64{}
		// Workspaces of 1 and 2 KiB per convolution, forward and backward.
		ws := map[int][2]int64{}
		for _, n := range g.Nodes {
			if n.Op == nn.OpConv2d || n.Op == nn.OpConvT2d {
				ws[n.ID] = [2]int64{1024, 2048}
			}
		}
		for _, mode := range []string{"0", "grad", ""} {
			t.Setenv("POSELAB_CUDA_MEMREUSE", mode)
			p, err := makePlanWith(g, 4, ws)
			if err != nil {
				t.Fatal(err)
			}
			sizes[p.Reuse] = p.Total
			if p.Reuse != reuseAll && len(ws) > 0 {
				sizes[p.Reuse] += 2048 // the one shared workspace outside the arena
			}
			checkNoLiveOverlap(t, name+"/"+p.Reuse, g, p)
		}
		if !(sizes[reuseAll] <= sizes[reuseGrad] && sizes[reuseGrad] <= sizes[reuseNone]) {
			t.Errorf("%s: arena %v: more reuse must never grow it", name, sizes)
		}
		if name == "sh" || name == "ir" {
			t.Logf("%s at batch 4: arena %.1f MiB pooled, %.1f gradients shared, %.1f nothing shared", name,
				float64(sizes[reuseAll])/(1<<20), float64(sizes[reuseGrad])/(1<<20), float64(sizes[reuseNone])/(1<<20))
		}
	}
}

// checkNoLiveOverlap checks every output, scratch and gradient buffer of p
// against every other: sharing memory while both are live is a bug.
func checkNoLiveOverlap(t *testing.T, name string, g *nn.Graph, p *plan) {
	t.Helper()
	tl := newTimeline(g)
	var spans []span
	if p.Reuse == reuseAll {
		spans = append(p.activationSpans(g, tl), p.gradSpans(g, tl)...)
	} else { // activations and scratch live for the whole step
		for _, s := range p.activationSpans(g, tl) {
			if s.kind == bufWSFwd || s.kind == bufWSBack {
				continue // one workspace outside the arena
			}
			s.first, s.last = tl.upload(), tl.end()
			spans = append(spans, s)
		}
		spans = append(spans, p.gradSpans(g, tl)...)
	}
	offset := func(s span) int64 {
		switch s.kind {
		case bufY:
			return p.Nodes[s.node].Y
		case bufAux:
			return p.Nodes[s.node].Aux
		case bufWSFwd:
			return p.Nodes[s.node].WS[0]
		case bufWSBack:
			return p.Nodes[s.node].WS[1]
		}
		return p.Nodes[s.node].DY
	}
	fixed := p.Grads + alignUp(p.ParamFloats*4) // everything below is the fixed regions
	if p.Reuse != reuseAll {
		fixed = 0
	}
	for a := range spans {
		va, oa := spans[a], offset(spans[a])
		if oa < 0 || oa%align != 0 || oa < fixed || oa+va.bytes > p.Total || va.first > va.last {
			t.Fatalf("%s: %+v at %d: unplaced, unaligned, outside the pool or empty", name, va, oa)
		}
		for b := a + 1; b < len(spans); b++ {
			vb, ob := spans[b], offset(spans[b])
			memory := oa < ob+vb.bytes && ob < oa+va.bytes
			time := va.first <= vb.last && vb.first <= va.last
			if memory && time {
				t.Fatalf("%s: %+v at %d and %+v at %d share memory while both live", name, va, oa, vb, ob)
			}
		}
	}
}

// Pooling is what brings the seed models' memory under PyTorch's peak
// (docs/gpu-check/RESULTS.md: 6.16 GiB for SH and 6.18 GiB for IR at batch
// 32, cuDNN workspace included). The arena without workspaces, plus the
// headroom fitted workspaces may add (wsfit.go), the cuBLAS workspace and
// the two staging slots, must stay under it; and the arena must be smaller
// than with gradients shared only (the layout measured before).
func TestPlanPoolingShrinksSeedModels(t *testing.T) {
	sh, _ := models.BuildSH(models.SHPresets["seed"])
	c, _ := models.IRPreset("seed")
	ir, _ := models.IR(c)
	torchPeak := map[string]float64{"sh": 6.16, "ir": 6.18} // GiB
	for name, g := range map[string]*nn.Graph{"sh": sh, "ir": ir} {
		t.Setenv("POSELAB_CUDA_MEMREUSE", "grad")
		t.Setenv("POSELAB_CUDA_ALIAS", "0")
		before, err := makePlan(g, 32)
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("POSELAB_CUDA_MEMREUSE", "")
		t.Setenv("POSELAB_CUDA_ALIAS", "")
		after, err := makePlan(g, 32)
		if err != nil {
			t.Fatal(err)
		}
		tl := newTimeline(g)
		_, pool := placeSpans(append(after.activationSpans(g, tl), after.gradSpans(g, tl)...))
		var staging int64
		for _, id := range g.Inputs {
			staging += 2 * after.Nodes[id].N * 4
		}
		used := after.Total + wsHeadroom(pool) + blasWorkspaceBytes + staging
		gib := func(b int64) float64 { return float64(b) / (1 << 30) }
		t.Logf("%s at batch 32: arena %.2f GiB pooled (%.2f GiB with gradients shared only); at most %.2f GiB used with workspaces, cuBLAS and staging; PyTorch's peak %.2f GiB",
			name, gib(after.Total), gib(before.Total), gib(used), torchPeak[name])
		if gib(used) > torchPeak[name] || after.Total >= before.Total {
			t.Errorf("%s: pooled arena %.2f GiB, %.2f GiB used at most (gradients shared only: %.2f GiB)", name, gib(after.Total), gib(used), gib(before.Total))
		}
	}
}

// Every ResNet-50 block ends in Add then ReLU: the 16 sums run fused, each
// ReLU shares its Add's buffer, and POSELAB_CUDA_FUSE=0 turns it off.
func TestPlanFusesAddReLU(t *testing.T) {
	c, _ := models.IRPreset("seed")
	ir, _ := models.IR(c)
	p, err := makePlan(ir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.AddReLU) != 16 {
		t.Fatalf("%d Add+ReLU pairs fused in ResNet-50, want 16", len(p.AddReLU))
	}
	for a, r := range p.AddReLU {
		if ir.Nodes[a].Op != nn.OpAdd || ir.Nodes[r].Op != nn.OpReLU || p.Nodes[r].Y != p.Nodes[a].Y || !p.reluOfAdd[r] {
			t.Fatalf("pair %d -> %d: %s -> %s, buffers %d and %d", a, r, ir.Nodes[a].Op, ir.Nodes[r].Op, p.Nodes[a].Y, p.Nodes[r].Y)
		}
		if p.Nodes[r].DY < 0 || p.Nodes[r].DY == p.Nodes[a].DY {
			t.Fatalf("the ReLU after Add %d needs a gradient of its own", a)
		}
	}
	t.Setenv("POSELAB_CUDA_FUSE", "0")
	if p, _ = makePlan(ir, 2); len(p.AddReLU) != 0 {
		t.Fatalf("POSELAB_CUDA_FUSE=0 still fuses %d pairs", len(p.AddReLU))
	}
}

// In the seed hourglass every biased convolution but the two heatmap
// heads (outputs, read by the losses) feeds one BatchNorm or Add, which
// takes its bias: on the fake GPU the forward passes launch add_bias only
// for the heads, and POSELAB_CUDA_FUSE=0 turns the folding off.
func TestPlanFoldsConvBiasIntoConsumer(t *testing.T) {
	sh, _ := models.BuildSH(models.SHPresets["seed"])
	p, err := makePlan(sh, 2)
	if err != nil {
		t.Fatal(err)
	}
	consumers, exposed := consumersOf(sh)
	var biased int
	for _, n := range sh.Nodes {
		if (n.Op == nn.OpConv2d || n.Op == nn.OpConvT2d) && n.Bias {
			biased++
			c, folded := p.BiasInto[n.ID]
			if folded == exposed[n.ID] {
				t.Errorf("%s: folded %v, exposed %v", n.Name, folded, exposed[n.ID])
			}
			if folded && (len(consumers[n.ID]) != 1 || consumers[n.ID][0] != c || (sh.Nodes[c].Op != nn.OpAdd && sh.Nodes[c].Op != nn.OpBatchNorm)) {
				t.Errorf("%s folded into %s (%d), consumers %v", n.Name, sh.Nodes[c].Op, c, consumers[n.ID])
			}
		}
	}
	if len(p.BiasInto) != biased-2 {
		t.Errorf("%d of %d biased convolutions folded, want all but the 2 heads", len(p.BiasInto), biased)
	}
	for _, fuse := range []string{"", "0"} {
		t.Setenv("POSELAB_CUDA_FUSE", fuse)
		d, f := newFakeDevice(t)
		g, _ := models.BuildSH(models.SHPresets["test"])
		pr, err := (&backend{d: d}).Compile(g, nn.Options{Batch: 2, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		batch := randomBatch(g, 2, 1)
		if _, err := pr.TrainStep(batch, 0, 1e-3); err != nil { // eager, then captured: two forward passes
			t.Fatal(err)
		}
		pl := pr.(*handle).p.pl
		want := 0
		for _, n := range g.Nodes {
			if _, folded := pl.BiasInto[n.ID]; n.Bias && !folded && (n.Op == nn.OpConv2d || n.Op == nn.OpConvT2d) {
				want += 2
			}
		}
		if got := f.calls["kernel add_bias"]; got != want || (fuse == "" && len(pl.BiasInto) == 0) || (fuse == "0" && len(pl.BiasInto) != 0) {
			t.Errorf("POSELAB_CUDA_FUSE=%q: %d add_bias launches, want %d (%d folded)", fuse, got, want, len(pl.BiasInto))
		}
		pr.Close()
		close(d.work)
	}
}
