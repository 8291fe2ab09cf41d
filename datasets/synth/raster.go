package synth

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync"

	"poselab/datasets"
	"poselab/pose"
)

// renderOpts switch off the camera effects (tests compare exact colours).
type renderOpts struct {
	noBlur, noNoise bool
}

// renderer holds the per-goroutine scratch buffers; pooled so that a crop
// costs one allocation (its pixels).
type renderer struct {
	zbuf []float32
	tmp  []uint16
	bg   []uint8
	ps   person
}

var renderers = sync.Pool{New: func() any { return &renderer{} }}

// scene is everything one image shows.
type scene struct {
	cam    *pose.Camera
	joints *pose.Pose3D // camera coordinates, mm
	body   *body
	room   *room
	light  light
	key    uint64
	decor  uint32 // which wall panels carry doors and posters
}

// render draws sc into out (out.Size and out.A set by the caller).
func render(out *datasets.Crop, sc *scene, opts renderOpts) {
	rd := renderers.Get().(*renderer)
	defer renderers.Put(rd)
	n := out.Size * out.Size
	if cap(out.Pix) < 3*n {
		out.Pix = make([]uint8, 3*n)
	}
	out.Pix = out.Pix[:3*n]
	if cap(rd.zbuf) < n {
		rd.zbuf = make([]float32, n)
		rd.tmp = make([]uint16, 3*n)
	}
	zb := rd.zbuf[:n]
	for i := range zb {
		zb[i] = math.MaxFloat32
	}
	pelvis := sc.cam.CamToWorld(sc.joints[pose.Hip])
	half := bgSize(out.Size)
	if cap(rd.bg) < 3*half*half {
		rd.bg = make([]uint8, 3*half*half)
	}
	drawBackground(out, rd.bg[:3*half*half], sc.cam, sc.room, sc.light, pelvis, sc.decor)
	// Pixel x shows crop coordinate x, the convention of the labels, the
	// loaders' crops and the flip test (x -> Size - x). The rasteriser
	// samples pixel x at x+0.5, the centre of [x, x+1): it draws through
	// the crop affine moved by half a pixel, else a joint labelled at u
	// would be drawn half a pixel up and left of pixel round(u).
	da := out.A
	da[0][2] += 0.5
	da[1][2] += 0.5
	buildPerson(&rd.ps, sc.joints, sc.cam, da, sc.body, sc.light)
	// Nearest parts first: the z-test then rejects hidden pixels before
	// they are shaded. The stable sort keeps ties in build order, so the
	// result does not depend on the sort.
	sort.SliceStable(rd.ps.prims, func(i, j int) bool {
		a, b := &rd.ps.prims[i], &rd.ps.prims[j]
		return min(a.za, a.zb) < min(b.za, b.zb)
	})
	box := [4]int{out.Size, out.Size, -1, -1} // drawn area: x0, y0, x1, y1
	for i := range rd.ps.prims {
		rasterise(out, zb, &rd.ps, &rd.ps.prims[i], &box)
	}
	if !opts.noBlur && box[2] >= 0 {
		// The background is smooth already (upsampled); soften the person.
		x0, y0 := max(box[0]-1, 0), max(box[1]-1, 0)
		x1, y1 := min(box[2]+1, out.Size-1), min(box[3]+1, out.Size-1)
		blur121(out.Pix, rd.tmp[:3*n], out.Size, x0, y0, x1, y1)
		if sc.key>>56&3 == 0 { // a quarter of the images are softer
			blur121(out.Pix, rd.tmp[:3*n], out.Size, x0, y0, x1, y1)
		}
	}
	if !opts.noNoise {
		addNoise(out.Pix, sc.key, 3+int(sc.key>>60)%5)
	}
}

func toByte(c float32) uint8 {
	if c <= 0 {
		return 0
	}
	if c >= 1 {
		return 255
	}
	return uint8(c*255 + 0.5)
}

