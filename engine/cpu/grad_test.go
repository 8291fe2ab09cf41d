package cpu

import (
	"math"
	"strings"

	"gorgonia.org/tensor"
	"testing"

	"poselab/nn"
)

// mlpGraph is a small graph with every dense layer kind: Linear, BN,
// ReLU, Dropout, a residual Add, Reshape, and both losses (one masked).
func mlpGraph(p float64) *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 5)
	h := b.Linear("l1", x, 4)
	h = b.BatchNorm("bn1", h)
	h = b.ReLU(h)
	h = b.Dropout(h, p)
	r := b.Linear("l2", h, 4)
	r = b.BatchNorm("bn2", r)
	h = b.Add(h, r)
	h2 := b.Reshape(h, 2, 2)
	o := b.Reshape(h2, 4)
	y := b.Linear("out", o, 3)
	b.Input("t", 3)
	b.Input("m", 3)
	b.Input("t2", 4)
	b.Output("y", y)
	b.Loss(nn.L1, y, "t", "m", 0.7)
	b.Loss(nn.MSE, h, "t2", "", 1.3)
	return b.Build()
}

func TestGradientsDense(t *testing.T) {
	g := mlpGraph(0.3)
	p := compile64(t, g, 6, 11, "x")
	b := randomBatch(g, 6, 3)
	checkGrads(t, p, b, 2, 0, 1e-6)
}

// spatialGraph uses every image layer: Conv2d (strided, padded, with and
// without bias), BatchNorm on [C,H,W], ReLU, ConvTranspose2d (k4 s2 p1 and
// k3 s1 p1 without bias), MaxPool2d with padding, Upsample2x, Dropout,
// GlobalAvgPool and SoftArgmax3D, with a masked L1 and an MSE loss.
func spatialGraph() *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 2, 6, 6)
	h := b.Conv2d("c1", x, 3, 3, 2, 1, true) // [3,3,3]
	h = b.BatchNorm("bn", h)
	h = b.ReLU(h)
	f := b.Linear("fc", b.GlobalAvgPool(h), 2)
	u := b.ConvTranspose2d("t1", h, 4, 4, 2, 1, true) // [4,6,6]
	u = b.MaxPool2d(u, 3, 2, 1)                       // [4,3,3]
	u = b.Upsample2x(u)                               // [4,6,6]
	u = b.Dropout(u, 0.25)
	u = b.ConvTranspose2d("t2", u, 4, 3, 1, 1, false) // [4,6,6]
	u = b.Conv2d("c2", u, 4, 1, 1, 0, false)
	j := b.SoftArgmax3D(u, 2, 2) // [2,3]
	b.Input("t", 2, 3)
	b.Input("m", 2, 3)
	b.Input("t2", 2)
	b.Output("joints", j)
	b.Loss(nn.L1, j, "t", "m", 1)
	b.Loss(nn.MSE, f, "t2", "", 0.5)
	return b.Build()
}

func TestGradientsSpatial(t *testing.T) {
	g := spatialGraph()
	p := compile64(t, g, 2, 5, "x")
	b := randomBatch(g, 2, 8)
	// Targets in voxel units so the L1 terms are not all of one sign.
	for i := range b["t"].Data {
		b["t"].Data[i] = (b["t"].Data[i] + 1) * 2.5
	}
	checkGrads(t, p, b, 1, 0, 1e-6)
}

// TestParallelKernels reruns the gradient checks and the hand-computed
// forward cases with every kernel split over goroutines (the small test
// shapes otherwise stay below the size worth splitting).
func TestParallelKernels(t *testing.T) {
	saved := minChunk
	minChunk = 1
	defer func() { minChunk = saved }()
	t.Run("dense", TestGradientsDense)
	t.Run("spatial", TestGradientsSpatial)
	t.Run("batchnorm", TestBatchNormTrainAndEval)
	t.Run("batchnorm2d", TestBatchNormSpatialForward)
	t.Run("conv", TestConv2dForward)
	t.Run("convT", TestConvTranspose2dForward)
	t.Run("maxpool", TestMaxPoolForward)
	t.Run("upsample", TestUpsampleAndAvgPool)
	t.Run("softargmax", TestSoftArgmax3DForward)
	t.Run("masks", TestMaskMatchesDropoutKeep)
}

