package synth

import (
	"math"

	"poselab/datasets"
	"poselab/pose"
)

// Materials of a person's body parts.
const (
	matSkin = iota
	matHead // skin with hair on the crown and the back
	matShirt
	matTrousers
	matShoes
	matEye
	matSeat
	numMats
)

// material is a surface colour with an optional pattern along the part.
type material struct {
	base, alt rgb
	pattern   int     // 0 plain, 1 stripes across the part, 2 checks
	stripe    float32 // stripe width, mm
	spec      float32 // specular strength
}

// prim is one body part as a tapered capsule already projected into the
// output image: endpoints and radii in pixels, plus camera depth (mm) and
// 3D radius (mm) so that a z-buffer resolves self-occlusion.
type prim struct {
	ax, ay, bx, by float32 // endpoints, px
	ra, rb         float32 // radii, px
	za, zb         float32 // depth of the axis endpoints, mm
	rza, rzb       float32 // 3D radii, mm
	len3           float32 // 3D length, mm (for patterns)
	mat            int
	part           int // joint whose bone this part covers (tests)
}

// person is a body ready to rasterise into one image.
type person struct {
	prims []prim
	mats  [numMats]material
	// Head frame and light in screen coordinates: x, y along the output
	// image, z the camera's depth axis.
	headUp, headFwd [3]float32
	light           [3]float32
	ambient         float32
	diffuse         float32
	tint            rgb
}

// screenMap turns camera-space directions into screen directions for the
// affine a (rotation and mirroring of the crop; scale removed).
type screenMap struct{ m [2][2]float64 }

func newScreenMap(a [2][3]float64) screenMap {
	k := math.Sqrt(math.Abs(a[0][0]*a[1][1] - a[0][1]*a[1][0]))
	return screenMap{m: [2][2]float64{{a[0][0] / k, a[0][1] / k}, {a[1][0] / k, a[1][1] / k}}}
}

func (s screenMap) dir(v pose.Vec3) [3]float32 {
	return [3]float32{
		float32(s.m[0][0]*v[0] + s.m[0][1]*v[1]),
		float32(s.m[1][0]*v[0] + s.m[1][1]*v[1]),
		float32(v[2]),
	}
}

// Limb radii (mm) at the proximal and distal joint, before the body's girth.
const (
	thighR0, thighR1 = 78, 55
	shinR0, shinR1   = 52, 38
	upperR0, upperR1 = 50, 40
	foreR0, foreR1   = 38, 29
)