// rasterise draws one capsule with z-buffering and shading. It visits only
// the rows of its bounding box and, in each row, only the span where the
// capsule's bounding rectangle lies.
func rasterise(out *datasets.Crop, zb []float32, ps *person, c *prim, box *[4]int) {
	size := out.Size
	rmax := max(c.ra, c.rb)
	x0 := int(math.Floor(float64(min(c.ax, c.bx) - rmax)))
	x1 := int(math.Ceil(float64(max(c.ax, c.bx) + rmax)))
	y0 := int(math.Floor(float64(min(c.ay, c.by) - rmax)))
	y1 := int(math.Ceil(float64(max(c.ay, c.by) + rmax)))
	x0, y0 = max(x0, 0), max(y0, 0)
	x1, y1 = min(x1, size-1), min(y1, size-1)
	if x0 > x1 || y0 > y1 {
		return
	}
	box[0], box[1] = min(box[0], x0), min(box[1], y0)
	box[2], box[3] = max(box[2], x1), max(box[3], y1)
	dx, dy := c.bx-c.ax, c.by-c.ay
	l2 := dx*dx + dy*dy
	var il2 float32
	if l2 > 1e-12 {
		il2 = 1 / l2
	}
	l := float32(math.Sqrt(float64(l2)))
	dr := c.rb - c.ra
	dz := c.zb - c.za
	drz := c.rzb - c.rza
	m := &ps.mats[c.mat]
	lx, ly, lz := ps.light[0], ps.light[1], ps.light[2]
	// Half vector between the light and the view direction (0, 0, -1).
	hx, hy, hz := lx, ly, lz-1
	if hn := float32(math.Sqrt(float64(hx*hx + hy*hy + hz*hz))); hn > 0 {
		hx, hy, hz = hx/hn, hy/hn, hz/hn
	}
	amb, dif := ps.ambient, ps.diffuse
	tint := ps.tint
	var invStripe float32
	if m.stripe > 0 {
		invStripe = 1 / m.stripe
	}
	for y := y0; y <= y1; y++ {
		py := float32(y) + 0.5
		xs, xe := float32(x0), float32(x1)+1
		// Span of the rectangle around the segment, widened by rmax.
		if l > 1e-3 {
			ux, uy := dx/l, dy/l
			// |(p-a) x u| <= rmax: a band of lines parallel to the axis.
			if math.Abs(float64(uy)) > 1e-4 {
				// (px-ax)*uy - (py-ay)*ux in [-rmax, rmax]
				base := (py - c.ay) * ux
				e0, e1 := (base-rmax)/uy+c.ax, (base+rmax)/uy+c.ax
				if e0 > e1 {
					e0, e1 = e1, e0
				}
				xs, xe = max(xs, e0), min(xe, e1)
			}
			// (p-a).u in [-rmax, l+rmax]: the band across the axis.
			if math.Abs(float64(ux)) > 1e-4 {
				base := (py - c.ay) * uy
				e0, e1 := (-rmax-base)/ux+c.ax, (l+rmax-base)/ux+c.ax
				if e0 > e1 {
					e0, e1 = e1, e0
				}
				xs, xe = max(xs, e0), min(xe, e1)
			}
		}
		xa, xb := max(int(xs-1), x0), min(int(xe+1), x1)
		row := y * size
		for x := xa; x <= xb; x++ {
			px := float32(x) + 0.5
			t := ((px-c.ax)*dx + (py-c.ay)*dy) * il2
			if t < 0 {
				t = 0
			} else if t > 1 {
				t = 1
			}
			ox, oy := px-(c.ax+t*dx), py-(c.ay+t*dy)
			r := c.ra + t*dr
			d2 := ox*ox + oy*oy
			if d2 >= r*r {
				continue
			}
			ir := 1 / r
			nx, ny := ox*ir, oy*ir
			nz := float32(math.Sqrt(float64(max(1-nx*nx-ny*ny, 0))))
			z := c.za + t*dz - (c.rza+t*drz)*nz
			idx := row + x
			if z >= zb[idx] {
				continue
			}
			zb[idx] = z
			// Normal (nx, ny, -nz) in screen coordinates.
			ndl := nx*lx + ny*ly - nz*lz
			sh := amb + dif*max(ndl, 0)
			col := m.base
			switch {
			case c.mat == matHead:
				up := nx*ps.headUp[0] + ny*ps.headUp[1] - nz*ps.headUp[2]
				fw := nx*ps.headFwd[0] + ny*ps.headFwd[1] - nz*ps.headFwd[2]
				if up > 0.3 || (fw < -0.2 && up > -0.6) {
					col = m.alt
				}
			case m.pattern == 1:
				if int(t*c.len3*invStripe)&1 == 1 {
					col = m.alt
				}
			case m.pattern == 2:
				if (int(t*c.len3*invStripe)+int(abs32(nx)*3))&1 == 1 {
					col = m.alt
				}
			}
			spec := float32(0)
			if m.spec > 0 {
				ndh := max(nx*hx+ny*hy-nz*hz, 0)
				ndh *= ndh
				ndh *= ndh
				ndh *= ndh
				spec = m.spec * ndh
			}
			o := 3 * idx
			out.Pix[o] = toByte(col[0]*sh*tint[0] + spec)
			out.Pix[o+1] = toByte(col[1]*sh*tint[1] + spec)
			out.Pix[o+2] = toByte(col[2]*sh*tint[2] + spec)
		}
	}
}

