package pose

import (
	"math"
	"testing"
)

// testCamera is S1's camera 54138969 (cameras.json).
func testCamera() Camera {
	c := H36MIntrinsics[0]
	c.K = [3]float64{-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043}
	c.P = [2]float64{-0.0009756988729350269, -0.00142447161488235}
	c.R = [3][3]float64{
		{-0.915361732, 0.401808366, 0.025747545},
		{0.051548117, 0.180373569, -0.98224649},
		{-0.399319034, -0.897783611, -0.185819527},
	}
	c.T = Vec3{1841.1070556640625, 4955.28466796875, 1563.4454345703125}
	return c
}

func TestWorldCamRoundTrip(t *testing.T) {
	c := testCamera()
	x := Vec3{120, -340, 910}
	y := c.WorldToCam(x)
	back := c.CamToWorld(y)
	// The stored rotation has 9 decimals, so it is orthogonal to ~1e-9.
	if dist(x, back) > 1e-5 {
		t.Fatalf("world->cam->world %v -> %v", x, back)
	}
	// The camera centre maps to the camera origin.
	if o := c.WorldToCam(c.T); dist(o, Vec3{}) > 1e-9 {
		t.Fatalf("camera centre maps to %v", o)
	}
	// Rotations keep distances.
	a, b := Vec3{0, 0, 0}, Vec3{300, 400, 0}
	if d := dist(c.WorldToCam(a), c.WorldToCam(b)); math.Abs(d-500) > 1e-5 {
		t.Fatalf("distance %v after transform, want 500", d)
	}
}

func TestProjectBackProjectRoundTrip(t *testing.T) {
	c := testCamera()
	p := Vec3{-210.5, 333.3, 4500}
	uv := c.ProjectPinhole(p)
	if q := c.BackProject(uv, p[2]); dist(p, q) > 1e-9 {
		t.Fatalf("pinhole round trip %v -> %v", p, q)
	}
	// Hand case: a point on the optical axis projects to the principal point.
	if uv := c.Project(Vec3{0, 0, 3000}); math.Abs(uv[0]-c.Cx) > 1e-12 || math.Abs(uv[1]-c.Cy) > 1e-12 {
		t.Fatalf("optical axis projects to %v", uv)
	}
	// Hand case of the distortion model: x = 0.1, y = 0 gives
	// u = fx (x (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p1 x) + p1 r2) + cx.
	x, r2 := 0.1, 0.01
	rad := 1 + c.K[0]*r2 + c.K[1]*r2*r2 + c.K[2]*r2*r2*r2
	wantU := c.Fx*(x*(rad+c.P[0]*x)+c.P[0]*r2) + c.Cx
	wantV := c.Fy*(c.P[1]*r2) + c.Cy
	got := c.Project(Vec3{400, 0, 4000})
	if math.Abs(got[0]-wantU) > 1e-9 || math.Abs(got[1]-wantV) > 1e-9 {
		t.Fatalf("distorted projection %v, want (%v, %v)", got, wantU, wantV)
	}
	// Without distortion parameters both projections agree.
	c.K, c.P = [3]float64{}, [2]float64{}
	if a, b := c.Project(p), c.ProjectPinhole(p); math.Hypot(a[0]-b[0], a[1]-b[1]) > 1e-9 {
		t.Fatalf("zero distortion: %v vs %v", a, b)
	}
}

func TestProjectPoseLiftRoundTrip(t *testing.T) {
	c := testCamera()
	c.K, c.P = [3]float64{}, [2]float64{}
	g := samplePose(4800)
	uv := c.ProjectPose(g)
	var rel [NumJoints]float64
	for j := range g {
		rel[j] = g[j][2] - g[Hip][2]
	}
	lifted := LiftWithRootDepth(&c, uv, rel, g[Hip][2])
	for j := range g {
		if dist(lifted[j], g[j]) > 1e-6 {
			t.Fatalf("joint %d: lifted %v, want %v", j, lifted[j], g[j])
		}
	}
	cams := []Camera{c}
	if e := SeedMPJPE(cams, []Pose2D{uv}, [][NumJoints]float64{rel}, []Pose3D{g}); e > 1e-6 {
		t.Fatalf("seed MPJPE of exact prediction = %v mm", e)
	}
	// 10 mm too deep on every non-root joint: after back-projection and root
	// alignment the error is the hand-computable shift of each joint.
	for j := 1; j < NumJoints; j++ {
		rel[j] += 10
	}
	var want float64
	for j := 1; j < NumJoints; j++ {
		z := g[j][2] + 10
		q := c.BackProject(uv[j], z)
		want += dist(q, g[j])
	}
	want /= NumJoints
	if e := SeedMPJPE(cams, []Pose2D{uv}, [][NumJoints]float64{rel}, []Pose3D{g}); math.Abs(e-want) > 1e-9 {
		t.Fatalf("seed MPJPE = %v mm, want %v", e, want)
	}
}
