package cpu

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
	"poselab/nn"
)

func setParam(t *testing.T, p *program, name string, vals ...float64) {
	t.Helper()
	d := p.params[name]
	if d == nil {
		d = p.buffers[name]
	}
	if d == nil || d.Shape().TotalSize() != len(vals) {
		t.Fatalf("parameter %s: want %d values", name, len(vals))
	}
	switch s := d.Data().(type) {
	case []float32:
		for i, v := range vals {
			s[i] = float32(v)
		}
	case []float64:
		copy(s, vals)
	}
}

func tensorOf(shape []int, vals ...float32) *nn.Tensor {
	return &nn.Tensor{Shape: shape, Data: vals}
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func assertData(t *testing.T, what string, got *nn.Tensor, want ...float64) {
	t.Helper()
	if len(got.Data) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got.Data), len(want))
	}
	for i, w := range want {
		if !near(float64(got.Data[i]), w, 1e-5*math.Max(1, math.Abs(w))) {
			t.Fatalf("%s[%d] = %v, want %v (all: %v)", what, i, got.Data[i], w, got.Data)
		}
	}
}

func TestLinearForward(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 2)
	b.Output("y", b.Linear("l", x, 3))
	p, err := New().Compile(b.Build(), nn.Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	setParam(t, p.(*program), "l.weight", 1, 2, 3, 4, 5, 6) // [[1,2],[3,4],[5,6]]
	setParam(t, p.(*program), "l.bias", 0.5, -1, 2)
	out, err := p.Predict(nn.Batch{"x": tensorOf([]int{2, 2}, 1, -1, 0.5, 2)})
	if err != nil {
		t.Fatal(err)
	}
	// row 1: (1-2+.5, 3-4-1, 5-6+2); row 2: (.5+4+.5, 1.5+8-1, 2.5+12+2)
	assertData(t, "y", out["y"], -0.5, -2, 1, 5, 8.5, 16.5)
}

// bnGraph is x -> BatchNorm -> output, with an MSE loss to t.
func bnGraph(shape ...int) *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", shape...)
	y := b.BatchNorm("bn", x)
	b.Output("y", y)
	b.Input("t", shape...)
	b.Loss(nn.MSE, y, "t", "", 1)
	return b.Build()
}