// hash32 is a small integer hash for textures and noise.
func hash32(x uint32) uint32 {
	x ^= x >> 16
	x *= 0x7feb352d
	x ^= x >> 15
	x *= 0x846ca68b
	x ^= x >> 16
	return x
}

// drawBackground fills the crop with the room seen through the camera.
// The world ray of a crop pixel is an affine function of its coordinates
// (lens distortion ignored for the background), so each pixel costs a few
// additions and the intersections with the floor and walls.
//
// It renders at half resolution and upsamples: a background slightly out
// of focus, as behind a person in a photo, for a quarter of the cost.
func drawBackground(out *datasets.Crop, bg []uint8, cam *pose.Camera, rm *room, li light, pelvis pose.Vec3, decor uint32) {
	half := bgSize(out.Size)
	// Half-resolution pixel X shows crop coordinate 2X, full-resolution
	// pixel 2X (half-resolution coordinates are crop coordinates / 2):
	// the grid is its own mirror image under a flip (x -> Size - x), so
	// a flipped crop's background is the mirrored background.
	a := out.A
	ai := datasets.Invert([2][3]float64{{a[0][0] / 2, a[0][1] / 2, a[0][2] / 2}, {a[1][0] / 2, a[1][1] / 2, a[1][2] / 2}})
	size := half
	rt := func(v pose.Vec3) pose.Vec3 { // camera -> world direction (R transposed)
		return pose.Vec3{
			cam.R[0][0]*v[0] + cam.R[1][0]*v[1] + cam.R[2][0]*v[2],
			cam.R[0][1]*v[0] + cam.R[1][1]*v[1] + cam.R[2][1]*v[2],
			cam.R[0][2]*v[0] + cam.R[1][2]*v[1] + cam.R[2][2]*v[2],
		}
	}
	d0 := rt(pose.Vec3{(ai[0][2] - cam.Cx) / cam.Fx, (ai[1][2] - cam.Cy) / cam.Fy, 1})
	dxv := rt(pose.Vec3{ai[0][0] / cam.Fx, ai[1][0] / cam.Fy, 0})
	dyv := rt(pose.Vec3{ai[0][1] / cam.Fx, ai[1][1] / cam.Fy, 0})
	t0 := cam.T
	bright := li.ambient + 0.6*li.diffuse
	tint := li.tint
	invTile := 1 / rm.tile
	invPanel := 1 / rm.panel
	shadowR2 := 450.0 * 450.0
	for y := 0; y < size; y++ {
		fy := float64(y)
		for x := 0; x < size; x++ {
			fx := float64(x)
			dx := d0[0] + fx*dxv[0] + fy*dyv[0]
			dy := d0[1] + fx*dxv[1] + fy*dyv[1]
			dz := d0[2] + fx*dxv[2] + fy*dyv[2]
			t := math.Inf(1)
			surf := 0 // 0 floor, 1 ceiling, 2.. walls
			if dz < 0 {
				t = -t0[2] / dz
			} else if dz > 0 {
				t, surf = (rm.h-t0[2])/dz, 1
			}
			hx, hy := t0[0]+t*dx, t0[1]+t*dy
			inside := hx > rm.x0 && hx < rm.x1 && hy > rm.y0 && hy < rm.y1 // floor or ceiling, no wall in front
			var wx float64
			face := 0
			if inside {
				wx = math.Inf(1)
			} else if dx > 0 {
				wx, face = (rm.x1-t0[0])/dx, 0
			} else if dx < 0 {
				wx, face = (rm.x0-t0[0])/dx, 1
			} else {
				wx = math.Inf(1)
			}
			if wx < t {
				t, surf = wx, 2+face
			}
			var wy float64
			if inside {
				wy = math.Inf(1)
			} else if dy > 0 {
				wy, face = (rm.y1-t0[1])/dy, 2
			} else if dy < 0 {
				wy, face = (rm.y0-t0[1])/dy, 3
			} else {
				wy = math.Inf(1)
			}
			if wy < t {
				t, surf = wy, 2+face
			}
			px, py, pz := t0[0]+t*dx, t0[1]+t*dy, t0[2]+t*dz
			if rm.outdoor && surf >= 2 && pz > rm.wallTop {
				surf = 1 // above the buildings: sky
			}
			var col rgb
			f := bright
			switch surf {
			case 0:
				u, v := px*invTile+1e5, py*invTile+1e5
				iu, iv := int(u), int(v)
				if (iu+iv)&1 == 0 {
					col = rm.floorA
				} else {
					col = rm.floorB
				}
				f *= 0.92 + 0.08*float32(hash32(uint32(iu)*7919+uint32(iv)+decor)&255)/255
				sx, sy := px-pelvis[0], py-pelvis[1]
				if d2 := sx*sx + sy*sy; d2 < shadowR2 {
					f *= float32(0.45 + 0.55*d2/shadowR2)
				}
			case 1:
				if rm.outdoor {
					l := math.Sqrt(dx*dx + dy*dy + dz*dz)
					s := float32(min(dz/l*2.5, 1))
					for i := range col {
						col[i] = rm.skyLo[i] + s*(rm.skyHi[i]-rm.skyLo[i])
					}
					f = 0.6 + 0.5*li.diffuse
				} else {
					col = rm.ceil
					if int(px*0.0008+1e5)%2 == 0 && int(py*0.0008+1e5)%3 == 0 {
						col = rgb{1, 1, 0.95}
					}
				}
			default:
				face := surf - 2
				s := py
				if face >= 2 {
					s = px
				}
				u := s*invPanel + 1e5
				iu := int(u)
				fu := float32(u - float64(iu))
				hsh := hash32(uint32(iu)*31 + uint32(face) + decor)
				col = rm.walls[face]
				f *= 0.9 + 0.1*float32(hsh&255)/255
				switch {
				case rm.outdoor:
					wv := pz*0.00033 + 1e5
					fv := float32(wv - float64(int(wv)))
					if fu > 0.25 && fu < 0.75 && fv > 0.35 && fv < 0.8 && pz > 600 {
						col = rm.door
					}
				case pz < 110 || (pz > 900 && pz < 940):
					col = rm.trim
				case hsh%7 == 0 && pz < 2100 && fu > 0.15 && fu < 0.85:
					col = rm.door
				case hsh%5 == 1 && pz > 1250 && pz < 1900 && fu > 0.25 && fu < 0.75:
					h2 := hash32(hsh)
					col = rgb{float32(h2&255) / 255, float32(h2>>8&255) / 255, float32(h2>>16&255) / 255}
				}
			}
			o := 3 * (y*size + x)
			bg[o] = toByte(col[0] * f * tint[0])
			bg[o+1] = toByte(col[1] * f * tint[1])
			bg[o+2] = toByte(col[2] * f * tint[2])
		}
	}
	upsample2(out.Pix, out.Size, bg, half)
}

