package cuda

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"
)

// BatchNorm, bias-gradient and a few elementwise kernels run on the CPU
// emulator (emulate_test.go) against float64 references written here, and
// the multi-block kernels against the one-block-per-channel ones.

const emuTol = 1e-5

func randFloats(rng *rand.Rand, n int, lo, hi float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return v
}

// bnShape is one test shape; S is the chunk count the multi-block kernels
// get (forced, so that small tensors exercise S > 1 and partial chunks).
type bnShape struct{ B, C, HW, S int }

var bnShapes = []bnShape{
	{2, 3, 1, 1},  // BatchNorm1d: channel stride C
	{3, 5, 1, 2},  // n = 3 in chunks of 2 and 1
	{2, 4, 7, 1},  // one block per channel
	{2, 4, 7, 3},  // n = 14: chunks 5, 5, 4
	{3, 3, 64, 5}, // n = 192: four chunks of 39 and one of 36
	{2, 3, 64, 64},
	{2, 2, 4200, 0}, // S from bnSplit: n = 8400 in 2 chunks of 4200
	// Several elements per thread, so that the walk steps across sample
	// boundaries: 256 = 2*97 + 62, 256 < 300, 256 samples of 1.
	{8, 3, 97, 1},
	{8, 3, 97, 3}, // chunks of 259: start and end inside samples
	{5, 2, 300, 2},
	{600, 3, 1, 2},
}

func (s bnShape) chunks() int {
	if s.S == 0 {
		S, _ := bnSplit(s.B * s.HW)
		return S
	}
	S, _ := splitInto(s.B*s.HW, s.S)
	return S
}

// bnIdx is element i of channel c (i over batch and space), as chanIndex.
func bnIdx(i, c, C, HW int) int { return (i/HW*C+c)*HW + i%HW }

// refBNStats is each channel's batch mean, biased variance and 1/std.
func refBNStats(x []float32, B, C, HW int, eps float64) (mean, vr, inv []float64) {
	n := B * HW
	mean, vr, inv = make([]float64, C), make([]float64, C), make([]float64, C)
	for c := 0; c < C; c++ {
		for i := 0; i < n; i++ {
			mean[c] += float64(x[bnIdx(i, c, C, HW)])
		}
		mean[c] /= float64(n)
		for i := 0; i < n; i++ {
			d := float64(x[bnIdx(i, c, C, HW)]) - mean[c]
			vr[c] += d * d
		}
		vr[c] /= float64(n)
		inv[c] = 1 / math.Sqrt(vr[c]+eps)
	}
	return
}

// refBNForward is PyTorch's training-mode BatchNorm (then ReLU with relu)
// and its running-statistics update (momentum, unbiased variance).
func refBNForward(x, gamma, beta, rm, rv []float32, B, C, HW int, eps, mom float64, relu bool) (y, rmOut, rvOut []float64) {
	n := B * HW
	mean, vr, inv := refBNStats(x, B, C, HW, eps)
	y = make([]float64, len(x))
	rmOut, rvOut = make([]float64, C), make([]float64, C)
	for c := 0; c < C; c++ {
		for i := 0; i < n; i++ {
			k := bnIdx(i, c, C, HW)
			v := (float64(x[k])-mean[c])*inv[c]*float64(gamma[c]) + float64(beta[c])
			if relu && v < 0 {
				v = 0
			}
			y[k] = v
		}
		unb := vr[c]
		if n > 1 {
			unb = vr[c] * float64(n) / float64(n-1)
		}
		rmOut[c] = (1-mom)*float64(rm[c]) + mom*mean[c]
		rvOut[c] = (1-mom)*float64(rv[c]) + mom*unb
	}
	return
}

