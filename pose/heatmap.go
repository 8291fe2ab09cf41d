package pose

import "math"

// Heatmaps are row-major float32 images, one per joint. A heatmap pixel
// (i, j) sits at coordinate (i, j): heatmap coordinates times the stride
// (crop size / heatmap size) give crop pixels, the convention of Simple
// Baselines and Stacked Hourglass, and RenderGaussian and DecodeHeatmap use
// the same one, so a rendered target decodes to where it was drawn.

// RenderGaussian overwrites dst (w*h, row-major) with the training target
// for a joint at (x, y) heatmap px: exp(-d^2 / (2 sigma^2)) within 3 sigma
// of the joint, 0 elsewhere (a joint more than 3 sigma outside the map
// gives an all-zero map).
func RenderGaussian(dst []float32, w, h int, x, y, sigma float64) {
	if len(dst) < w*h {
		panic("pose: RenderGaussian: dst smaller than w*h")
	}
	clear(dst[:w*h])
	if !(sigma > 0) || math.IsNaN(x) || math.IsNaN(y) {
		return
	}
	r := 3 * sigma
	x0, x1 := max(0, int(math.Ceil(x-r))), min(w-1, int(math.Floor(x+r)))
	y0, y1 := max(0, int(math.Ceil(y-r))), min(h-1, int(math.Floor(y+r)))
	inv := 1 / (2 * sigma * sigma)
	for j := y0; j <= y1; j++ {
		dy := float64(j) - y
		row := dst[j*w : (j+1)*w]
		for i := x0; i <= x1; i++ {
			dx := float64(i) - x
			row[i] = float32(math.Exp(-(dx*dx + dy*dy) * inv))
		}
	}
}

// DecodeHeatmap finds a joint in one heatmap (w*h, row-major): the argmax,
// shifted a quarter pixel towards the higher neighbour in x and in y
// (where both neighbours exist). It returns the position in heatmap px
// and the peak value (the joint's confidence).
func DecodeHeatmap(hm []float32, w, h int) (p Vec2, peak float32) {
	best := 0
	peak = hm[0]
	for k, v := range hm[:w*h] {
		if v > peak {
			peak, best = v, k
		}
	}
	i, j := best%w, best/w
	x, y := float64(i), float64(j)
	if i > 0 && i < w-1 {
		x += quarterShift(hm[best+1], hm[best-1])
	}
	if j > 0 && j < h-1 {
		y += quarterShift(hm[best+w], hm[best-w])
	}
	return Vec2{x, y}, peak
}

func quarterShift(next, prev float32) float64 {
	switch {
	case next > prev:
		return 0.25
	case next < prev:
		return -0.25
	}
	return 0
}

// DecodeHeatmaps decodes n stacked heatmaps (n*w*h) into dst and conf,
// which must hold n entries each.
func DecodeHeatmaps(hms []float32, n, w, h int, dst []Vec2, conf []float32) {
	for k := 0; k < n; k++ {
		dst[k], conf[k] = DecodeHeatmap(hms[k*w*h:(k+1)*w*h], w, h)
	}
}

// HeatmapToImage maps a point in heatmap px to original-image px: heatmap
// px times stride (crop size / heatmap size) gives crop px, and the inverse
// of the crop affine a (image px -> crop px, datasets.Crop.A) gives image
// px.
func HeatmapToImage(p Vec2, stride float64, a [2][3]float64) Vec2 {
	return ApplyAffine(InvertAffine(a), Vec2{p[0] * stride, p[1] * stride})
}

// InvertAffine inverts a 2x3 affine map (crop pixels <-> image pixels).
func InvertAffine(a [2][3]float64) [2][3]float64 {
	det := a[0][0]*a[1][1] - a[0][1]*a[1][0]
	i00, i01 := a[1][1]/det, -a[0][1]/det
	i10, i11 := -a[1][0]/det, a[0][0]/det
	return [2][3]float64{
		{i00, i01, -(i00*a[0][2] + i01*a[1][2])},
		{i10, i11, -(i10*a[0][2] + i11*a[1][2])},
	}
}

// ApplyAffine maps a point with a 2x3 affine map.
func ApplyAffine(a [2][3]float64, p Vec2) Vec2 {
	return Vec2{a[0][0]*p[0] + a[0][1]*p[1] + a[0][2], a[1][0]*p[0] + a[1][1]*p[1] + a[1][2]}
}
