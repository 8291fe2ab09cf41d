package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
	"poselab/nn"
)

// scalarGraph is y = w*x + b on one feature with an MSE loss: with x = 1
// the gradient of both parameters is 2(w+b-t), known in closed form.
func scalarGraph() *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 1)
	y := b.Linear("l", x, 1)
	b.Input("t", 1)
	b.Loss(nn.MSE, y, "t", "", 1)
	return b.Build()
}

func TestAdamFirstStep(t *testing.T) {
	p, err := compile(scalarGraph(), nn.Options{Batch: 1, Adam: nn.Adam{Beta1: 0.8, Beta2: 0.99, Eps: 1e-3}}, tensor.Float64, nil)
	if err != nil {
		t.Fatal(err)
	}
	setParam(t, p, "l.weight", 0.5)
	setParam(t, p, "l.bias", 0.25)
	batch := nn.Batch{"x": tensorOf([]int{1, 1}, 1), "t": tensorOf([]int{1, 1}, 2)}
	if _, err := p.TrainStep(batch, 0, 0.1); err != nil {
		t.Fatal(err)
	}
	g := 2 * (0.5 + 0.25 - 2)
	m, v := 0.2*g, 0.01*g*g
	mhat, vhat := m/0.2, v/0.01
	want := 0.5 - 0.1*mhat/(math.Sqrt(vhat)+1e-3)
	got := sl[float64](p.params["l.weight"])[0]
	if !near(got, want, 1e-14) {
		t.Fatalf("weight after one step %v, want %v", got, want)
	}
	s, _ := p.State()
	if s.AdamStep != 1 || !near(float64(s.AdamM["l.weight"].Data[0]), m, 1e-6) || !near(float64(s.AdamV["l.weight"].Data[0]), v, 1e-6) {
		t.Fatalf("Adam state step %d m %v v %v, want 1 %v %v", s.AdamStep, s.AdamM["l.weight"].Data, s.AdamV["l.weight"].Data, m, v)
	}
}

func TestAdamMatchesReference(t *testing.T) {
	cfg := nn.Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	p, err := compile(scalarGraph(), nn.Options{Batch: 1, Adam: cfg}, tensor.Float64, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, bias := 0.5, -0.25
	setParam(t, p, "l.weight", w)
	setParam(t, p, "l.bias", bias)
	batch := nn.Batch{"x": tensorOf([]int{1, 1}, 1), "t": tensorOf([]int{1, 1}, 2)}
	var mw, vw, mb, vb float64
	for step := 1; step <= 20; step++ {
		lr := 0.05
		if _, err := p.TrainStep(batch, step-1, lr); err != nil {
			t.Fatal(err)
		}
		g := 2 * (w + bias - 2)
		upd := func(x, m, v float64) (float64, float64, float64) {
			gi := g + cfg.WeightDecay*x
			m = cfg.Beta1*m + (1-cfg.Beta1)*gi
			v = cfg.Beta2*v + (1-cfg.Beta2)*gi*gi
			mh := m / (1 - math.Pow(cfg.Beta1, float64(step)))
			vh := v / (1 - math.Pow(cfg.Beta2, float64(step)))
			return x - lr*mh/(math.Sqrt(vh)+cfg.Eps), m, v
		}
		w, mw, vw = upd(w, mw, vw)
		bias, mb, vb = upd(bias, mb, vb)
	}
	gw, gb := sl[float64](p.params["l.weight"])[0], sl[float64](p.params["l.bias"])[0]
	if !near(gw, w, 1e-12) || !near(gb, bias, 1e-12) {
		t.Fatalf("after 20 steps w=%v b=%v, reference w=%v b=%v", gw, gb, w, bias)
	}
}

// regression is a fixed random set: targets tanh(A x) of random inputs.
func regression(n, in, out int, seed uint64) (x, y *nn.Tensor) {
	rng := rand.New(rand.NewPCG(seed, 1))
	a := make([]float64, in*out)
	for i := range a {
		a[i] = rng.NormFloat64() / math.Sqrt(float64(in))
	}
	x, y = nn.NewTensor(n, in), nn.NewTensor(n, out)
	for s := 0; s < n; s++ {
		for i := 0; i < in; i++ {
			x.Data[s*in+i] = float32(rng.NormFloat64())
		}
		for o := 0; o < out; o++ {
			z := 0.0
			for i := 0; i < in; i++ {
				z += a[o*in+i] * float64(x.Data[s*in+i])
			}
			y.Data[s*out+o] = float32(math.Tanh(2 * z))
		}
	}
	return x, y
}

func smallMLP() *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 8)
	h := b.Linear("l1", x, 64)
	h = b.BatchNorm("bn1", h)
	h = b.ReLU(h)
	h = b.Dropout(h, 0.1)
	y := b.Linear("l2", h, 3)
	b.Output("y", y)
	b.Input("t", 3)
	b.Loss(nn.L1, y, "t", "", 1)
	return b.Build()
}

