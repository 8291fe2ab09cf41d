package cuda

import (
	"math"
	"math/rand/v2"
	"testing"

	"poselab/nn"
)

// softArgmaxRef is the float64 soft-argmax of BJ volumes of D x H x W:
// probabilities and expected (x, y, z) in voxels.
func softArgmaxRef(x []float32, BJ, D, H, W int) (prob, coords []float64) {
	n := D * H * W
	prob, coords = make([]float64, len(x)), make([]float64, 3*BJ)
	for v := 0; v < BJ; v++ {
		xs := x[v*n : (v+1)*n]
		m := math.Inf(-1)
		for _, a := range xs {
			m = math.Max(m, float64(a))
		}
		var s float64
		for _, a := range xs {
			s += math.Exp(float64(a) - m)
		}
		for i, a := range xs {
			p := math.Exp(float64(a)-m) / s
			prob[v*n+i] = p
			d, h, w := i/(H*W), i/W%H, i%W
			coords[3*v] += p * float64(w)
			coords[3*v+1] += p * float64(h)
			coords[3*v+2] += p * float64(d)
		}
	}
	return prob, coords
}

// The multi-block soft-argmax forward and the one-block-per-volume one
// against float64, on volumes of one chunk and of several uneven ones, with
// a block's step wrapping rows and planes (HW < 256) or not, on random
// logits with a wide range and on rising ones (every value a new running
// maximum, so a thread rescales its sum at each step), some logits -inf.
func TestEmulatedSoftArgmaxForward(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	for _, s := range []struct{ BJ, D, H, W int }{{3, 40, 5, 7}, {2, 3, 40, 70}, {3, 3, 50, 90}, {1, 64, 16, 16}} {
		n := s.D * s.H * s.W
		for _, rising := range []bool{false, true} {
			x := randFloats(rng, s.BJ*n, -12, 12)
			if rising {
				for i := range x {
					x[i] = float32(i%n) * 20 / float32(n)
				}
			}
			// -inf logits (an overflowing layer) weigh 0: at a volume's
			// start, where a thread's running max is still -inf, and in
			// the middle of the first chunk.
			for v := 0; v < s.BJ; v++ {
				for _, i := range []int{0, 1, 300, n / 2} {
					x[v*n+i] = float32(math.Inf(-1))
				}
			}
			prob, coords := softArgmaxRef(x, s.BJ, s.D, s.H, s.W)
			e := newEmu(t)
			dX := e.floats(x)
			var aux [2]uint64
			var y [2]uint64
			for k, legacy := range []bool{true, false} {
				aux[k] = e.alloc(softArgmaxAuxBytes(s.BJ, n))
				y[k] = e.nans(3 * s.BJ)
				if err := e.dev.softArgmaxFwd(dX, aux[k], y[k], s.BJ, s.D, s.H, s.W, legacy); err != nil {
					t.Fatal(err)
				}
			}
			e.run()
			S, _ := bnSplit(n)
			for k, name := range []string{"legacy", "multi-block"} {
				what := name + " " + map[bool]string{false: "random", true: "rising"}[rising]
				check(t, what+" probabilities", e.get(aux[k], s.BJ*n), prob)
				check(t, what+" coordinates", e.get(y[k], 3*s.BJ), coords)
			}
			t.Logf("BJ %d, %dx%dx%d (S %d, rising %v): both match float64", s.BJ, s.D, s.H, s.W, S, rising)
		}
	}
}

// The multi-block kernels give the same bytes with their blocks run in
// reverse order: each volume's partials are combined in chunk order.
func TestEmulatedSoftArgmaxDeterministic(t *testing.T) {
	const BJ, D, H, W = 2, 3, 50, 90
	n := D * H * W
	if S, _ := bnSplit(n); S < 3 {
		t.Fatalf("want several chunks, got %d", S)
	}
	x := randFloats(rand.New(rand.NewPCG(9, 9)), BJ*n, -5, 5)
	e := newEmu(t)
	aux, y := e.alloc(softArgmaxAuxBytes(BJ, n)), e.nans(3*BJ)
	if err := e.dev.softArgmaxFwd(e.floats(x), aux, y, BJ, D, H, W, false); err != nil {
		t.Fatal(err)
	}
	if !e.sameBothOrders() {
		t.Error("the soft-argmax kernels gave different bytes with their blocks run in reverse order")
	}
	for _, v := range e.get(y, 3*BJ) {
		if math.IsNaN(float64(v)) {
			t.Fatal("coordinates left unwritten (NaN)")
		}
	}
}

// More volumes than a grid's y dimension holds (batch 4000 x 17 joints)
// take the one-block-per-volume kernel instead of failing at the first
// forward (fake GPU).
func TestSoftArgmaxManyVolumesFallsBack(t *testing.T) {
	b := nn.NewBuilder()
	x := b.Input("x", 34, 2, 2)
	b.Input("t", 17, 3)
	out := b.SoftArgmax3D(b.Conv2d("c", x, 34, 1, 1, 0, true), 17, 2)
	b.Output("coords", out)
	b.Loss(nn.L1, out, "t", "", 1)
	g := b.Build()
	d, f := newFakeDevice(t)
	defer close(d.work)
	const B = 4000
	pr, err := (&backend{d: d}).Compile(g, nn.Options{Batch: B, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if _, err := pr.Predict(randomBatch(g, B, 1)); err != nil {
		t.Fatal(err)
	}
	if f.calls["kernel softargmax_fwd"] != 1 || f.calls["kernel softargmax_stats"] != 0 || len(f.errs) > 0 {
		t.Errorf("launches: %d softargmax_fwd, %d softargmax_stats; fake GPU: %v", f.calls["kernel softargmax_fwd"], f.calls["kernel softargmax_stats"], f.errs)
	}
}