// bgSize is the side of the half-resolution background of a crop of
// side size: samples at crop coordinates 0, 2, ..., up to the first even
// coordinate at or past the last pixel.
func bgSize(size int) int { return size/2 + 1 }

// upsample2 doubles the half-resolution background bilinearly: output
// pixel x is source pixel x/2 when x is even, else the mean of source
// pixels (x-1)/2 and (x+1)/2; rows the same way. Integer arithmetic.
func upsample2(dst []uint8, size int, src []uint8, half int) {
	var buf [3 * 2048]uint16
	w := 3 * half
	for y := 0; y < size; y++ {
		y0 := y / 2
		y1 := min(y0+y&1, half-1)
		r0, r1 := src[w*y0:w*y0+w], src[w*y1:w*y1+w]
		t := buf[:w] // the row, times 2
		for i := range t {
			t[i] = uint16(r0[i]) + uint16(r1[i])
		}
		drow := dst[3*y*size : 3*(y+1)*size]
		for x := 0; x < size; x++ {
			X := x / 2
			X1 := min(X+x&1, half-1)
			for c := 0; c < 3; c++ {
				drow[3*x+c] = uint8((uint32(t[3*X+c]) + uint32(t[3*X1+c]) + 2) >> 2)
			}
		}
	}
}

// blur121 applies the separable [1 2 1]/4 filter: the softness of a real
// lens and of JPEG, in integer arithmetic.
func blur121(pix []uint8, tmp []uint16, size, x0, y0, x1, y1 int) {
	stride := 3 * size
	lo, hi := 3*x0, 3*x1+2
	for y := max(y0-1, 0); y <= min(y1+1, size-1); y++ {
		row := pix[y*stride : (y+1)*stride]
		trow := tmp[y*stride : (y+1)*stride]
		for x := lo; x <= hi; x++ {
			l, r := x-3, x+3
			if l < 0 {
				l = x
			}
			if r >= stride {
				r = x
			}
			trow[x] = uint16(row[l]) + 2*uint16(row[x]) + uint16(row[r])
		}
	}
	for y := y0; y <= y1; y++ {
		u, d := max(y-1, 0), min(y+1, size-1)
		tu, tc, td := tmp[u*stride:(u+1)*stride], tmp[y*stride:(y+1)*stride], tmp[d*stride:(d+1)*stride]
		row := pix[y*stride : (y+1)*stride]
		for x := lo; x <= hi; x++ {
			row[x] = uint8((uint32(tu[x]) + 2*uint32(tc[x]) + uint32(td[x]) + 8) >> 4)
		}
	}
}

