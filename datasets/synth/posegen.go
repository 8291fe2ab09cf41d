package synth

import (
	"math"
	"math/rand/v2"

	"poselab/pose"
)

// perturbDeg is the largest random rotation (degrees) of each bone about
// its parent joint: small for the pelvis and shins (the knee only bends one
// way), larger for the arms and head, so the varied pose stays human.
// Neck/Nose and Head turn by up to 15 and 25 degrees, a nod or tilt of the
// head: with 10 and 10 the two bones met at 75..84 degrees (p10..p90)
// where the 4 real frames span 48..108; now 69..90.
var perturbDeg = [pose.NumJoints]float64{0, 3, 10, 5, 3, 10, 5, 6, 6, 15, 25, 5, 15, 10, 5, 15, 10}

// mirrorDirs mirrors clip directions left/right (x negated, partners swapped).
func mirrorDirs(d [pose.NumJoints]pose.Vec3) [pose.NumJoints]pose.Vec3 {
	var m [pose.NumJoints]pose.Vec3
	for j := 1; j < pose.NumJoints; j++ {
		s := d[pose.FlipPartner[j]]
		m[j] = pose.Vec3{-s[0], s[1], s[2]}
	}
	return m
}

// retarget rebuilds a pose from unit bone directions and a subject's bone
// lengths, root at the origin. Joints are in parent-before-child order.
func retarget(d [pose.NumJoints]pose.Vec3, bones *[pose.NumJoints]float64) pose.Pose3D {
	var p pose.Pose3D
	for j := 1; j < pose.NumJoints; j++ {
		p[j] = add(p[pose.Parents[j]], scale(d[j], bones[j]))
	}
	return p
}

// perturb rotates each bone by a random angle within perturbDeg about its
// parent joint; the rotation carries the bone's descendants along, as a
// joint rotation does.
func perturb(r *rand.Rand, d [pose.NumJoints]pose.Vec3, amount float64) [pose.NumJoints]pose.Vec3 {
	var acc [pose.NumJoints]mat3
	acc[0] = identity
	var out [pose.NumJoints]pose.Vec3
	for j := 1; j < pose.NumJoints; j++ {
		axis := unit(pose.Vec3{normal(r), normal(r), normal(r)})
		ang := (2*r.Float64() - 1) * perturbDeg[j] * amount * math.Pi / 180
		acc[j] = matMul(acc[pose.Parents[j]], axisAngle(axis, ang))
		out[j] = matVec(acc[j], d[j])
	}
	return out
}

// bodyFrame returns the torso's right, up and forward unit vectors.
func bodyFrame(p *pose.Pose3D) (right, up, fwd pose.Vec3) {
	up = unit(sub(p[pose.Thorax], p[pose.Hip]))
	right = sub(p[pose.RShoulder], p[pose.LShoulder])
	right = unit(sub(right, scale(up, dot(right, up))))
	fwd = cross(up, right)
	return right, up, fwd
}

// headGeom is the head as a sphere: centre, radius (mm) and its up axis.
// The up axis runs from the thorax to the Head joint: the Neck/Nose joint
// lies in front of that line (bendNeck), so Neck/Nose -> Head leans
// backwards and would tilt the head. H36M's Head joint is not the crown:
// the crown lies crownAbove x the Neck/Nose -> Head bone beyond it along
// the axis, and the sphere's top is the crown.
func headGeom(p *pose.Pose3D) (centre pose.Vec3, radius float64, up pose.Vec3) {
	up = unit(sub(p[pose.Head], p[pose.Thorax]))
	l := norm(sub(p[pose.Head], p[pose.Neck]))
	radius = headRadius * l
	centre = add(p[pose.Head], scale(up, (crownAbove-headRadius)*l))
	return centre, radius, up
}

// Head proportions in units of the Neck/Nose -> Head bone (115 mm on
// average). The real Human3.6M Head joint lies well below the crown (on
// the real frames it is only 136..215 mm from the thorax): about the
// head's centre, with Neck/Nose near the chin. The crown, the MPII-like
// head top, must lie about 300 mm from the thorax for the MPII-like head
// segment (upper neck -> head top) to be 0.56 of pelvis -> thorax as on
// the 5 real MPII people (0.54..0.81, median 0.57,
// TestMPIIProportionsLikeRealMPII). With the Head joint 185 mm from the
// thorax (bendNeck) that is 1.05 bones above it; the sphere's centre
// then lies 12 mm above the Head joint, and Neck/Nose just below and in
// front of the sphere, where the chin is. The radius stays 0.95: a wider
// sphere makes the head too broad.
const (
	crownAbove = 1.05
	headRadius = 0.95
)