// refBNBackward: dgamma, dbeta and dx (added to dx0 when given) with the
// incoming gradient masked by r > 0 when r is given.
func refBNBackward(x, dy, r, gamma []float32, dx0 []float32, B, C, HW int, eps float64) (dx, dg, db []float64) {
	n := B * HW
	mean, _, inv := refBNStats(x, B, C, HW, eps)
	dx, dg, db = make([]float64, len(x)), make([]float64, C), make([]float64, C)
	d := func(k int) float64 {
		if r != nil && !(r[k] > 0) {
			return 0
		}
		return float64(dy[k])
	}
	for c := 0; c < C; c++ {
		for i := 0; i < n; i++ {
			k := bnIdx(i, c, C, HW)
			db[c] += d(k)
			dg[c] += d(k) * (float64(x[k]) - mean[c]) * inv[c]
		}
		for i := 0; i < n; i++ {
			k := bnIdx(i, c, C, HW)
			xh := (float64(x[k]) - mean[c]) * inv[c]
			dx[k] = float64(gamma[c]) * inv[c] / float64(n) * (float64(n)*d(k) - db[c] - xh*dg[c])
			if dx0 != nil {
				dx[k] += float64(dx0[k])
			}
		}
	}
	return
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// bnInputs is one shape's random tensors: x with a per-channel offset (so
// the mean matters), gamma, beta, running statistics.
func bnInputs(s bnShape, seed uint64) (x, gamma, beta, rm, rv []float32) {
	rng := rand.New(rand.NewPCG(seed, 7))
	n := s.B * s.C * s.HW
	x = randFloats(rng, n, -1, 1)
	for k := range x {
		x[k] += float32(k / s.HW % s.C)
	}
	return x, randFloats(rng, s.C, 0.5, 1.5), randFloats(rng, s.C, -0.5, 0.5), randFloats(rng, s.C, -0.2, 0.2),
		randFloats(rng, s.C, 0.5, 2)
}

func check(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if e := refErr(got, want); !(e <= emuTol) {
		t.Errorf("%s: relative error %.3g (tolerance %g)\n got %v\nwant %v", what, e, emuTol, got[:min(8, len(got))], want[:min(8, len(want))])
	}
}

// The legacy kernels and the multi-block ones against PyTorch's
// BatchNorm forward in float64, relu and update on and off.
func TestEmulatedBatchNormForward(t *testing.T) {
	const eps, mom = 1e-5, 0.1
	for si, s := range bnShapes {
		x, gamma, beta, rm, rv := bnInputs(s, uint64(si))
		e := newEmu(t)
		S := s.chunks()
		dx, dg, db := e.floats(x), e.floats(gamma), e.floats(beta)
		type out struct {
			legacy       bool
			relu, update int
			y, aux       uint64
			rm, rv       uint64
		}
		var outs []out
		for _, legacy := range []bool{true, false} {
			for _, relu := range []int{0, 1} {
				for _, update := range []int{0, 1} {
					o := out{legacy: legacy, relu: relu, update: update, y: e.nans(len(x)), aux: e.alloc(bnAuxBytes(s.C, S)),
						rm: e.floats(rm), rv: e.floats(rv)}
					if err := e.dev.bnTrain(bnFwd{x: dx, y: o.y, gamma: dg, beta: db, rmean: o.rm, rvar: o.rv, aux: o.aux,
						B: s.B, C: s.C, HW: s.HW, eps: eps, mom: mom, update: update, relu: relu}, S, legacy); err != nil {
						t.Fatal(err)
					}
					outs = append(outs, o)
				}
			}
		}
		e.run()
		mean, _, inv := refBNStats(x, s.B, s.C, s.HW, eps)
		var newY, oldY [][]float32
		for _, o := range outs {
			name := map[bool]string{true: "legacy", false: "multi-block"}[o.legacy]
			t.Logf("shape %+v S %d %s relu %d update %d", s, S, name, o.relu, o.update)
			wantY, wantRM, wantRV := refBNForward(x, gamma, beta, rm, rv, s.B, s.C, s.HW, eps, mom, o.relu == 1)
			y := e.get(o.y, len(x))
			check(t, name+" y", y, wantY)
			check(t, name+" saved mean", e.get(o.aux, s.C), mean)
			check(t, name+" saved 1/std", e.get(o.aux+uint64(4*s.C), s.C), inv)
			if o.update == 1 {
				check(t, name+" running mean", e.get(o.rm, s.C), wantRM)
				check(t, name+" running var", e.get(o.rv, s.C), wantRV)
			} else if !bytes.Equal(e.bytesAt(o.rm, 4*s.C), f32bytes(rm)) || !bytes.Equal(e.bytesAt(o.rv, 4*s.C), f32bytes(rv)) {
				t.Errorf("%s: update 0 changed the running statistics", name)
			}
			if o.legacy {
				oldY = append(oldY, y)
			} else {
				newY = append(newY, y)
			}
		}
		for i := range newY {
			check(t, "multi-block vs legacy y", newY[i], f64s(oldY[i]))
		}
	}
}

// Backward: fused-ReLU mask on and off, acc 0 and 1, and no input
// gradient. With the mask on, the kernels recompute which elements the
// forward's ReLU passed: the reference masks by the forward's own output,
// so the two must agree element for element.
func TestEmulatedBatchNormBackward(t *testing.T) {
	const eps = 1e-5
	for si, s := range bnShapes {
		x, gamma, beta, rm, rv := bnInputs(s, uint64(si))
		rng := rand.New(rand.NewPCG(uint64(si), 11))
		n := len(x)
		dyv, dx0 := randFloats(rng, n, -1, 1), randFloats(rng, n, -1, 1)
		e := newEmu(t)
		S := s.chunks()
		dX, dG, dB, dDY := e.floats(x), e.floats(gamma), e.floats(beta), e.floats(dyv)
		aux, fwdY := e.alloc(bnAuxBytes(s.C, S)), e.nans(n)
		// The forward (BatchNorm+ReLU) fills the aux buffer's mean and 1/std.
		if err := e.dev.bnTrain(bnFwd{x: dX, y: fwdY, gamma: dG, beta: dB, rmean: e.floats(rm), rvar: e.floats(rv),
			aux: aux, B: s.B, C: s.C, HW: s.HW, eps: eps, mom: 0.1, relu: 1}, S, false); err != nil {
			t.Fatal(err)
		}
		type out struct {
			legacy       bool
			masked       bool
			acc          int
			noDX         bool
			dx, dg, dbet uint64
		}
		var outs []out
		for _, legacy := range []bool{true, false} {
			for _, masked := range []bool{false, true} {
				for _, v := range []struct {
					acc  int
					noDX bool
				}{{0, false}, {1, false}, {0, true}} {
					o := out{legacy: legacy, masked: masked, acc: v.acc, noDX: v.noDX, dg: e.nans(s.C), dbet: e.nans(s.C)}
					if !v.noDX {
						if v.acc == 1 {
							o.dx = e.floats(dx0)
						} else {
							o.dx = e.nans(n)
						}
					}
					var reluBeta uint64
					if masked {
						reluBeta = dB
					}
					if err := e.dev.bnTrainBack(bnBwd{x: dX, dy: dDY, reluBeta: reluBeta, gamma: dG, aux: aux, dx: o.dx, dgamma: o.dg, dbeta: o.dbet,
						B: s.B, C: s.C, HW: s.HW, acc: v.acc}, S, legacy); err != nil {
						t.Fatal(err)
					}
					outs = append(outs, o)
				}
			}
		}
		e.run()
		r := e.get(fwdY, n)
		var zeros int
		for _, v := range r {
			if v == 0 {
				zeros++
			}
		}
		if zeros < n/5 || zeros > 4*n/5 {
			t.Fatalf("the ReLU stopped %d of %d elements: the masked cases test little", zeros, n)
		}
		results := map[[3]int][3][]float32{}
		for _, o := range outs {
			name := map[bool]string{true: "legacy", false: "multi-block"}[o.legacy]
			t.Logf("shape %+v S %d %s masked %v acc %d no dx %v", s, S, name, o.masked, o.acc, o.noDX)
			var mask, init []float32
			if o.masked {
				mask = r
			}
			if o.acc == 1 {
				init = dx0
			}
			wantDX, wantDG, wantDB := refBNBackward(x, dyv, mask, gamma, init, s.B, s.C, s.HW, eps)
			got := [3][]float32{nil, e.get(o.dg, s.C), e.get(o.dbet, s.C)}
			check(t, name+" dgamma", got[1], wantDG)
			check(t, name+" dbeta", got[2], wantDB)
			if !o.noDX {
				got[0] = e.get(o.dx, n)
				check(t, name+" dx", got[0], wantDX)
			}
			key := [3]int{b2i(o.masked), o.acc, b2i(o.noDX)}
			if prev, ok := results[key]; ok {
				for i := range got {
					if got[i] != nil {
						check(t, "multi-block vs legacy", got[i], f64s(prev[i]))
					}
				}
			}
			results[key] = got
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The convolutions' bias gradient, legacy and multi-block, against a sum.
func TestEmulatedBiasGrad(t *testing.T) {
	for si, s := range bnShapes {
		rng := rand.New(rand.NewPCG(uint64(si), 5))
		dyv := randFloats(rng, s.B*s.C*s.HW, -1, 1)
		e := newEmu(t)
		S := s.chunks()
		dDY := e.floats(dyv)
		oldDB, newDB := e.nans(s.C), e.nans(s.C)
		scratch := e.alloc(int64(8 * s.C * S))
		if err := e.dev.biasGrad(dDY, oldDB, 0, s.B, s.C, s.HW, S, true); err != nil {
			t.Fatal(err)
		}
		if err := e.dev.biasGrad(dDY, newDB, scratch, s.B, s.C, s.HW, S, false); err != nil {
			t.Fatal(err)
		}
		e.run()
		want := make([]float64, s.C)
		for c := 0; c < s.C; c++ {
			for i := 0; i < s.B*s.HW; i++ {
				want[c] += float64(dyv[bnIdx(i, c, s.C, s.HW)])
			}
		}
		check(t, "legacy bias_grad", e.get(oldDB, s.C), want)
		check(t, "multi-block bias_grad", e.get(newDB, s.C), want)
	}
}

// The multi-block forward, backward and bias gradient give identical
// bytes with their blocks run first to last and last to first: the
// partial sums are added in a fixed order and no block reads what another
// block of the same launch writes.
func TestEmulatedBatchNormDeterministic(t *testing.T) {
	s := bnShape{3, 3, 64, 5}
	x, gamma, beta, rm, rv := bnInputs(s, 3)
	rng := rand.New(rand.NewPCG(3, 3))
	n := len(x)
	e := newEmu(t)
	S := s.chunks()
	dX, dG, dB := e.floats(x), e.floats(gamma), e.floats(beta)
	y, aux, dx, dg, db, bias := e.nans(n), e.alloc(bnAuxBytes(s.C, S)), e.nans(n), e.nans(s.C), e.nans(s.C), e.nans(s.C)
	rmA, rvA := e.floats(rm), e.floats(rv)
	dDY := e.floats(randFloats(rng, n, -1, 1))
	scratch := e.alloc(int64(8 * s.C * S))
	if err := e.dev.bnTrain(bnFwd{x: dX, y: y, gamma: dG, beta: dB, rmean: rmA, rvar: rvA, aux: aux, B: s.B, C: s.C, HW: s.HW,
		eps: 1e-5, mom: 0.1, update: 1, relu: 1}, S, false); err != nil {
		t.Fatal(err)
	}
	if err := e.dev.bnTrainBack(bnBwd{x: dX, dy: dDY, reluBeta: dB, gamma: dG, aux: aux, dx: dx, dgamma: dg, dbeta: db, B: s.B, C: s.C,
		HW: s.HW}, S, false); err != nil {
		t.Fatal(err)
	}
	if err := e.dev.biasGrad(dDY, bias, scratch, s.B, s.C, s.HW, S, false); err != nil {
		t.Fatal(err)
	}
	if !e.sameBothOrders() {
		t.Error("the kernels gave different bytes with their blocks run in reverse order")
	}
	// Equal bytes mean nothing if the kernels left their outputs unwritten.
	for _, o := range []struct {
		a uint64
		n int
	}{{y, n}, {dx, n}, {dg, s.C}, {db, s.C}, {bias, s.C}} {
		for _, v := range e.get(o.a, o.n) {
			if math.IsNaN(float64(v)) {
				t.Fatal("an output was left unwritten (NaN)")
			}
		}
	}
}

// A few grid-stride elementwise kernels, with fewer threads than elements.
func TestEmulatedElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 300
	a, b, d0 := randFloats(rng, n, -1, 1), randFloats(rng, n, -1, 1), randFloats(rng, n, -1, 1)
	// Folded convolution biases: 4 samples of 3 channels of 25.
	const C, HW = 3, 25
	ba, bb := randFloats(rng, C, -1, 1), randFloats(rng, C, -1, 1)
	e := newEmu(t)
	dA, dB, dBa, dBb := e.floats(a), e.floats(b), e.floats(ba), e.floats(bb)
	relu, sum, sumRelu, back0, back1 := e.nans(n), e.nans(n), e.nans(n), e.nans(n), e.floats(d0)
	sumBa, sumBoth, sumReluBb := e.nans(n), e.nans(n), e.nans(n)
	for _, l := range []struct {
		name string
		args []any
	}{
		{"relu_fwd", []any{dA, relu, i64(n)}},
		{"add_fwd", []any{dA, dB, sum, i64(n), uint64(0), uint64(0), 1, 1}},
		{"add_relu_fwd", []any{dA, dB, sumRelu, i64(n), uint64(0), uint64(0), 1, 1}},
		{"add_fwd", []any{dA, dB, sumBa, i64(n), dBa, uint64(0), C, HW}},
		{"add_fwd", []any{dA, dB, sumBoth, i64(n), dBa, dBb, C, HW}},
		{"add_relu_fwd", []any{dA, dB, sumReluBb, i64(n), uint64(0), dBb, C, HW}},
		{"relu_back", []any{dA, dB, back0, i64(n), 0}},
		{"relu_back", []any{dA, dB, back1, i64(n), 1}},
	} {
		if err := e.dev.launch(l.name, 2, 64, l.args...); err != nil {
			t.Fatal(err)
		}
	}
	e.run()
	wr, ws, wsr, w0, w1 := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range a {
		ws[i] = float64(a[i] + b[i])
		wsr[i] = max(ws[i], 0)
		w1[i] = float64(d0[i])
		if a[i] > 0 {
			wr[i], w0[i] = float64(a[i]), float64(b[i])
			w1[i] += float64(b[i])
		}
	}
	check(t, "relu_fwd", e.get(relu, n), wr)
	check(t, "add_fwd", e.get(sum, n), ws)
	check(t, "add_relu_fwd", e.get(sumRelu, n), wsr)
	// With biases, the bits of add_bias then add_fwd.
	wBa, wBoth, wReluBb := make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range a {
		c := i / HW % C
		wBa[i] = float64((a[i] + ba[c]) + b[i])
		wBoth[i] = float64((a[i] + ba[c]) + (b[i] + bb[c]))
		wReluBb[i] = max(float64(a[i]+(b[i]+bb[c])), 0)
	}
	for _, c := range []struct {
		what string
		got  []float32
		want []float64
	}{{"add_fwd bias a", e.get(sumBa, n), wBa}, {"add_fwd biases a and b", e.get(sumBoth, n), wBoth},
		{"add_relu_fwd bias b", e.get(sumReluBb, n), wReluBb}} {
		for i := range c.got {
			if c.got[i] != float32(c.want[i]) {
				t.Errorf("%s [%d]: %v, want exactly %v", c.what, i, c.got[i], float32(c.want[i]))
				break
			}
		}
	}
	check(t, "relu_back acc 0", e.get(back0, n), w0)
	check(t, "relu_back acc 1", e.get(back1, n), w1)
}

// bnSplit's chunks cover n exactly, none empty, each of at least
// bnChunkElems (or all of n), at most bnMaxChunks of them.
func TestBNSplit(t *testing.T) {
	for _, c := range []struct{ n, S, chunk int }{
		{1, 1, 1}, {4095, 1, 4095}, {8191, 1, 8191}, {8192, 2, 4096}, {8193, 2, 4097},
		{32 * 64 * 64, 32, 4096}, {32 * 128 * 128, 64, 8192}, {1 << 24, 64, 1 << 18},
	} {
		if S, chunk := bnSplit(c.n); S != c.S || chunk != c.chunk {
			t.Errorf("bnSplit(%d) = %d, %d; want %d, %d", c.n, S, chunk, c.S, c.chunk)
		}
	}
	for n := 1; n < 600000; n += 997 {
		S, chunk := bnSplit(n)
		if S < 1 || S > bnMaxChunks || S*chunk < n || (S-1)*chunk >= n || chunk < min(n, bnChunkElems) {
			t.Fatalf("bnSplit(%d) = %d chunks of %d", n, S, chunk)
		}
	}
	for _, c := range []struct{ n, S, wantS, chunk int }{{14, 3, 3, 5}, {9, 4, 3, 3}, {3, 5, 3, 1}, {192, 5, 5, 39}} {
		if S, chunk := splitInto(c.n, c.S); S != c.wantS || chunk != c.chunk {
			t.Errorf("splitInto(%d, %d) = %d, %d; want %d, %d", c.n, c.S, S, chunk, c.wantS, c.chunk)
		}
	}
}