// noiseTable holds random bytes; an image takes a window of it that starts
// at a key-dependent offset, which costs a lookup per byte.
var noiseTable = func() *[1 << 18]uint8 {
	var t [1 << 18]uint8
	r := rand.New(rand.NewPCG(0x5eed, 0x401e))
	for i := range t {
		t[i] = uint8(r.Uint32())
	}
	return &t
}()

// addNoise adds sensor noise of amplitude amp grey levels, the same for a
// given key on every machine.
func addNoise(pix []uint8, key uint64, amp int) {
	var off [256]int16 // random byte -> offset in [-amp, amp]
	for b := range off {
		off[b] = int16(b*(2*amp+1)>>8 - amp)
	}
	if len(pix) <= len(noiseTable) {
		start := int(key>>20) % (len(noiseTable) - len(pix) + 1)
		nt := noiseTable[start : start+len(pix)]
		for i, p := range pix {
			pix[i] = uint8(min(max(int16(p)+off[nt[i]], 0), 255))
		}
		return
	}
	const mask = len(noiseTable) - 1 // very large crops: wrap around
	start := int(key>>20) & mask
	for i := range pix {
		v := int16(pix[i]) + off[noiseTable[(start+i)&mask]]
		pix[i] = uint8(min(max(v, 0), 255))
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
