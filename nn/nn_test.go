package nn

import (
	"math"
	"testing"
)

func TestBuilderShapesAndParams(t *testing.T) {
	b := NewBuilder()
	x := b.Input("img", 3, 16, 16)
	c := b.Conv2d("c1", x, 8, 3, 2, 1, false) // -> [8,8,8]
	if !SameShape(c.Shape, []int{8, 8, 8}) {
		t.Fatalf("conv shape %v", c.Shape)
	}
	d := b.ConvTranspose2d("d1", c, 4, 4, 2, 1, true) // (8-1)*2-2+4 = 16
	if !SameShape(d.Shape, []int{4, 16, 16}) {
		t.Fatalf("deconv shape %v", d.Shape)
	}
	p := b.MaxPool2d(d, 3, 2, 1) // (16+2-3)/2+1 = 8
	if !SameShape(p.Shape, []int{4, 8, 8}) {
		t.Fatalf("pool shape %v", p.Shape)
	}
	u := b.Upsample2x(b.BatchNorm("bn", p))
	if !SameShape(u.Shape, []int{4, 16, 16}) {
		t.Fatalf("upsample shape %v", u.Shape)
	}
	s := b.SoftArgmax3D(u, 2, 2)
	if !SameShape(s.Shape, []int{2, 3}) {
		t.Fatalf("softargmax shape %v", s.Shape)
	}
	b.Input("target", 2, 3)
	b.Input("mask", 2, 3)
	b.Loss(L1, s, "target", "mask", 1)
	b.Output("joints", s)
	g := b.Build()

	want := map[string][]int{
		"c1.weight": {8, 3, 3, 3}, "d1.weight": {8, 4, 4, 4}, "d1.bias": {4},
		"bn.weight": {4}, "bn.bias": {4}, "bn.running_mean": {4}, "bn.running_var": {4},
	}
	if len(g.Params) != len(want) {
		t.Fatalf("got %d params, want %d", len(g.Params), len(want))
	}
	for _, p := range g.Params {
		if !SameShape(p.Shape, want[p.Name]) {
			t.Errorf("%s shape %v, want %v", p.Name, p.Shape, want[p.Name])
		}
	}
	if in := g.DataInputs(); len(in) != 1 || in[0] != "img" {
		t.Fatalf("data inputs %v, want [img] (targets and masks excluded)", in)
	}
}

func TestBuilderRejectsBadShapes(t *testing.T) {
	cases := map[string]func(b *Builder){
		"linear on image":     func(b *Builder) { b.Linear("l", b.Input("x", 3, 4, 4), 2) },
		"add of two shapes":   func(b *Builder) { b.Add(b.Input("x", 3), b.Input("y", 4)) },
		"reshape size":        func(b *Builder) { b.Reshape(b.Input("x", 6), 4) },
		"duplicate parameter": func(b *Builder) { x := b.Input("x", 3); b.Linear("l", x, 3); b.Linear("l", x, 3) },
		"undeclared target":   func(b *Builder) { b.Loss(MSE, b.Input("x", 3), "nope", "", 1) },
		"target shape":        func(b *Builder) { x := b.Input("x", 3); b.Input("t", 4); b.Loss(MSE, x, "t", "", 1) },
		// Go's division truncates toward zero, so (3-4)/2+1 came out as 1
		// and a window larger than the padded input was accepted (PyTorch
		// refuses it).
		"conv kernel > padded input":    func(b *Builder) { b.Conv2d("c", b.Input("x", 1, 3, 3), 1, 4, 2, 0, false) },
		"maxpool kernel > padded input": func(b *Builder) { b.MaxPool2d(b.Input("x", 1, 3, 3), 4, 2, 0) },
		"convT empty output":            func(b *Builder) { b.ConvTranspose2d("c", b.Input("x", 1, 1, 1), 1, 2, 1, 1, false) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("no panic")
				}
			}()
			f(NewBuilder())
		})
	}
}

func TestInitStateMatchesPyTorchDefaults(t *testing.T) {
	b := NewBuilder()
	h := b.Linear("fc", b.Input("x", 400), 300)
	b.BatchNorm("bn", h)
	g := b.Build()
	s1, s2 := InitState(g, 7), InitState(g, 7)
	w := s1.Params["fc.weight"].Data
	bound := 1 / math.Sqrt(400)
	var sum, sq float64
	for i, v := range w {
		if math.Abs(float64(v)) > bound {
			t.Fatalf("weight %g outside +-%g", v, bound)
		}
		if v != s2.Params["fc.weight"].Data[i] {
			t.Fatalf("same seed gave different weights")
		}
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(w))
	// uniform(-b, b) has mean 0 and variance b^2/3.
	if mean := sum / n; math.Abs(mean) > 0.05*bound {
		t.Errorf("weight mean %g, want about 0", mean)
	}
	if v := sq / n; math.Abs(v-bound*bound/3) > 0.05*bound*bound/3 {
		t.Errorf("weight variance %g, want %g", v, bound*bound/3)
	}
	if s1.Buffers["bn.running_var"].Data[0] != 1 || s1.Buffers["bn.running_mean"].Data[0] != 0 || s1.Params["bn.weight"].Data[0] != 1 {
		t.Errorf("BatchNorm init not gamma 1, mean 0, var 1")
	}
	if _, ok := s1.AdamM["bn.running_var"]; ok {
		t.Errorf("buffers must not have Adam moments")
	}
	if InitState(g, 8).Params["fc.weight"].Data[0] == w[0] {
		t.Errorf("different seeds gave the same first weight")
	}
}

