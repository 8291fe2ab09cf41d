package h36m

import (
	"math"
	"testing"

	"poselab/datasets"
	"poselab/pose"
)

func loadFixtures(t *testing.T) (Cameras, []datasets.Record) {
	t.Helper()
	cams, err := LoadCamerasJSON("testdata/cameras.json")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := LoadMMPose("testdata/test_h36m_body3d.npz", cams)
	if err != nil {
		t.Fatal(err)
	}
	return cams, recs
}

func dist2(a, b pose.Vec2) float64 { return math.Hypot(a[0]-b[0], a[1]-b[1]) }

func dist3(a, b pose.Vec3) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}

func TestCamerasJSONAndPickleAgree(t *testing.T) {
	cams, err := LoadCamerasJSON("testdata/cameras.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(cams) != 28 {
		t.Fatalf("%d cameras, want 28", len(cams))
	}
	c := cams[CameraKey{"S1", "54138969"}]
	ref := pose.H36MIntrinsics[0]
	if math.Abs(c.Fx-ref.Fx) > 1e-3 || math.Abs(c.Cy-ref.Cy) > 1e-3 || c.W != 1000 || c.H != 1002 {
		t.Fatalf("S1 54138969: %+v", c)
	}
	if c.P != [2]float64{-0.0009756988729350269, -0.00142447161488235} {
		t.Fatalf("tangential distortion %v (VideoPose3D order expected)", c.P)
	}
	pk, err := LoadMMPoseCameras("testdata/cameras.pkl")
	if err != nil {
		t.Fatal(err)
	}
	if len(pk) != 44 {
		t.Fatalf("cameras.pkl: %d cameras, want 44 (11 subjects x 4)", len(pk))
	}
	for k, a := range cams {
		b, ok := pk[k]
		if !ok {
			t.Fatalf("cameras.pkl lacks %v", k)
		}
		worst := 0.0
		for r := 0; r < 3; r++ {
			for col := 0; col < 3; col++ {
				worst = max(worst, math.Abs(a.R[r][col]-b.R[r][col]))
			}
			worst = max(worst, math.Abs(a.T[r]-b.T[r])/1000, math.Abs(a.K[r]-b.K[r]))
		}
		worst = max(worst, math.Abs(a.P[0]-b.P[0]), math.Abs(a.P[1]-b.P[1]), math.Abs(a.Fx-b.Fx)/1000, math.Abs(a.Cx-b.Cx)/1000)
		if worst > 1e-5 {
			t.Fatalf("%v: cameras.json and cameras.pkl differ by %g", k, worst)
		}
	}
}

func TestMMPoseFramesProjectToTheirLabels(t *testing.T) {
	_, recs := loadFixtures(t)
	if len(recs) != 4 {
		t.Fatalf("%d frames, want 4", len(recs))
	}
	want := []struct{ subj, act, cam string }{
		{"S1", "Directions", "54138969"}, {"S5", "SittingDown", "54138969"},
		{"S7", "Greeting", "55011271"}, {"S8", "WalkDog", "55011271"},
	}
	for i, r := range recs {
		if r.Subject != want[i].subj || r.Action != want[i].act || r.Cam.ID != want[i].cam || !r.HasLabels {
			t.Fatalf("frame %d: %s %s %s", i, r.Subject, r.Action, r.Cam.ID)
		}
		// Pelvis 4-7 m in front of the camera, in mm.
		if z := r.Joints3D[pose.Hip][2]; z < 4000 || z > 7000 {
			t.Fatalf("frame %d: pelvis depth %v mm", i, z)
		}
		var maxDist, meanPin float64
		for j := range r.Joints3D {
			maxDist = max(maxDist, dist2(r.Cam.Project(r.Joints3D[j]), r.Joints2D[j]))
			meanPin += dist2(r.Cam.ProjectPinhole(r.Joints3D[j]), r.Joints2D[j]) / pose.NumJoints
		}
		t.Logf("%s %s: reprojection with distortion max %.2g px, pinhole mean %.2f px", r.Subject, r.Action, maxDist, meanPin)
		if maxDist > 1e-3 {
			t.Errorf("frame %d: distorted projection off by %g px", i, maxDist)
		}
		if meanPin > 2 || meanPin < 0.05 {
			t.Errorf("frame %d: pinhole projection off by %v px on average, want 0.05..2", i, meanPin)
		}
	}
}

