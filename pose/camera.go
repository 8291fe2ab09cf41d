package pose

import "math"

// Camera is a calibrated pinhole camera with Human3.6M-style distortion.
// World coordinates are in mm with z up; camera coordinates have Z forward.
type Camera struct {
	ID     string        // e.g. "54138969"
	Fx, Fy float64       // focal lengths, px
	Cx, Cy float64       // principal point, px
	K      [3]float64    // radial distortion k1, k2, k3
	P      [2]float64    // tangential distortion p1, p2 (VideoPose3D order)
	R      [3][3]float64 // world to camera rotation: Xcam = R (Xworld - T)
	T      Vec3          // camera centre in world coordinates, mm
	W, H   int           // image size, px
}

// H36MIntrinsics are the four Human3.6M cameras' intrinsics (distortion and
// extrinsics vary per subject; see testdata/cameras.json).
var H36MIntrinsics = [4]Camera{
	{ID: "54138969", Fx: 1145.0494, Fy: 1143.7811, Cx: 512.5415, Cy: 515.4515, W: 1000, H: 1002},
	{ID: "55011271", Fx: 1149.6757, Fy: 1147.5917, Cx: 508.8486, Cy: 508.0649, W: 1000, H: 1000},
	{ID: "58860488", Fx: 1149.1407, Fy: 1148.7990, Cx: 519.8159, Cy: 501.4026, W: 1000, H: 1000},
	{ID: "60457274", Fx: 1145.5114, Fy: 1144.7739, Cx: 514.9682, Cy: 501.8820, W: 1000, H: 1002},
}

// WorldToCam transforms a world point (mm) into camera coordinates (mm).
func (c *Camera) WorldToCam(x Vec3) Vec3 {
	d := Vec3{x[0] - c.T[0], x[1] - c.T[1], x[2] - c.T[2]}
	var y Vec3
	for i := 0; i < 3; i++ {
		y[i] = c.R[i][0]*d[0] + c.R[i][1]*d[1] + c.R[i][2]*d[2]
	}
	return y
}

// CamToWorld is the inverse of WorldToCam.
func (c *Camera) CamToWorld(y Vec3) Vec3 {
	var x Vec3
	for i := 0; i < 3; i++ {
		x[i] = c.R[0][i]*y[0] + c.R[1][i]*y[1] + c.R[2][i]*y[2] + c.T[i]
	}
	return x
}

// Project maps a camera-space point to pixels, with distortion, using the
// VideoPose3D model that reproduces the real Human3.6M 2D labels.
func (c *Camera) Project(p Vec3) Vec2 {
	x, y := p[0]/p[2], p[1]/p[2]
	r2 := x*x + y*y
	radial := 1 + c.K[0]*r2 + c.K[1]*r2*r2 + c.K[2]*r2*r2*r2
	tan := c.P[0]*x + c.P[1]*y
	u := c.Fx*(x*(radial+tan)+c.P[0]*r2) + c.Cx
	v := c.Fy*(y*(radial+tan)+c.P[1]*r2) + c.Cy
	return Vec2{u, v}
}

// ProjectPinhole maps a camera-space point to pixels ignoring distortion.
func (c *Camera) ProjectPinhole(p Vec3) Vec2 {
	return Vec2{c.Fx*p[0]/p[2] + c.Cx, c.Fy*p[1]/p[2] + c.Cy}
}

// BackProject returns the camera-space point at depth z (mm) that projects,
// without distortion, to pixel (u, v). This is the seed's evaluation path.
func (c *Camera) BackProject(uv Vec2, z float64) Vec3 {
	return Vec3{(uv[0] - c.Cx) * z / c.Fx, (uv[1] - c.Cy) * z / c.Fy, z}
}

// ProjectPose projects every joint of a camera-space pose, with distortion.
func (c *Camera) ProjectPose(p Pose3D) Pose2D {
	var q Pose2D
	for j := range p {
		q[j] = c.Project(p[j])
	}
	return q
}

// RotationZ returns the rotation about the world's vertical (z) axis.
func RotationZ(angle float64) [3][3]float64 {
	s, c := math.Sincos(angle)
	return [3][3]float64{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
}