// TestFloat32MatchesFloat64: the float32 program (the one that trains)
// gives the float64 program's loss and gradients to float32 accuracy.
func TestFloat32MatchesFloat64(t *testing.T) {
	for name, g := range map[string]*nn.Graph{"dense": mlpGraph(0.3), "spatial": spatialGraph()} {
		b := randomBatch(g, 3, 4)
		var losses [2]float64
		var grads [2]map[string]*nn.Tensor
		for i, be := range []nn.Backend{New(), NewWithDType(tensor.Float64)} {
			p, err := be.Compile(g, nn.Options{Batch: 3, Seed: 6})
			if err != nil {
				t.Fatal(err)
			}
			if losses[i], grads[i], err = p.Gradients(b, 3); err != nil {
				t.Fatal(err)
			}
		}
		if !near(losses[0], losses[1], 1e-5*math.Abs(losses[1])) {
			t.Fatalf("%s: loss %v in float32, %v in float64", name, losses[0], losses[1])
		}
		// Rounding noise scales with the gradients flowing through the
		// graph, so a tensor whose true gradient is 0 (a bias right before
		// a BatchNorm) is held to the largest gradient of any tensor.
		global := 0.0
		for _, g64 := range grads[1] {
			for _, v := range g64.Data {
				global = math.Max(global, math.Abs(float64(v)))
			}
		}
		for pname, g64 := range grads[1] {
			scale := 0.0
			for _, v := range g64.Data {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for i, v := range grads[0][pname].Data {
				if math.Abs(float64(v-g64.Data[i])) > 1e-4*scale+1e-5*global+1e-7 {
					t.Fatalf("%s: gradient %s[%d] %v in float32, %v in float64", name, pname, i, v, g64.Data[i])
				}
			}
		}
	}
}

// convGroupGraph has a convolution of each GEMM layout: im2col (3x3,
// padded), 1x1 and transposed, with and without a window.
func convGroupGraph() *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 2, 4, 4)
	h := b.Conv2d("c3", x, 3, 3, 1, 1, true)          // [3,4,4]
	h = b.ConvTranspose2d("t1", h, 2, 1, 1, 0, false) // [2,4,4]
	h = b.Conv2d("c1", h, 3, 1, 1, 0, true)           // [3,4,4]
	h = b.ConvTranspose2d("t2", h, 2, 2, 2, 0, true)  // [2,8,8]
	b.Input("t", 2, 8, 8)
	b.Output("y", h)
	b.Loss(nn.MSE, h, "t", "", 1)
	return b.Build()
}

// TestConvGroups: convolutions that multiply the batch in groups of
// samples (all of it, uneven groups, one sample per GEMM) give the
// per-sample loss, output and gradients, and pass the finite-difference
// check.
func TestConvGroups(t *testing.T) {
	saved := [3]int{maxGroupElems, groupBelow, groupBelowDirect}
	defer func() { maxGroupElems, groupBelow, groupBelowDirect = saved[0], saved[1], saved[2] }()
	groupBelow, groupBelowDirect = 1<<30, 1<<30 // every map size groups
	g := convGroupGraph()
	const batch = 5
	b := randomBatch(g, batch, 9)
	run := func(limit int) (float64, *nn.Tensor, map[string]*nn.Tensor) {
		maxGroupElems = limit
		p := compile64(t, g, batch, 3, "x")
		loss, grads, err := p.Gradients(b, 1)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Predict(b)
		if err != nil {
			t.Fatal(err)
		}
		if limit > 1 {
			checkGrads(t, p, b, 1, 0, 1e-6)
		}
		return loss, out["y"], grads
	}
	loss1, out1, grads1 := run(1) // one sample per GEMM: no gathering
	// Per sample, c3's matrices hold 18 x 16 elements, t2's 8 x 16, t1's
	// and c1's 3 x 16. 150 makes groups of 3, 2 for t1 and c1; 600 groups
	// of 2, 2, 1 for c3 and 3, 2 for t2; 1<<20 takes all 5 everywhere.
	for _, limit := range []int{150, 600, 1 << 20} {
		loss, out, grads := run(limit)
		if got, want := (convGeom{c: 2, k: 3, ho: 4, wo: 4, cout: 3}).groupSize(batch), map[int]int{150: 1, 600: 2}[limit]; want > 0 && got != want {
			t.Fatalf("limit %d: c3 groups of %d, want %d", limit, got, want)
		}
		if !near(loss, loss1, 1e-12) {
			t.Fatalf("limit %d: loss %v, per sample %v", limit, loss, loss1)
		}
		for i, v := range out.Data {
			if !near(float64(v), float64(out1.Data[i]), 1e-6) {
				t.Fatalf("limit %d: y[%d] = %v, per sample %v", limit, i, v, out1.Data[i])
			}
		}
		for name, gr := range grads {
			for i, v := range gr.Data {
				if !near(float64(v), float64(grads1[name].Data[i]), 1e-6) {
					t.Fatalf("limit %d: d%s[%d] = %v, per sample %v", limit, name, i, v, grads1[name].Data[i])
				}
			}
		}
	}
}

// bnReLUGraph is BatchNorm -> ReLU on an image and on a vector, each
// followed by a layer; with exposeBN the BatchNorms are outputs too, which
// keeps them apart from their ReLUs.
func bnReLUGraph(exposeBN bool) *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 2, 3, 3)
	bn := b.BatchNorm("bn", x)
	h := b.Conv2d("c", b.ReLU(bn), 2, 1, 1, 0, true)
	v := b.BatchNorm("bnv", b.Linear("l", b.Reshape(h, 18), 4))
	y := b.Linear("out", b.ReLU(v), 3)
	if exposeBN {
		b.Output("bn", bn)
		b.Output("bnv", v)
	}
	b.Input("t", 3)
	b.Output("y", y)
	b.Loss(nn.MSE, y, "t", "", 1)
	return b.Build()
}

