package pose

import (
	"math"
	"testing"
)

func TestRenderGaussianValues(t *testing.T) {
	w, h := 64, 48
	hm := make([]float32, w*h)
	for i := range hm {
		hm[i] = 7 // must be overwritten
	}
	RenderGaussian(hm, w, h, 20.5, 10.25, 2)
	at := func(i, j int) float64 { return float64(hm[j*w+i]) }
	want := math.Exp(-(0.25 + 0.0625) / 8)
	if !near(at(20, 10), want, 1e-6) {
		t.Fatalf("value at (20,10) = %v, want %v", at(20, 10), want)
	}
	// 3 sigma = 6 px: (26, 10) is 5.5 px away, (27, 10) 6.5 px away.
	if at(26, 10) == 0 || at(27, 10) != 0 || at(0, 0) != 0 {
		t.Fatalf("support: %v %v %v", at(26, 10), at(27, 10), at(0, 0))
	}
	// A joint far outside the map gives an all-zero target.
	RenderGaussian(hm, w, h, -50, 10, 2)
	for _, v := range hm {
		if v != 0 {
			t.Fatal("joint outside the map left non-zero values")
		}
	}
}

func TestDecodeRenderedGaussianWithinQuarterPixel(t *testing.T) {
	w, h := 64, 64
	hm := make([]float32, w*h)
	for _, sigma := range []float64{1, 2, 3} {
		for _, xy := range []Vec2{{10.3, 7.8}, {31.5, 31.49}, {50.1, 20.9}, {5.74, 60.26}, {33, 12}} {
			RenderGaussian(hm, w, h, xy[0], xy[1], sigma)
			p, peak := DecodeHeatmap(hm, w, h)
			if math.Abs(p[0]-xy[0]) > 0.25+1e-9 || math.Abs(p[1]-xy[1]) > 0.25+1e-9 {
				t.Errorf("sigma %v: rendered at %v, decoded %v", sigma, xy, p)
			}
			if peak <= 0 || peak > 1 {
				t.Errorf("peak %v", peak)
			}
		}
	}
	// At x = 10.3 the argmax is 10 and the shift moves it to 10.25.
	RenderGaussian(hm, w, h, 10.3, 7.8, 2)
	if p, _ := DecodeHeatmap(hm, w, h); p != (Vec2{10.25, 7.75}) {
		t.Fatalf("decoded %v, want (10.25, 7.75)", p)
	}
}

func TestDecodeShiftLogic(t *testing.T) {
	w, h := 8, 6
	hm := make([]float32, w*h)
	set := func(i, j int, v float32) { hm[j*w+i] = v }
	set(4, 3, 1)
	set(5, 3, 0.5) // right higher than left
	set(4, 2, 0.4) // up higher than down
	p, peak := DecodeHeatmap(hm, w, h)
	if p != (Vec2{4.25, 2.75}) || peak != 1 {
		t.Fatalf("decoded %v (peak %v), want (4.25, 2.75)", p, peak)
	}
	clear(hm)
	set(4, 3, 1)
	set(3, 3, 0.2)
	set(4, 4, 0.2)
	set(4, 2, 0.2) // equal vertical neighbours: no y shift
	if p, _ = DecodeHeatmap(hm, w, h); p != (Vec2{3.75, 3}) {
		t.Fatalf("decoded %v, want (3.75, 3)", p)
	}
	clear(hm)
	set(0, 5, 1) // corner: no neighbours on one side, no shift
	set(1, 5, 0.9)
	if p, _ = DecodeHeatmap(hm, w, h); p != (Vec2{0, 5}) {
		t.Fatalf("decoded %v, want (0, 5)", p)
	}
	// Stacked maps decode independently.
	maps := make([]float32, 2*w*h)
	RenderGaussian(maps[:w*h], w, h, 2, 2, 1)
	RenderGaussian(maps[w*h:], w, h, 6, 4, 1)
	dst, conf := make([]Vec2, 2), make([]float32, 2)
	DecodeHeatmaps(maps, 2, w, h, dst, conf)
	if dst[0] != (Vec2{2, 2}) || dst[1] != (Vec2{6, 4}) || conf[0] != 1 || conf[1] != 1 {
		t.Fatalf("stacked decode %v %v", dst, conf)
	}
}

func TestHeatmapToImageInvertsCrop(t *testing.T) {
	// Crop affine: 256 px crop of a box of 400 px centred on (500, 420),
	// rotated by 30 degrees (as datasets.CropTransform builds it).
	k := 256.0 / 400
	s, c := math.Sincos(30 * math.Pi / 180)
	a := [2][3]float64{{k * c, k * s, 0}, {-k * s, k * c, 0}}
	a[0][2] = 128 - a[0][0]*500 - a[0][1]*420
	a[1][2] = 128 - a[1][0]*500 - a[1][1]*420
	img := Vec2{523.7, 388.1}
	crop := Vec2{a[0][0]*img[0] + a[0][1]*img[1] + a[0][2], a[1][0]*img[0] + a[1][1]*img[1] + a[1][2]}
	stride := 256.0 / 64
	hmPt := Vec2{crop[0] / stride, crop[1] / stride}
	back := HeatmapToImage(hmPt, stride, a)
	if math.Hypot(back[0]-img[0], back[1]-img[1]) > 1e-9 {
		t.Fatalf("heatmap -> image %v, want %v", back, img)
	}
	// The crop centre comes back to the box centre.
	if ctr := HeatmapToImage(Vec2{32, 32}, stride, a); math.Hypot(ctr[0]-500, ctr[1]-420) > 1e-9 {
		t.Fatalf("centre maps to %v", ctr)
	}
}

func BenchmarkRenderDecode64(b *testing.B) {
	hm := make([]float32, 64*64)
	for b.Loop() {
		RenderGaussian(hm, 64, 64, 30.3, 20.7, 2)
		DecodeHeatmap(hm, 64, 64)
	}
}
