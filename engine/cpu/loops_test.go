package cpu

import (
	"math"
	"math/rand"
	"testing"

	"gorgonia.org/tensor"
)

// The branch-free ReLU loops give exactly what the comparisons v > 0 give,
// special values included, in both precisions.
func TestReLUBitsMatchComparisons(t *testing.T) {
	special := []float64{0, math.Copysign(0, -1), 1, -1, math.Inf(1), math.Inf(-1), math.NaN(), -math.NaN(),
		math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 1e-45, -1e-45, math.MaxFloat32, -math.MaxFloat32,
		math.MaxFloat64, -math.MaxFloat64, math.Float64frombits(1<<64 - 1), math.Float64frombits(1<<63 - 1)} // NaNs of full payload
	rng := rand.New(rand.NewSource(1))
	x64 := append([]float64(nil), special...)
	for i := 0; i < 5000; i++ {
		x64 = append(x64, rng.NormFloat64())
	}
	dy64, m64 := make([]float64, len(x64)), make([]float64, len(x64))
	for i := range dy64 {
		dy64[i] = rng.NormFloat64()
		m64[i] = float64(rng.Intn(2)) * 2
	}
	want := func(v, d float64) float64 {
		if v > 0 {
			return d
		}
		return 0
	}
	y64, g64, gm64, fm64 := make([]float64, len(x64)), make([]float64, len(x64)), make([]float64, len(x64)), make([]float64, len(x64))
	relu(x64, y64)
	reluGrad(x64, dy64, g64)
	reluMaskGrad(x64, dy64, m64, gm64)
	reluMask(x64, m64, fm64)
	x32, dy32, m32 := make([]float32, len(x64)), make([]float32, len(x64)), make([]float32, len(x64))
	for i := range x64 {
		x32[i], dy32[i], m32[i] = float32(x64[i]), float32(dy64[i]), float32(m64[i])
	}
	y32, g32, gm32, fm32 := make([]float32, len(x64)), make([]float32, len(x64)), make([]float32, len(x64)), make([]float32, len(x64))
	relu(x32, y32)
	reluGrad(x32, dy32, g32)
	reluMaskGrad(x32, dy32, m32, gm32)
	reluMask(x32, m32, fm32)
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	for i, v := range x64 {
		if !same(y64[i], want(v, v)) || !same(g64[i], want(v, dy64[i])) || !same(gm64[i], want(v, dy64[i]*m64[i])) ||
			!same(fm64[i], want(v, v*m64[i])) {
			t.Fatalf("float64 x=%v: relu %v grad %v masked grad %v masked %v", v, y64[i], g64[i], gm64[i], fm64[i])
		}
		v32 := float64(x32[i])
		if !same(float64(y32[i]), want(v32, v32)) || !same(float64(g32[i]), want(v32, float64(dy32[i]))) ||
			!same(float64(gm32[i]), want(v32, float64(dy32[i]*m32[i]))) || !same(float64(fm32[i]), want(v32, float64(x32[i]*m32[i]))) {
			t.Fatalf("float32 x=%v: relu %v grad %v masked grad %v masked %v", x32[i], y32[i], g32[i], gm32[i], fm32[i])
		}
	}
}

// BenchmarkReLU32 is the forward ReLU over 1M normal values.
func BenchmarkReLU32(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	x, y := make([]float32, 1<<20), make([]float32, 1<<20)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	b.SetBytes(8 << 20)
	for i := 0; i < b.N; i++ {
		relu(x, y)
	}
}