func TestETHPickleMatchesMMPoseFrames(t *testing.T) {
	_, mm := loadFixtures(t)
	byImage := map[string]datasets.Record{}
	for _, r := range mm {
		byImage[r.Image] = r
	}
	recs, err := LoadETH("testdata/eth/val.pkl")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for i, r := range recs {
		m, ok := byImage[r.Image]
		if !ok || r.ID != i || !r.HasLabels {
			t.Fatalf("record %d (%s) not among the mmpose frames", i, r.Image)
		}
		if r.Subject != m.Subject || r.Action != m.Action || r.Cam.ID != m.Cam.ID || r.CamIndex != m.CamIndex {
			t.Fatalf("record %d: %s %s %s %d vs %s %s %s %d", i, r.Subject, r.Action, r.Cam.ID, r.CamIndex, m.Subject, m.Action, m.Cam.ID, m.CamIndex)
		}
		if r.Joints2D != m.Joints2D {
			t.Fatalf("record %d: 2D joints differ from mmpose's part", i)
		}
		if math.Abs(r.Scale-m.Scale) > 1e-9 || dist2(r.Center, m.Center) > 1e-9 {
			t.Fatalf("record %d: box %v %v vs mmpose %v %v", i, r.Center, r.Scale, m.Center, m.Scale)
		}
		if r.Cam.R != m.Cam.R || dist3(r.Cam.T, m.Cam.T) > 1e-3 || r.Cam.K != m.Cam.K || r.Cam.P != m.Cam.P {
			t.Fatalf("record %d: pickled camera %+v differs from cameras.json %+v", i, r.Cam, m.Cam)
		}
		// The seed's back-projection ignores lens distortion: a few mm off.
		var mean, meanExact float64
		for j := range r.Joints3D {
			mean += dist3(r.Joints3D[j], m.Joints3D[j]) / pose.NumJoints
			z := r.Joints3D[j][2]
			exact := r.Cam.BackProject(Undistort(&r.Cam, r.Joints2D[j]), z)
			meanExact += dist3(exact, m.Joints3D[j]) / pose.NumJoints
		}
		t.Logf("%s %s: pinhole back-projection %.2f mm from mmpose S, undistorted %.4f mm", r.Subject, r.Action, mean, meanExact)
		if mean > 8 {
			t.Errorf("record %d: back-projection %v mm from mmpose's 3D joints", i, mean)
		}
		if meanExact > 0.1 {
			t.Errorf("record %d: undistorted back-projection %v mm from mmpose's 3D joints", i, meanExact)
		}
		if dist3(r.Joints3D[pose.Hip], m.Joints3D[pose.Hip]) > 8 || r.Joints3D[pose.Hip][2] != m.Joints3D[pose.Hip][2] {
			t.Errorf("record %d: pelvis %v vs %v", i, r.Joints3D[pose.Hip], m.Joints3D[pose.Hip])
		}
		if r.Vis[0] != 1 {
			t.Errorf("record %d: visibility %v", i, r.Vis)
		}
	}
	exact, err := LoadETHWith("testdata/eth/val.pkl", ETHOptions{Undistort: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range exact {
		m := byImage[r.Image]
		for j := range r.Joints3D {
			if d := dist3(r.Joints3D[j], m.Joints3D[j]); d > 0.01 {
				t.Fatalf("undistorted record %d joint %d: %v mm from mmpose S", i, j, d)
			}
		}
	}
	test, err := LoadETH("testdata/eth/test.pkl")
	if err != nil {
		t.Fatal(err)
	}
	if len(test) != 4 {
		t.Fatalf("test split: %d records", len(test))
	}
	for i, r := range test {
		if r.HasLabels || r.Image != recs[i].Image || r.Joints3D[pose.Hip][2] != recs[i].Joints3D[pose.Hip][2] ||
			r.Joints3D[pose.RWrist] != (pose.Vec3{}) || r.Cam.P != recs[i].Cam.P {
			t.Fatalf("test record %d: %+v", i, r)
		}
	}
}

func TestVideoPose3DWorldJointsMatchCameraFrames(t *testing.T) {
	cams, mm := loadFixtures(t)
	seq3, err := LoadVideoPose3D3D("testdata/data_3d_h36m_sample.npz")
	if err != nil {
		t.Fatal(err)
	}
	seq2, err := LoadVideoPose3D2D("testdata/data_2d_h36m_gt_sample.npz")
	if err != nil {
		t.Fatal(err)
	}
	acts := map[string]string{"S1": "Directions 1", "S5": "SittingDown", "S7": "Greeting", "S8": "WalkDog 1"}
	for _, m := range mm {
		act := acts[m.Subject]
		frames := seq3[m.Subject][act]
		if len(frames) != 2 {
			t.Fatalf("%s %s: %d frames", m.Subject, act, len(frames))
		}
		cam := cams[CameraKey{m.Subject, m.Cam.ID}]
		var worst float64
		for j, w := range frames[0] {
			worst = max(worst, dist3(cam.WorldToCam(w), m.Joints3D[j]))
		}
		t.Logf("%s %s: world -> camera within %.4f mm of mmpose S", m.Subject, act, worst)
		if worst > 0.5 {
			t.Errorf("%s: world joints transform to within %v mm only", m.Subject, worst)
		}
		cams2 := seq2[m.Subject][act]
		for c := range cams2 {
			if c != m.CamIndex && len(cams2[c]) != 0 {
				t.Errorf("%s %s: camera %d has %d frames, want none (all NaN in the file)", m.Subject, act, c, len(cams2[c]))
			}
		}
		p2 := cams2[m.CamIndex]
		if len(p2) != 2 {
			t.Fatalf("%s %s: no 2D frames for camera %d", m.Subject, act, m.CamIndex)
		}
		var w2 float64
		for j := range p2[0] {
			w2 = max(w2, dist2(p2[0][j], m.Joints2D[j]))
		}
		if w2 > 1e-3 {
			t.Errorf("%s: VideoPose3D 2D differs from mmpose part by %v px", m.Subject, w2)
		}
	}
}

func TestParseImageName(t *testing.T) {
	cases := map[string]ImageInfo{
		"S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg":  {"S1", "Directions_1", "Directions", "54138969", 1},
		"S11/S11_SittingDown.60457274/S11_SittingDown.60457274_002061.jpg": {"S11", "SittingDown", "SittingDown", "60457274", 2061},
		"S9_Walking 1.58860488_000010.jpg":                                 {"S9", "Walking 1", "Walking", "58860488", 10},
	}
	for in, want := range cases {
		if got := ParseImageName(in); got != want {
			t.Errorf("%s: %+v, want %+v", in, got, want)
		}
	}
}

// The seed's evaluation path on the real frames: the ETH labels (u, v
// and depth relative to the pelvis) lifted with the true pelvis depth
// score against mmpose's true 3D joints exactly the pinhole error.
func TestSeedEvaluationOnRealFrames(t *testing.T) {
	_, mm := loadFixtures(t)
	eth, err := LoadETH("testdata/eth/val.pkl")
	if err != nil {
		t.Fatal(err)
	}
	byImage := map[string]datasets.Record{}
	for _, r := range mm {
		byImage[r.Image] = r
	}
	var cams []pose.Camera
	var uv []pose.Pose2D
	var rel [][pose.NumJoints]float64
	var gt, lifted []pose.Pose3D
	for _, r := range eth {
		m := byImage[r.Image]
		var d [pose.NumJoints]float64
		for j := range d {
			d[j] = m.Joints3D[j][2] - m.Joints3D[pose.Hip][2]
		}
		cams, uv, rel, gt = append(cams, r.Cam), append(uv, r.Joints2D), append(rel, d), append(gt, m.Joints3D)
		lifted = append(lifted, r.Joints3D)
	}
	e := pose.SeedMPJPE(cams, uv, rel, gt)
	want := pose.MPJPE(lifted, gt)
	t.Logf("seed evaluation of the exact labels on the 4 real frames: %.3f mm (lens distortion ignored)", e)
	if math.Abs(e-want) > 1e-9 || e < 0.5 || e > 8 {
		t.Fatalf("seed MPJPE %v mm, want %v (a few mm)", e, want)
	}
}

// formats.md: mmpose-style S comes in mm or m. The same frames stored in
// mm must load as the same mm joints (which project onto their 2D
// labels), not 1000 times too far.
func TestMMPoseMillimetreS(t *testing.T) {
	cams, metres := loadFixtures(t)
	recs, err := LoadMMPose("testdata/mmpose_mm.npz", cams)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(metres) {
		t.Fatalf("%d frames, want %d", len(recs), len(metres))
	}
	for i, r := range recs {
		if z := r.Joints3D[pose.Hip][2]; z < 4000 || z > 7000 {
			t.Fatalf("frame %d: pelvis depth %v mm, want 4000..7000", i, z)
		}
		for j := range r.Joints3D {
			if d := dist2(r.Cam.Project(r.Joints3D[j]), r.Joints2D[j]); d > 1e-3 {
				t.Errorf("frame %d joint %d: projects %g px from its label", i, j, d)
			}
			if d := dist3(r.Joints3D[j], metres[i].Joints3D[j]); d > 1e-6 {
				t.Errorf("frame %d joint %d: %g mm from the metres file's joint", i, j, d)
			}
		}
	}
}

// formats.md: mmpose-style S holds world or camera joints. World joints
// (z up) must come out in camera coordinates through the frame's
// calibrated camera, like the camera-space file's.
func TestMMPoseWorldS(t *testing.T) {
	cams, camera := loadFixtures(t)
	recs, err := LoadMMPose("testdata/mmpose_world.npz", cams)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(camera) {
		t.Fatalf("%d frames, want %d", len(recs), len(camera))
	}
	for i, r := range recs {
		for j := range r.Joints3D {
			if d := dist3(r.Joints3D[j], camera[i].Joints3D[j]); d > 1e-3 {
				t.Errorf("frame %d joint %d: %g mm from the camera-space file's joint", i, j, d)
			}
			if d := dist2(r.Cam.Project(r.Joints3D[j]), r.Joints2D[j]); d > 1e-3 {
				t.Errorf("frame %d joint %d: projects %g px from its label", i, j, d)
			}
		}
	}
}