// solveArm places elbow and wrist of one arm so that the wrist reaches
// target (or as near as the arm allows) with the elbow bent towards pole.
func solveArm(p *pose.Pose3D, right bool, target, pole pose.Vec3) {
	s, e, w := pose.LShoulder, pose.LElbow, pose.LWrist
	if right {
		s, e, w = pose.RShoulder, pose.RElbow, pose.RWrist
	}
	a := norm(sub(p[e], p[s]))
	b := norm(sub(p[w], p[e]))
	v := sub(target, p[s])
	dist := clamp(norm(v), math.Abs(a-b)+1, a+b-1)
	dir := unit(v)
	x := (a*a - b*b + dist*dist) / (2 * dist)
	h := math.Sqrt(math.Max(0, a*a-x*x))
	perp := sub(pole, scale(dir, dot(pole, dir)))
	if norm(perp) < 1e-6 {
		perp = pose.Vec3{0, 0, -1}
		perp = sub(perp, scale(dir, dot(perp, dir)))
	}
	perp = unit(perp)
	p[e] = add(add(p[s], scale(dir, x)), scale(perp, h))
	p[w] = add(p[e], scale(unit(sub(add(p[s], scale(dir, dist)), p[e])), b))
}

// applyArms lays a procedural arm posture over a pose. side chooses the
// arm for one-handed postures (true: right).
func applyArms(p *pose.Pose3D, style armStyle, rightSide bool, r *rand.Rand) {
	if style == armKeep {
		return
	}
	rt, up, fw := bodyFrame(p)
	hc, hr, _ := headGeom(p)
	nose := p[pose.Neck]
	sgn := func(right bool) float64 {
		if right {
			return 1
		}
		return -1
	}
	one := func(right bool, target, pole pose.Vec3) { solveArm(p, right, target, pole) }
	comb := func(vs ...any) pose.Vec3 { // base point plus (vector, weight) pairs
		out := vs[0].(pose.Vec3)
		for i := 1; i+1 < len(vs); i += 2 {
			out = add(out, scale(vs[i].(pose.Vec3), vs[i+1].(float64)))
		}
		return out
	}
	j := func() float64 { return 1 + 0.15*(2*r.Float64()-1) } // jitter factor
	s := sgn(rightSide)
	sh := p[pose.LShoulder]
	if rightSide {
		sh = p[pose.RShoulder]
	}
	switch style {
	case armPhone:
		one(rightSide, comb(hc, rt, s*hr*j(), fw, 0.1*hr, up, -0.15*hr), comb(pose.Vec3{}, up, -1.0, rt, 0.6*s, fw, 0.3))
	case armMouth:
		one(rightSide, comb(nose, fw, 60*j(), up, -40.0), comb(pose.Vec3{}, up, -1.0, rt, 0.6*s))
	case armBothMouth:
		for _, rs := range []bool{true, false} {
			one(rs, comb(nose, fw, 90*j(), up, -70.0, rt, 35*sgn(rs)), comb(pose.Vec3{}, up, -1.0, rt, 0.5*sgn(rs)))
		}
	case armPhoto:
		for _, rs := range []bool{true, false} {
			one(rs, comb(nose, fw, 170*j(), rt, 75*sgn(rs), up, 10.0), comb(pose.Vec3{}, up, -1.0, rt, 0.8*sgn(rs)))
		}
	case armPoint:
		a := (10 + 70*r.Float64()) * math.Pi / 180
		dir := unit(comb(pose.Vec3{}, fw, math.Cos(a), rt, s*math.Sin(a), up, 0.4*r.Float64()-0.1))
		one(rightSide, add(sh, scale(dir, 600)), comb(pose.Vec3{}, up, -1.0, fw, -0.2))
	case armWave:
		one(rightSide, comb(sh, rt, s*170*j(), up, 380*j(), fw, 80.0), comb(pose.Vec3{}, rt, s, up, -0.6))
	case armLeash:
		one(rightSide, comb(sh, fw, 330*j(), up, -300*j(), rt, s*60), comb(pose.Vec3{}, up, -1.0, rt, 0.3*s, fw, -0.3))
	case armLap:
		for _, rs := range []bool{true, false} {
			h, k := p[pose.LHip], p[pose.LKnee]
			if rs {
				h, k = p[pose.RHip], p[pose.RKnee]
			}
			one(rs, add(lerp3(h, k, 0.55*j()), scale(up, 80)), comb(pose.Vec3{}, fw, -0.6, rt, 0.5*sgn(rs), up, -0.3))
		}
	case armClasp:
		for _, rs := range []bool{true, false} {
			one(rs, comb(p[pose.Hip], fw, 160*j(), up, -10.0, rt, 35*sgn(rs)), comb(pose.Vec3{}, rt, 0.5*sgn(rs), fw, -0.3, up, -1.0))
		}
	case armHips:
		for _, rs := range []bool{true, false} {
			h := p[pose.LHip]
			if rs {
				h = p[pose.RHip]
			}
			one(rs, comb(h, up, 110.0, rt, 50*sgn(rs), fw, -10.0), comb(pose.Vec3{}, rt, sgn(rs), fw, -0.4))
		}
	case armCrossed:
		for _, rs := range []bool{true, false} {
			one(rs, comb(p[pose.Thorax], up, -170.0, fw, 150.0, rt, -110*sgn(rs)), comb(pose.Vec3{}, up, -1.0, rt, 0.7*sgn(rs)))
		}
	}
}