func TestMLPLearns(t *testing.T) {
	const batch = 64
	x, y := regression(batch, 8, 3, 5)
	p, err := New().Compile(smallMLP(), nn.Options{Batch: batch, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	b := nn.Batch{"x": x, "t": y}
	start, _ := p.Loss(b)
	for step := 0; step < 600; step++ {
		if _, err := p.TrainStep(b, step, 1e-2); err != nil {
			t.Fatal(err)
		}
	}
	end, _ := p.Loss(b)
	t.Logf("L1 loss (eval mode) %.4f -> %.4f after 600 steps", start, end)
	if !(end < 0.1) || !(start > 0.4) {
		t.Fatalf("eval L1 loss %.4f -> %.4f, want from > 0.4 to < 0.1", start, end)
	}
}

func trainFew(t *testing.T, p nn.Program, b nn.Batch, from, n int) []float64 {
	t.Helper()
	var losses []float64
	for s := from; s < from+n; s++ {
		l, err := p.TrainStep(b, s, 1e-2)
		if err != nil {
			t.Fatal(err)
		}
		losses = append(losses, l)
	}
	return losses
}

func TestDeterminism(t *testing.T) {
	x, y := regression(32, 8, 3, 9)
	b := nn.Batch{"x": x, "t": y}
	var runs [2][]float64
	for r := range runs {
		p, err := New().Compile(smallMLP(), nn.Options{Batch: 32, Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		runs[r] = trainFew(t, p, b, 0, 10)
	}
	for i := range runs[0] {
		if runs[0][i] != runs[1][i] {
			t.Fatalf("step %d: losses %v and %v differ", i, runs[0][i], runs[1][i])
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	x, y := regression(32, 8, 3, 9)
	b := nn.Batch{"x": x, "t": y}
	p1, _ := New().Compile(smallMLP(), nn.Options{Batch: 32, Seed: 1})
	trainFew(t, p1, b, 0, 5)
	s, err := p1.State()
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := New().Compile(smallMLP(), nn.Options{Batch: 32, Seed: 1})
	if err := p2.SetState(s); err != nil {
		t.Fatal(err)
	}
	o1, _ := p1.Predict(nn.Batch{"x": x})
	o2, _ := p2.Predict(nn.Batch{"x": x})
	for i := range o1["y"].Data {
		if o1["y"].Data[i] != o2["y"].Data[i] {
			t.Fatalf("prediction %d: %v vs %v after the round trip", i, o1["y"].Data[i], o2["y"].Data[i])
		}
	}
	// Adam moments and step came along: training continues identically.
	l1, l2 := trainFew(t, p1, b, 5, 3), trainFew(t, p2, b, 5, 3)
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatalf("resumed step %d: loss %v vs %v", i, l1[i], l2[i])
		}
	}
}

func TestBadInputs(t *testing.T) {
	p, _ := New().Compile(smallMLP(), nn.Options{Batch: 4})
	if _, err := p.Predict(nn.Batch{}); err == nil {
		t.Fatal("missing input accepted")
	}
	if _, err := p.Predict(nn.Batch{"x": nn.NewTensor(3, 8)}); err == nil {
		t.Fatal("wrong batch size accepted")
	}
	s, _ := p.State()
	s.Params["l1.weight"].Data[0] = float32(math.NaN())
	if err := p.SetState(s); err == nil {
		t.Fatal("NaN parameter accepted")
	}
	delete(s.Params, "l2.bias")
	if err := p.SetState(s); err == nil {
		t.Fatal("missing parameter accepted")
	}
	if _, err := New().Compile(smallMLP(), nn.Options{Batch: 0}); err == nil {
		t.Fatal("batch 0 accepted")
	}
}

// TestConvNetLearns trains a small heatmap network to find a bright
// spot: Conv2d-BN-ReLU-MaxPool-ConvTranspose2d-SoftArgmax3D with a masked
// L1 on (x, y) (z masked out).
func TestConvNetLearns(t *testing.T) {
	const batch, size = 16, 8
	b := nn.NewBuilder()
	x := b.Input("img", 1, size, size)
	h := b.Conv2d("c1", x, 4, 3, 1, 1, true)
	h = b.BatchNorm("bn1", h)
	h = b.ReLU(h)
	h = b.MaxPool2d(h, 2, 2, 0)                      // [4,4,4]
	h = b.ConvTranspose2d("t1", h, 2, 4, 2, 1, true) // [2,8,8]
	j := b.SoftArgmax3D(h, 1, 2)
	b.Input("t", 1, 3)
	b.Input("m", 1, 3)
	b.Output("joint", j)
	b.Loss(nn.L1, j, "t", "m", 1)
	g := b.Build()
	p, err := New().Compile(g, nn.Options{Batch: batch, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	makeBatch := func() nn.Batch {
		img, tgt, m := nn.NewTensor(batch, 1, size, size), nn.NewTensor(batch, 1, 3), nn.NewTensor(batch, 1, 3)
		for s := 0; s < batch; s++ {
			px, py := rng.IntN(size), rng.IntN(size)
			for i := 0; i < size*size; i++ {
				img.Data[s*size*size+i] = float32(rng.Float64() * 0.1)
			}
			img.Data[s*size*size+py*size+px] = 1
			tgt.Data[3*s], tgt.Data[3*s+1] = float32(px), float32(py)
			m.Data[3*s], m.Data[3*s+1] = 1, 1
		}
		return nn.Batch{"img": img, "t": tgt, "m": m}
	}
	test := makeBatch()
	start, _ := p.Loss(test)
	for step := 0; step < 300; step++ {
		if _, err := p.TrainStep(makeBatch(), step, 1e-2); err != nil {
			t.Fatal(err)
		}
	}
	end, _ := p.Loss(test)
	// The loss is the mean over x, y and the masked z: 2/3 of the mean
	// per-coordinate error in pixels.
	t.Logf("masked L1 (eval mode, held-out batch) %.3f -> %.3f after 300 steps", start, end)
	if !(start > 0.8) || !(end < 0.2) {
		t.Fatalf("loss %.3f -> %.3f, want from > 0.8 to < 0.2", start, end)
	}
}

// TestUntrainedHead: parameters no loss depends on get zero gradients and
// are not moved by Adam (PyTorch skips parameters without gradients).
func TestUntrainedHead(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 3)
	b.Output("o", b.Linear("head", x, 2))
	h := b.Linear("a", x, 2)
	b.Input("t", 2)
	b.Loss(nn.MSE, h, "t", "", 1)
	g := b.Build()
	p, err := New().Compile(g, nn.Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	batch := randomBatch(g, 2, 1)
	_, grads, err := p.Gradients(batch, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range grads["head.weight"].Data {
		if v != 0 {
			t.Fatalf("head gradient %v, want zeros", grads["head.weight"].Data)
		}
	}
	before, _ := p.State()
	if _, err := p.TrainStep(batch, 0, 0.1); err != nil {
		t.Fatal(err)
	}
	after, _ := p.State()
	for i, v := range after.Params["head.weight"].Data {
		if v != before.Params["head.weight"].Data[i] {
			t.Fatal("Adam moved a parameter the loss does not depend on")
		}
	}
	if after.Params["a.weight"].Data[0] == before.Params["a.weight"].Data[0] {
		t.Fatal("Adam did not move the trained layer")
	}
}

func TestMemoryAndClose(t *testing.T) {
	p, err := New().Compile(smallMLP(), nn.Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Memory(); m.Used <= 0 || m.Peak < m.Used {
		t.Fatalf("memory %+v", m)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	x, y := regression(4, 8, 3, 1)
	if _, err := p.TrainStep(nn.Batch{"x": x, "t": y}, 0, 1e-3); err == nil {
		t.Fatal("TrainStep after Close succeeded")
	}
	if _, err := p.Predict(nn.Batch{"x": x}); err == nil {
		t.Fatal("Predict after Close succeeded")
	}
}