// TestBatchNormReLUFused: a BatchNorm with its ReLU fused in gives the
// separate Ops' loss, gradients and evaluation output exactly, and passes
// the finite-difference check.
func TestBatchNormReLUFused(t *testing.T) {
	const batch = 4
	fusedG, apartG := bnReLUGraph(false), bnReLUGraph(true)
	b := randomBatch(fusedG, batch, 5)
	fused, apart := compile64(t, fusedG, batch, 2, "x"), compile64(t, apartG, batch, 2, "x")
	for _, c := range []struct {
		p    *program
		want int
	}{{fused, 2}, {apart, 0}} {
		n := 0
		for _, node := range c.p.train.g.AllNodes() {
			if op := node.Op(); op != nil && strings.HasPrefix(op.String(), "BatchNormReLU(") {
				n++
			}
		}
		if n != c.want {
			t.Fatalf("%d fused BatchNorm-ReLU Ops, want %d", n, c.want)
		}
	}
	checkGrads(t, fused, b, 1, 0, 1e-6)
	l1, g1, err := fused.Gradients(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	l2, g2, err := apart.Gradients(b, 1)
	if err != nil {
		t.Fatal(err)
	}
	if l1 != l2 {
		t.Fatalf("loss %v fused, %v apart", l1, l2)
	}
	for name, g := range g1 {
		for i, v := range g.Data {
			if v != g2[name].Data[i] {
				t.Fatalf("d%s[%d] = %v fused, %v apart", name, i, v, g2[name].Data[i])
			}
		}
	}
	// Evaluation after a training step, so that the running statistics
	// are not the identity.
	for _, p := range []*program{fused, apart} {
		if _, err := p.TrainStep(b, 0, 0.1); err != nil {
			t.Fatal(err)
		}
	}
	o1, err := fused.Predict(b)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := apart.Predict(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range o1["y"].Data {
		if v != o2["y"].Data[i] {
			t.Fatalf("eval y[%d] = %v fused, %v apart", i, v, o2["y"].Data[i])
		}
	}
}

// TestNoInputGradient: a first layer computes no gradient for its input
// unless it is asked for, and the parameters' gradients are the same.
func TestNoInputGradient(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 2, 4, 4)
	h := b.Conv2d("c", x, 3, 3, 1, 1, true)
	v := b.Input("v", 3)
	y := b.Add(b.Linear("l", b.Reshape(h, 48), 3), b.Linear("lv", v, 3))
	b.Input("t", 3)
	b.Output("y", y)
	b.Loss(nn.MSE, y, "t", "", 1)
	g := b.Build()
	batch := randomBatch(g, 2, 4)
	countDX := func(p *program) int {
		n := 0
		for _, node := range p.train.g.AllNodes() {
			if op := node.Op(); op != nil && strings.HasSuffix(op.String(), "DX") {
				n++
			}
		}
		return n
	}
	none, all := compile64(t, g, 2, 1), compile64(t, g, 2, 1, "x", "v")
	// The first layers' DX Ops go; l's stays (its input is c's output).
	if n := countDX(none); n != 1 {
		t.Fatalf("%d input-gradient Ops without input gradients, want 1", n)
	}
	if n := countDX(all); n != 3 {
		t.Fatalf("%d input-gradient Ops with input gradients, want 3", n)
	}
	_, g1, err := none.Gradients(batch, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, g2, err := all.Gradients(batch, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, gr := range g1 {
		for i, v := range gr.Data {
			if v != g2[name].Data[i] {
				t.Fatalf("d%s[%d] = %v, %v with input gradients", name, i, v, g2[name].Data[i])
			}
		}
	}
	checkGrads(t, none, batch, 0, 0, 1e-6)
}

// TestGradientsSamePadded8x8: finite differences through 3x3, 5x5 and 7x7
// same-padded convolutions of 8x8 maps, whose input gradients take
// fullGeom at the default minFullDX (the spatial graph's maps are 6x6).
func TestGradientsSamePadded8x8(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 1, 8, 8)
	h := b.Conv2d("c1", x, 3, 3, 1, 1, true)
	h = b.Conv2d("c2", h, 2, 5, 1, 2, false)
	h = b.Conv2d("c3", h, 2, 7, 1, 3, true)
	y := b.Conv2d("c4", h, 1, 1, 1, 0, false)
	f := b.Linear("fc", b.GlobalAvgPool(y), 2)
	b.Input("t2", 2)
	b.Output("f", f)
	b.Loss(nn.MSE, f, "t2", "", 1)
	gr := b.Build()
	for _, bs := range []int{1, 3} {
		p := compile64(t, gr, bs, 5, "x")
		checkGrads(t, p, randomBatch(gr, bs, 4), 1, 0, 1e-6)
	}
}