// im2col and col2im against the definition on every small geometry:
// col[(ch,ki,kj)][oh,ow] = x[ch][oh*s-pad+ki][ow*s-pad+kj] (0 outside),
// and col2im sums the columns back onto the image.
func TestIm2colCol2imMatchTheDefinition(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for k := 1; k <= 7; k++ {
		for s := 1; s <= 3; s++ {
			for pad := 0; pad <= 3; pad++ {
				for _, hw := range [][2]int{{1, 1}, {3, 5}, {7, 4}, {9, 9}} {
					h, w := hw[0], hw[1]
					ho, wo := (h+2*pad-k)/s+1, (w+2*pad-k)/s+1
					if ho < 1 || wo < 1 {
						continue
					}
					g := convGeom{c: 2, h: h, w: w, k: k, s: s, pad: pad, ho: ho, wo: wo, cout: 1}
					x := make([]float64, g.c*h*w)
					for i := range x {
						x[i] = rng.NormFloat64()
					}
					col := make([]float64, g.colRows()*g.colLen())
					for i := range col {
						col[i] = math.NaN() // every entry must be written
					}
					im2col(g, x, col)
					img := make([]float64, len(x))
					col2im(g, col, img)
					want := make([]float64, len(x))
					for ch := 0; ch < g.c; ch++ {
						for ki := 0; ki < k; ki++ {
							for kj := 0; kj < k; kj++ {
								for oh := 0; oh < ho; oh++ {
									for ow := 0; ow < wo; ow++ {
										ih, iw := oh*s-pad+ki, ow*s-pad+kj
										v := 0.0
										if ih >= 0 && ih < h && iw >= 0 && iw < w {
											v = x[(ch*h+ih)*w+iw]
											want[(ch*h+ih)*w+iw] += v
										}
										if got := col[((ch*k+ki)*k+kj)*ho*wo+oh*wo+ow]; got != v {
											t.Fatalf("k%d s%d pad%d %dx%d: col[%d,%d,%d][%d,%d] = %v, want %v", k, s, pad, h, w, ch, ki, kj, oh, ow, got, v)
										}
									}
								}
							}
						}
					}
					for i := range img {
						if math.Abs(img[i]-want[i]) > 1e-12 {
							t.Fatalf("k%d s%d pad%d %dx%d: col2im[%d] = %v, want %v", k, s, pad, h, w, i, img[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestMaxPool2MatchesGeneral: the 2x2 stride-2 path picks the general
// loop's values and argmaxes, ties, NaNs and odd sizes included.
func TestMaxPool2MatchesGeneral(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, hw := range [][2]int{{4, 4}, {5, 7}, {2, 3}, {8, 6}} {
		h, w := hw[0], hw[1]
		ho, wo := h/2, w/2
		const planes = 3
		x := make([]float64, planes*h*w)
		for i := range x {
			x[i] = float64(rng.Intn(4)) // many ties
			if rng.Intn(9) == 0 {
				x[i] = math.NaN()
			}
		}
		fast := &maxPoolOp{k: 2, s: 2, outShp: []int{planes, ho, wo}, arg: make([]int32, planes*ho*wo)}
		gen := &maxPoolOp{k: 2, s: 2, outShp: []int{planes, ho, wo}, arg: make([]int32, planes*ho*wo)}
		yf, yg := make([]float64, planes*ho*wo), make([]float64, planes*ho*wo)
		maxPool(fast, x, yf, planes, h, w)
		maxPoolPlanes(gen, x, yg, 0, planes, h, w, ho, wo)
		for i := range yf {
			same := yf[i] == yg[i] || math.IsNaN(yf[i]) && math.IsNaN(yg[i])
			if !same || fast.arg[i] != gen.arg[i] {
				t.Fatalf("%dx%d output %d: %v at %d, general loop %v at %d", h, w, i, yf[i], fast.arg[i], yg[i], gen.arg[i])
			}
		}
	}
}

// TestConvInputGradAsConv: a stride-1 convolution's input gradient,
// computed as the convolution of dy with the flipped weights, matches the
// definition for every window and padding it applies to.
func TestConvInputGradAsConv(t *testing.T) {
	saved := minFullDX
	defer func() { minFullDX = saved }()
	minFullDX = 0 // the test's small images take the path too
	rng := rand.New(rand.NewSource(4))
	for k := 2; k <= 5; k++ {
		for pad := 0; pad < k; pad++ {
			for _, hw := range [][2]int{{5, 7}, {k, k + 1}} {
				h, w := hw[0], hw[1]
				ho, wo := h+2*pad-k+1, w+2*pad-k+1
				const c, out, batch = 2, 3, 3
				g := convGeom{c: c, h: h, w: w, k: k, s: 1, pad: pad, ho: ho, wo: wo, cout: out}
				if _, ok := g.fullGeom(); !ok {
					t.Fatalf("k%d pad%d: no full geometry", k, pad)
				}
				op := &convGradOp{fwd: newConv(g, false, []int{c, h, w}, []int{out, ho, wo}, &convScratch{}), wrt: 0}
				wt := make([]float64, out*c*k*k)
				dy := make([]float64, batch*out*ho*wo)
				for i := range wt {
					wt[i] = rng.NormFloat64()
				}
				for i := range dy {
					dy[i] = rng.NormFloat64()
				}
				dx := make([]float64, batch*c*h*w)
				convBackward(op, dy, wt, dx)
				for b := 0; b < batch; b++ {
					for ch := 0; ch < c; ch++ {
						for i := 0; i < h; i++ {
							for j := 0; j < w; j++ {
								want := 0.0
								for o := 0; o < out; o++ {
									for ki := 0; ki < k; ki++ {
										for kj := 0; kj < k; kj++ {
											oi, oj := i+pad-ki, j+pad-kj
											if oi >= 0 && oi < ho && oj >= 0 && oj < wo {
												want += wt[((o*c+ch)*k+ki)*k+kj] * dy[((b*out+o)*ho+oi)*wo+oj]
											}
										}
									}
								}
								if got := dx[((b*c+ch)*h+i)*w+j]; math.Abs(got-want) > 1e-12 {
									t.Fatalf("k%d pad%d %dx%d: dx[%d,%d,%d,%d] = %v, want %v", k, pad, h, w, b, ch, i, j, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestSliceAccessDoesNotAllocate: every Op reads its inputs through sl,
// so an allocation there is a few thousand per training step.
func TestSliceAccessDoesNotAllocate(t *testing.T) {
	v32 := tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(2, 3))
	v64 := tensor.New(tensor.Of(tensor.Float64), tensor.WithShape(2, 3))
	sl[float32](v32)[5] = 7
	if got := v32.Data().([]float32)[5]; got != 7 || len(sl[float64](v64)) != 6 {
		t.Fatalf("sl does not alias the tensor's data (%v)", got)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = sl[float32](v32), sl[float64](v64) }); n != 0 {
		t.Fatalf("%v allocations per access", n)
	}
}

// TestMaskSumDotXhat32: the one-pass masked sums of the fused
// BatchNorm-ReLU backward match masking, then summing.
func TestMaskSumDotXhat32(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, n := range []int{1, 2, 7, 64, 1001} {
		y, dy, x := make([]float32, n), make([]float32, n), make([]float32, n)
		for i := range y {
			y[i], dy[i], x[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
		}
		y[0] = float32(math.NaN())
		a, want := make([]float32, n), make([]float32, n)
		sum, dot := maskSumDotXhat(y, dy, a, x, 0.25, 1.5)
		maskInto(y, dy, want)
		wsum, wdot := sumDotXhat4(want, x, 0.25, 1.5)
		for i := range a {
			if a[i] != want[i] {
				t.Fatalf("n=%d: masked[%d] = %v, want %v", n, i, a[i], want[i])
			}
		}
		if math.Abs(sum-wsum) > 1e-9*(1+math.Abs(wsum)) || math.Abs(dot-wdot) > 1e-9*(1+math.Abs(wdot)) {
			t.Fatalf("n=%d: sums %v %v, want %v %v", n, sum, dot, wsum, wdot)
		}
	}
}

// TestNormaliseReLU32: the one-loop BatchNorm-ReLU forward gives the
// normalisation followed by the ReLU bit for bit.
func TestNormaliseReLU32(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	x := make([]float32, 999)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	x[3], x[4] = float32(math.NaN()), float32(math.Inf(-1))
	const m, s, g, bt = 0.125, 1.75, -0.5, 0.25
	got, want := make([]float32, len(x)), make([]float32, len(x))
	normaliseReLU32(x, got, m, s, g, bt)
	for i, v := range x {
		want[i] = g*((v-m)*s) + bt
	}
	reluBits32(want, want)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("y[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}

// TestStride1ConvEdgeShapes: stride-1 convolutions (im2colSame where the
// padding keeps the width) and their input gradients (fullGeom from
// minFullDX, W^T@dy below it) match the definition on shapes the model
// tests do not reach: 1xN and Nx1 maps, one channel, one sample, 1x1 to
// 7x7 windows with padding 0-3, grouped samples, and kernels split over
// goroutines (minChunk 1).
func TestStride1ConvEdgeShapes(t *testing.T) {
	saved := minFullDX
	defer func() { minFullDX = saved }()
	rng := rand.New(rand.NewSource(9))
	savedC := minChunk
	defer func() { minChunk = savedC }()
	for _, mf := range []int{0, 1 << 30, -1} {
		minFullDX = max(mf, 0)
		if mf < 0 {
			minChunk = 1
		}
		for _, k := range []int{1, 2, 3, 5, 7} {
			for pad := 0; pad <= 3; pad++ {
				for _, hw := range [][2]int{{1, 1}, {1, 9}, {9, 1}, {2, 3}, {8, 8}, {3, 16}} {
					for _, cb := range [][3]int{{1, 1, 1}, {3, 2, 4}, {1, 5, 7}} {
						c, out, batch := cb[0], cb[1], cb[2]
						h, w := hw[0], hw[1]
						ho, wo := h+2*pad-k+1, w+2*pad-k+1
						if ho < 1 || wo < 1 {
							continue
						}
						g := convGeom{c: c, h: h, w: w, k: k, s: 1, pad: pad, ho: ho, wo: wo, cout: out}
						x := make([]float64, batch*c*h*w)
						wt := make([]float64, out*c*k*k)
						dy := make([]float64, batch*out*ho*wo)
						for _, v := range [][]float64{x, wt, dy} {
							for i := range v {
								v[i] = rng.NormFloat64()
							}
						}
						y := make([]float64, len(dy))
						for i := range y {
							y[i] = math.NaN()
						}
						conv(g, &convScratch{}, x, wt, nil, y)
						for b := 0; b < batch; b++ {
							for o := 0; o < out; o++ {
								for i := 0; i < ho; i++ {
									for j := 0; j < wo; j++ {
										want := 0.0
										for ch := 0; ch < c; ch++ {
											for ki := 0; ki < k; ki++ {
												for kj := 0; kj < k; kj++ {
													ih, iw := i-pad+ki, j-pad+kj
													if ih >= 0 && ih < h && iw >= 0 && iw < w {
														want += wt[((o*c+ch)*k+ki)*k+kj] * x[((b*c+ch)*h+ih)*w+iw]
													}
												}
											}
										}
										if got := y[((b*out+o)*ho+i)*wo+j]; !(math.Abs(got-want) < 1e-9) {
											t.Fatalf("fwd k%d p%d %dx%d c%d o%d b%d: %v want %v", k, pad, h, w, c, out, batch, got, want)
										}
									}
								}
							}
						}
						if _, ok := g.fullGeom(); !ok {
							continue
						}
						op := &convGradOp{fwd: newConv(g, false, []int{c, h, w}, []int{out, ho, wo}, &convScratch{}), wrt: 0}
						dx := make([]float64, len(x))
						for i := range dx {
							dx[i] = math.NaN()
						}
						convBackward(op, dy, wt, dx)
						for b := 0; b < batch; b++ {
							for ch := 0; ch < c; ch++ {
								for i := 0; i < h; i++ {
									for j := 0; j < w; j++ {
										want := 0.0
										for o := 0; o < out; o++ {
											for ki := 0; ki < k; ki++ {
												for kj := 0; kj < k; kj++ {
													oi, oj := i+pad-ki, j+pad-kj
													if oi >= 0 && oi < ho && oj >= 0 && oj < wo {
														want += wt[((o*c+ch)*k+ki)*k+kj] * dy[((b*out+o)*ho+oi)*wo+oj]
													}
												}
											}
										}
										if got := dx[((b*c+ch)*h+i)*w+j]; !(math.Abs(got-want) < 1e-9) {
											t.Fatalf("dx mf%d k%d p%d %dx%d c%d o%d b%d: %v want %v", mf, k, pad, h, w, c, out, batch, got, want)
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
}