func TestDropoutKeepRateAndDeterminism(t *testing.T) {
	const n = 200000
	kept := 0
	for i := 0; i < n; i++ {
		k := DropoutKeep(42, 3, 5, i, 0.5)
		if k != DropoutKeep(42, 3, 5, i, 0.5) {
			t.Fatal("not deterministic")
		}
		if k {
			kept++
		}
	}
	if r := float64(kept) / n; math.Abs(r-0.5) > 0.005 {
		t.Fatalf("kept fraction %g, want 0.5", r)
	}
	// Different steps draw different masks.
	same := 0
	for i := 0; i < 1000; i++ {
		if DropoutKeep(42, 3, 5, i, 0.5) == DropoutKeep(42, 4, 5, i, 0.5) {
			same++
		}
	}
	if same > 600 || same < 400 {
		t.Fatalf("masks of consecutive steps agree on %d/1000 elements, want about 500", same)
	}
}

func TestTensorCheck(t *testing.T) {
	if err := (&Tensor{Shape: []int{2, 3}, Data: make([]float32, 5)}).Check(); err == nil {
		t.Fatal("wrong length accepted")
	}
	x := NewTensor(2, 3)
	x.Data[4] = 1
	y := x.Clone()
	y.Data[4] = 2
	if x.Data[4] != 1 || x.Check() != nil {
		t.Fatal("clone shares data or shape check fails")
	}
}

// sampleStats returns the mean, standard deviation and the fraction of
// values beyond 2 standard deviations (about 4.55% for a normal, none for
// a uniform) of t.
func sampleStats(t *Tensor) (mean, std, tail float64) {
	var sum, sq float64
	for _, v := range t.Data {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(t.Data))
	mean = sum / n
	std = math.Sqrt(sq/n - mean*mean)
	for _, v := range t.Data {
		if math.Abs(float64(v)-mean) > 2*std {
			tail++
		}
	}
	return mean, std, tail / n
}

// A model can start a layer from its reference init instead of PyTorch's
// default: Kaiming normal with PyTorch's fan_in / fan_out of each weight
// layout, a fixed-std normal, zeros.
func TestInitNormalKaimingAndZeros(t *testing.T) {
	b := NewBuilder()
	x := b.Input("x", 64, 8, 8)
	y := b.Conv2d("conv", x, 128, 3, 1, 1, true)
	b.InitKaimingNormal("conv.weight", true) // fan_out = 128*3*3
	b.InitZeros("conv.bias")
	b.ConvTranspose2d("deconv", y, 64, 4, 2, 1, false)
	b.InitNormal("deconv.weight", 0.001)
	h := b.Linear("fc", b.Input("v", 500), 400)
	b.InitKaimingNormal("fc.weight", false) // fan_in = 500
	b.Linear("plain", h, 300)
	g := b.Build()
	s := InitState(g, 3)
	for _, tc := range []struct {
		name string
		std  float64
	}{
		{"conv.weight", math.Sqrt(2.0 / (128 * 9))},
		{"deconv.weight", 0.001},
		{"fc.weight", math.Sqrt(2.0 / 500)},
	} {
		mean, std, tail := sampleStats(s.Params[tc.name])
		n := float64(len(s.Params[tc.name].Data))
		// The sample std of n normal draws is off by about std/sqrt(2n):
		// 2% is over 10 of those for these sizes (over 70,000 draws).
		if math.Abs(std-tc.std) > 0.02*tc.std || math.Abs(mean) > 5*tc.std/math.Sqrt(n) {
			t.Errorf("%s: mean %.3g std %.4g, want 0 and %.4g", tc.name, mean, std, tc.std)
		}
		if tail < 0.04 || tail > 0.051 {
			t.Errorf("%s: %.2f%% beyond 2 std, want about 4.55%% (a normal)", tc.name, 100*tail)
		}
	}
	for _, v := range s.Params["conv.bias"].Data {
		if v != 0 {
			t.Fatalf("conv.bias %g, want 0", v)
		}
	}
	// A layer the model leaves alone keeps PyTorch's default.
	if _, std, _ := sampleStats(s.Params["plain.weight"]); math.Abs(std-1/math.Sqrt(3*400)) > 0.02/math.Sqrt(3*400) {
		t.Errorf("plain.weight std %.4g, want uniform's %.4g", std, 1/math.Sqrt(3*400))
	}
	if g.Params[0].Init != "normal" || InitState(g, 3).Params["conv.weight"].Data[7] != s.Params["conv.weight"].Data[7] {
		t.Errorf("normal init is not reproducible from the seed")
	}
}

func TestInitRejectsWhatIsNoWeight(t *testing.T) {
	for name, f := range map[string]func(*Builder){
		"unknown":     func(b *Builder) { b.InitZeros("nope") },
		"buffer":      func(b *Builder) { b.BatchNorm("bn", b.Input("x", 4)); b.InitZeros("bn.running_mean") },
		"1-d kaiming": func(b *Builder) { b.Linear("fc", b.Input("x", 4), 2); b.InitKaimingNormal("fc.bias", false) },
		"zero std":    func(b *Builder) { b.Linear("fc", b.Input("x", 4), 2); b.InitNormal("fc.weight", 0) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			f(NewBuilder())
		})
	}
}