func TestBatchNormTrainAndEval(t *testing.T) {
	p, err := New().Compile(bnGraph(2), nn.Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	pr := p.(*program)
	setParam(t, pr, "bn.weight", 2, 1)
	setParam(t, pr, "bn.bias", 0, 3)
	// channel 0: 1,2,3,6 (mean 3, biased var 3.5, unbiased 14/3);
	// channel 1: all 5 (mean 5, var 0).
	x := tensorOf([]int{4, 2}, 1, 5, 2, 5, 3, 5, 6, 5)
	zero := nn.NewTensor(4, 2)
	batch := nn.Batch{"x": x, "t": zero}
	if _, _, err := p.Gradients(batch, 0); err != nil {
		t.Fatal(err)
	}
	s, _ := p.State()
	assertData(t, "running_mean after Gradients", s.Buffers["bn.running_mean"], 0, 0)
	// Training-mode output: normalised with the batch's biased variance.
	loss, err := p.TrainStep(batch, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	sd := math.Sqrt(3.5 + 1e-5)
	var want float64
	for _, v := range []float64{1, 2, 3, 6} {
		y0 := 2 * (v - 3) / sd
		want += y0*y0 + 3*3
	}
	want /= 8
	if !near(loss, want, 1e-5*want) {
		t.Fatalf("training loss %v, want %v", loss, want)
	}
	s, _ = p.State()
	assertData(t, "running_mean", s.Buffers["bn.running_mean"], 0.1*3, 0.1*5)
	assertData(t, "running_var", s.Buffers["bn.running_var"], 0.9+0.1*14.0/3, 0.9)
	// Evaluation uses the running statistics.
	out, err := p.Predict(nn.Batch{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	rv0, rv1 := 0.9+0.1*14.0/3, 0.9
	var wantY []float64
	for _, v := range []float64{1, 2, 3, 6} {
		wantY = append(wantY, 2*(v-0.3)/math.Sqrt(rv0+1e-5), (5-0.5)/math.Sqrt(rv1+1e-5)+3)
	}
	assertData(t, "eval y", out["y"], wantY...)
}

func TestBatchNormSpatialForward(t *testing.T) {
	p, err := New().Compile(bnGraph(2, 1, 2), nn.Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	// channel 0 values 0,2,4,6 (mean 3, var 5); channel 1: 1,1,3,3 (mean 2, var 1).
	x := tensorOf([]int{2, 2, 1, 2}, 0, 2, 1, 1, 4, 6, 3, 3)
	pr := p.(*program)
	pr.bnUpdate = false
	if err := pr.load(pr.train, nn.Batch{"x": x, "t": nn.NewTensor(2, 2, 1, 2)}, pr.allInputs()); err != nil {
		t.Fatal(err)
	}
	if err := pr.train.vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	got := toNN(pr.train.outputs["y"].Value().(*tensor.Dense))
	pr.train.vm.Reset()
	s0, s1 := math.Sqrt(5+1e-5), math.Sqrt(1+1e-5)
	assertData(t, "y", got, -3/s0, -1/s0, -1/s1, -1/s1, 1/s0, 3/s0, 1/s1, 1/s1)
	// Running statistics count N = batch*H*W = 4 values per channel.
	if _, err := p.TrainStep(nn.Batch{"x": x, "t": nn.NewTensor(2, 2, 1, 2)}, 0, 0); err != nil {
		t.Fatal(err)
	}
	s, _ := p.State()
	assertData(t, "running_mean", s.Buffers["bn.running_mean"], 0.3, 0.2)
	assertData(t, "running_var", s.Buffers["bn.running_var"], 0.9+0.1*20.0/3, 0.9+0.1*4.0/3)
}

func TestLossValues(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 3)
	b.Input("t", 3)
	b.Input("m", 3)
	b.Loss(nn.L1, x, "t", "m", 2)
	b.Loss(nn.MSE, x, "t", "", 0.5)
	p, err := New().Compile(b.Build(), nn.Options{Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	batch := nn.Batch{
		"x": tensorOf([]int{2, 3}, 1, 2, 3, 4, 5, 6),
		"t": tensorOf([]int{2, 3}, 0, 2, 5, 4, 4, 4),
		"m": tensorOf([]int{2, 3}, 1, 1, 0, 1, 1, 1),
	}
	l, err := p.Loss(batch)
	if err != nil {
		t.Fatal(err)
	}
	// L1: masked errors 1,0,0,0,1,2 -> mean 4/6, x2; MSE: 1,0,4,0,1,4 -> 10/6, x0.5.
	want := 2*4.0/6 + 0.5*10.0/6
	if !near(l, want, 1e-6) {
		t.Fatalf("loss %v, want %v", l, want)
	}
}

// TestDropoutMasks: training mode multiplies by 1/(1-p) exactly where
// nn.DropoutKeep(seed, step, node id, element index) keeps, the same step
// draws the same mask, another step another one; evaluation is identity.
func TestDropoutMasks(t *testing.T) {
	const batch, f, prob, seed = 4, 50, 0.3, 77
	b := nn.NewBuilder()
	x := b.Input("x", f)
	y := b.Dropout(x, prob)
	b.Output("y", y)
	b.Input("t", f)
	b.Loss(nn.MSE, y, "t", "", 1)
	g := b.Build()
	dropID := g.Outputs["y"]
	p, err := compile(g, nn.Options{Batch: batch, Seed: seed}, tensor.Float32, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := nn.NewTensor(batch, f)
	for i := range in.Data {
		in.Data[i] = float32(i%7) + 1
	}
	data := nn.Batch{"x": in, "t": nn.NewTensor(batch, f)}
	trainOut := func(step int) []float32 {
		if _, err := p.forwardBackward(data, step, false); err != nil {
			t.Fatal(err)
		}
		return toNN(p.train.outputs["y"].Value().(*tensor.Dense)).Data
	}
	for _, step := range []int{0, 5, 0} {
		got := trainOut(step)
		dropped := 0
		for i, v := range got {
			want := float32(0)
			if nn.DropoutKeep(seed, step, dropID, i, prob) {
				want = in.Data[i] * float32(1/(1-prob))
			} else {
				dropped++
			}
			if v != want {
				t.Fatalf("step %d element %d: %v, want %v", step, i, v, want)
			}
		}
		if dropped < 30 || dropped > 90 {
			t.Fatalf("step %d dropped %d of 200 at p=0.3", step, dropped)
		}
	}
	out, err := p.Predict(nn.Batch{"x": in})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out["y"].Data {
		if v != in.Data[i] {
			t.Fatalf("evaluation changed element %d: %v -> %v", i, in.Data[i], v)
		}
	}
}

func TestMaskMatchesDropoutKeep(t *testing.T) {
	for _, c := range []struct {
		seed       int64
		step, node int
		p          float64
	}{{0, 0, 0, 0.5}, {77, 3, 12, 0.3}, {-5, 1 << 20, 7, 0.1}, {1, 2, 3, 0.9}, {9, 9, 9, 1.0 / 3}} {
		d := make([]float32, 100000)
		fillMask(d, c.seed, c.step, c.node, c.p, 2)
		for i, v := range d {
			if (v == 2) != nn.DropoutKeep(c.seed, c.step, c.node, i, c.p) {
				t.Fatalf("%+v element %d: mask %v disagrees with nn.DropoutKeep", c, i, v)
			}
		}
	}
}
