package synth

import (
	"math"
	"math/rand/v2"

	"poselab/pose"
)

func add(a, b pose.Vec3) pose.Vec3           { return pose.Vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func sub(a, b pose.Vec3) pose.Vec3           { return pose.Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func scale(a pose.Vec3, s float64) pose.Vec3 { return pose.Vec3{a[0] * s, a[1] * s, a[2] * s} }
func dot(a, b pose.Vec3) float64             { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a pose.Vec3) float64               { return math.Sqrt(dot(a, a)) }
func cross(a, b pose.Vec3) pose.Vec3 {
	return pose.Vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// unit normalises a vector; the zero vector stays zero.
func unit(a pose.Vec3) pose.Vec3 {
	n := norm(a)
	if n == 0 {
		return a
	}
	return scale(a, 1/n)
}

// lerp3 is a + t (b - a).
func lerp3(a, b pose.Vec3, t float64) pose.Vec3 { return add(a, scale(sub(b, a), t)) }

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

type mat3 = [3][3]float64

func matMul(a, b mat3) mat3 {
	var c mat3
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			c[i][j] = a[i][0]*b[0][j] + a[i][1]*b[1][j] + a[i][2]*b[2][j]
		}
	}
	return c
}

func matVec(a mat3, v pose.Vec3) pose.Vec3 {
	return pose.Vec3{dot(a[0], v), dot(a[1], v), dot(a[2], v)}
}

var identity = mat3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}

// axisAngle is the rotation by angle (radians) about a unit axis (Rodrigues).
func axisAngle(axis pose.Vec3, angle float64) mat3 {
	s, c := math.Sincos(angle)
	x, y, z := axis[0], axis[1], axis[2]
	t := 1 - c
	return mat3{
		{c + x*x*t, x*y*t - z*s, x*z*t + y*s},
		{y*x*t + z*s, c + y*y*t, y*z*t - x*s},
		{z*x*t - y*s, z*y*t + x*s, c + z*z*t},
	}
}

// normal draws a standard normal deviate as the sum of 12 uniforms minus 6
// (Irwin-Hall): additions only, so unlike rand's NormFloat64 (whose
// rejection path calls math.Exp, an assembly routine that uses FMA on CPUs
// that have it) it gives the same bits on every machine.
func normal(r *rand.Rand) float64 {
	s := 0.0
	for i := 0; i < 12; i++ {
		s += r.Float64()
	}
	return s - 6
}