// buildPerson projects a camera-space pose into the image whose pixels are
// a * (camera pixels): every joint lands exactly on a * cam.Project(joint),
// the label's position.
func buildPerson(dst *person, p *pose.Pose3D, cam *pose.Camera, a [2][3]float64, b *body, li light) {
	dst.prims = dst.prims[:0]
	look := &b.look
	g := look.girth
	k := math.Sqrt(math.Abs(a[0][0]*a[1][1] - a[0][1]*a[1][0]))
	sm := newScreenMap(a)

	dst.mats[matSkin] = material{base: look.skin, spec: 0.15}
	dst.mats[matHead] = material{base: look.skin, alt: look.hair, spec: 0.15}
	dst.mats[matShirt] = material{base: look.shirt, alt: look.shirt2, pattern: look.pattern, stripe: look.stripeMM}
	dst.mats[matTrousers] = material{base: look.trousers}
	dst.mats[matShoes] = material{base: look.shoes, spec: 0.3}
	dst.mats[matEye] = material{base: rgb{0.05, 0.04, 0.04}}
	dst.mats[matSeat] = material{base: look.seat, spec: 0.2}

	lc := matVec(cam.R, li.dir) // world -> camera
	dst.light = sm.dir(lc)
	dst.ambient, dst.diffuse, dst.tint = li.ambient, li.diffuse, li.tint

	proj := func(x pose.Vec3) (float32, float32) {
		q := datasets.Apply(a, cam.Project(x))
		return float32(q[0]), float32(q[1])
	}
	capsule := func(x, y pose.Vec3, r0, r1 float64, mat, part int) {
		if x[2] < 100 || y[2] < 100 {
			return // behind or at the camera
		}
		var c prim
		c.ax, c.ay = proj(x)
		c.bx, c.by = proj(y)
		c.ra = float32(r0 * cam.Fx / x[2] * k)
		c.rb = float32(r1 * cam.Fx / y[2] * k)
		c.za, c.zb = float32(x[2]), float32(y[2])
		c.rza, c.rzb = float32(r0), float32(r1)
		c.len3 = float32(norm(sub(y, x)))
		c.mat, c.part = mat, part
		dst.prims = append(dst.prims, c)
	}

	_, up, fwd := bodyFrame(p)
	shirt, trousers := matShirt, matTrousers
	addSeat(p, cam, capsule)

	// Legs and feet.
	for _, side := range [2][3]int{{pose.RHip, pose.RKnee, pose.RFoot}, {pose.LHip, pose.LKnee, pose.LFoot}} {
		h, kn, f := p[side[0]], p[side[1]], p[side[2]]
		capsule(h, kn, thighR0*g, thighR1*g, trousers, side[1])
		shinMat := trousers
		if look.shorts {
			shinMat = matSkin
		}
		capsule(kn, f, shinR0*g, shinR1*g, shinMat, side[2])
		shin := unit(sub(f, kn))
		toeDir := unit(sub(fwd, scale(shin, dot(fwd, shin))))
		toe := add(add(f, scale(toeDir, 150)), scale(shin, 45))
		capsule(add(f, scale(shin, 20)), toe, 42, 34, matShoes, side[2])
	}
	// Pelvis and torso: two side columns and a central one give a torso
	// that is broad from the front and narrow from the side.
	capsule(p[pose.RHip], p[pose.LHip], 95*g, 95*g, trousers, pose.Hip)
	// Pelvis and torso: overlapping columns from side to side make a torso
	// broad from the front and narrow from the side; a central column
	// gives chest and belly their depth.
	rlo := add(lerp3(p[pose.RHip], p[pose.Hip], 0.1), scale(up, 70))
	llo := add(lerp3(p[pose.LHip], p[pose.Hip], 0.1), scale(up, 70))
	rhi := add(lerp3(p[pose.RShoulder], p[pose.Thorax], 0.15), scale(up, -75))
	lhi := add(lerp3(p[pose.LShoulder], p[pose.Thorax], 0.15), scale(up, -75))
	for k := 0; k <= 4; k++ {
		f := float64(k) / 4
		capsule(lerp3(rlo, llo, f), lerp3(rhi, lhi, f), 88*g, 92*g, shirt, pose.Spine)
	}
	capsule(add(p[pose.Hip], scale(up, 40)), p[pose.Spine], 102*g, 106*g, shirt, pose.Spine)
	capsule(p[pose.Spine], add(p[pose.Thorax], scale(up, -40)), 106*g, 100*g, shirt, pose.Thorax)
	capsule(p[pose.RShoulder], p[pose.LShoulder], 58*g, 58*g, shirt, pose.Thorax)

	// Neck and head.
	hc, hr, hup := headGeom(p)
	capsule(p[pose.Thorax], lerp3(p[pose.Thorax], hc, 0.75), 48*g, 44*g, matSkin, pose.Neck)
	hf := sub(p[pose.Neck], hc)
	hf = unit(sub(hf, scale(hup, dot(hf, hup))))
	capsule(hc, hc, hr, hr, matHead, pose.Head)
	hright := cross(hf, hup)
	for _, s := range []float64{-1, 1} {
		eye := add(hc, scale(unit(add(add(scale(hf, 0.9), scale(hup, 0.12)), scale(hright, 0.38*s))), hr*0.93))
		capsule(eye, eye, hr*0.13, hr*0.13, matEye, pose.Head)
	}
	nose := add(hc, scale(unit(add(hf, scale(hup, -0.15))), hr*0.98))
	capsule(nose, nose, hr*0.16, hr*0.16, matSkin, pose.Neck)
	dst.headUp = sm.dir(hup)
	dst.headFwd = sm.dir(hf)

	// Arms and hands.
	for _, side := range [2][3]int{{pose.RShoulder, pose.RElbow, pose.RWrist}, {pose.LShoulder, pose.LElbow, pose.LWrist}} {
		s, e, w := p[side[0]], p[side[1]], p[side[2]]
		if look.shortSleeves {
			capsule(s, lerp3(s, e, 0.45), upperR0*g*1.12, upperR0*g*1.05, shirt, side[1])
			capsule(s, e, upperR0*g*0.92, upperR1*g, matSkin, side[1])
			capsule(e, w, foreR0*g, foreR1*g, matSkin, side[2])
		} else {
			capsule(s, e, upperR0*g, upperR1*g, shirt, side[1])
			capsule(e, w, foreR0*g, foreR1*g, shirt, side[2])
		}
		fd := unit(sub(w, e))
		capsule(add(w, scale(fd, 25)), add(w, scale(fd, 95)), 36, 40, matSkin, side[2])
	}
}

