package eth

import (
	"image"
	"image/draw"
	"math"
)

// toRGB packs an image into row-major RGB bytes (the crop's layout).
func toRGB(img image.Image) []uint8 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := make([]uint8, w*h*3)
	switch m := img.(type) {
	case *image.YCbCr: // what JPEGs decode to: convert without an RGBA copy
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := m.YOffset(b.Min.X+x, b.Min.Y+y)
				ci := m.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := ycbcrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				o := (y*w + x) * 3
				out[o], out[o+1], out[o+2] = r, g, bl
			}
		}
		return out
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := m.Pix[y*m.Stride+x]
				o := (y*w + x) * 3
				out[o], out[o+1], out[o+2] = v, v, v
			}
		}
		return out
	}
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	for i := 0; i < w*h; i++ {
		copy(out[3*i:3*i+3], rgba.Pix[4*i:4*i+3])
	}
	return out
}

func ycbcrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	// image/color.YCbCrToRGB, inlined for speed on whole frames.
	yy := int32(y) * 0x10101
	cb1 := int32(cb) - 128
	cr1 := int32(cr) - 128
	r := yy + 91881*cr1
	g := yy - 22554*cb1 - 46802*cr1
	b := yy + 116130*cb1
	return clamp16(r), clamp16(g), clamp16(b)
}

func clamp16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31))
}

// WarpBilinear fills dst (size x size RGB) by sampling src (w x h RGB)
// bilinearly at m(x, y) for every crop pixel (x, y); m maps crop pixels to
// source pixels. Samples outside the source are black, and pixels within
// one pixel of the border blend towards black.
func WarpBilinear(dst []uint8, size int, src []uint8, w, h int, m [2][3]float64) {
	for y := 0; y < size; y++ {
		fy := float64(y)
		for x := 0; x < size; x++ {
			fx := float64(x)
			sx := m[0][0]*fx + m[0][1]*fy + m[0][2]
			sy := m[1][0]*fx + m[1][1]*fy + m[1][2]
			o := (y*size + x) * 3
			if !(sx > -1 && sy > -1 && sx < float64(w) && sy < float64(h)) {
				dst[o], dst[o+1], dst[o+2] = 0, 0, 0
				continue
			}
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			ax, ay := sx-float64(x0), sy-float64(y0)
			for c := 0; c < 3; c++ {
				v00 := at(src, w, h, x0, y0, c)
				v10 := at(src, w, h, x0+1, y0, c)
				v01 := at(src, w, h, x0, y0+1, c)
				v11 := at(src, w, h, x0+1, y0+1, c)
				v := (1-ay)*((1-ax)*v00+ax*v10) + ay*((1-ax)*v01+ax*v11)
				dst[o+c] = uint8(math.Min(255, v+0.5))
			}
		}
	}
}

func at(src []uint8, w, h, x, y, c int) float64 {
	if x < 0 || y < 0 || x >= w || y >= h {
		return 0
	}
	return float64(src[(y*w+x)*3+c])
}