// occluded tells whether the image point q of a joint at camera depth z
// is hidden by a body part other than its own (skip). A joint lies inside
// the body; tol (mm) is its depth below the surface that shows it.
func (ps *person) occluded(qx, qy, z, tol float32, skip func(part int) bool) bool {
	for i := range ps.prims {
		c := &ps.prims[i]
		if skip(c.part) {
			continue
		}
		inside, depth := c.depthAt(qx, qy)
		if inside && depth < z-tol {
			return true
		}
	}
	return false
}

// depthAt returns whether (x, y) lies inside the capsule's footprint and,
// if so, the depth (mm) of its front surface there.
func (c *prim) depthAt(x, y float32) (bool, float32) {
	dx, dy := c.bx-c.ax, c.by-c.ay
	l2 := dx*dx + dy*dy
	var t float32
	if l2 > 1e-12 {
		t = ((x-c.ax)*dx + (y-c.ay)*dy) / l2
		t = min(max(t, 0), 1)
	}
	ox, oy := x-(c.ax+t*dx), y-(c.ay+t*dy)
	r := c.ra + t*(c.rb-c.ra)
	d2 := ox*ox + oy*oy
	if d2 >= r*r {
		return false, 0
	}
	nz := float32(math.Sqrt(float64(1 - d2/(r*r))))
	return true, c.za + t*(c.zb-c.za) - (c.rza+t*(c.rzb-c.rza))*nz
}

// addSeat puts a stool under a seated person (both thighs far from
// vertical, pelvis low): without it a sitting pose floats in the air. The
// stool is scenery, not a body part (part -1).
func addSeat(p *pose.Pose3D, cam *pose.Camera, capsule func(x, y pose.Vec3, r0, r1 float64, mat, part int)) {
	var w pose.Pose3D
	for j := range p {
		w[j] = cam.CamToWorld(p[j])
	}
	for _, s := range [2][2]int{{pose.RHip, pose.RKnee}, {pose.LHip, pose.LKnee}} {
		d := unit(sub(w[s[1]], w[s[0]]))
		if -d[2] > math.Cos(50*math.Pi/180) {
			return // a thigh hangs down: not seated
		}
	}
	hip := w[pose.Hip]
	if hip[2] < 250 || hip[2] > 800 {
		return
	}
	top := hip[2] - 95
	const half = 170
	c := pose.Vec3{hip[0], hip[1], top - 30}
	world := func(dx, dy, z float64) pose.Vec3 { return cam.WorldToCam(pose.Vec3{c[0] + dx, c[1] + dy, z}) }
	for _, dy := range []float64{-half + 30, -half / 3, half / 3, half - 30} {
		capsule(world(-half, dy, c[2]), world(half, dy, c[2]), 32, 32, matSeat, -1)
	}
	for _, q := range [4][2]float64{{-1, -1}, {-1, 1}, {1, -1}, {1, 1}} {
		capsule(world(q[0]*(half-25), q[1]*(half-25), c[2]), world(q[0]*(half-5), q[1]*(half-5), 0), 20, 18, matSeat, -1)
	}
}
