package h36m

import (
	"fmt"
	"math"
	"sort"

	"poselab/datasets"
	"poselab/datasets/internal/pyload"
	"poselab/pose"
)

// LoadMMPose reads mmpose's Human3.6M npz (`imgname` [N], `center` [N,2],
// `scale` [N], `part` [N,17,3] px + visibility, `S` [N,17,4] camera
// coordinates in metres, or mm, + visibility) into records with Joints3D
// in mm, camera coordinates. S may also hold world coordinates (z up):
// when the 2D labels show it, every frame is brought into the camera
// through its calibration.
// cams supplies each frame's calibration by subject and camera id (from
// LoadCamerasJSON or LoadMMPoseCameras); without an entry the camera has
// the Human3.6M intrinsics only.
func LoadMMPose(path string, cams Cameras) ([]datasets.Record, error) {
	data, err := pyload.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseMMPose(data, path, cams)
}

// ParseMMPose is LoadMMPose on bytes; name labels errors.
func ParseMMPose(data []byte, name string, cams Cameras) ([]datasets.Record, error) {
	z, err := pyload.OpenNPZ(data, name)
	if err != nil {
		return nil, err
	}
	arr := func(key string) (any, error) {
		a, err := z.Array(key)
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	a, err := arr("imgname")
	if err != nil {
		return nil, err
	}
	names, err := pyload.Strings(a)
	if err != nil {
		return nil, fmt.Errorf("%s: imgname: %v", name, err)
	}
	n := len(names)
	floats := func(key string, shape ...int) ([]float64, error) {
		a, err := arr(key)
		if err != nil {
			return nil, err
		}
		f, err := pyload.FloatsShaped(a, shape...)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %v", name, key, err)
		}
		if i := pyload.Finite(f); i >= 0 {
			return nil, fmt.Errorf("%s: %s%s is %v", name, key, pyload.Index(i, shape...), f[i])
		}
		return f, nil
	}
	center, err := floats("center", n, 2)
	if err != nil {
		return nil, err
	}
	scale, err := floats("scale", n)
	if err != nil {
		return nil, err
	}
	part, err := floats("part", n, pose.NumJoints, 3)
	if err != nil {
		return nil, err
	}
	S, err := floats("S", n, pose.NumJoints, 4)
	if err != nil {
		return nil, err
	}
	// formats.md: S comes in metres (mmpose's own files) or mm. Bones are
	// 0.1 to 0.5 m long, so a median bone over 10 units can only be mm.
	toMM := 1000.0
	if medianBone(S, n) > 10 {
		toMM = 1
	}
	recs := make([]datasets.Record, n)
	calibrated := make([]bool, n) // the frame's camera has extrinsics
	for i := range recs {
		r := &recs[i]
		info := ParseImageName(names[i])
		r.ID, r.Image, r.Subject, r.Action, r.Frame = i, names[i], info.Subject, info.Action, info.Frame
		r.CamIndex = CameraIndex(info.CameraID)
		cam, ok := cams[CameraKey{info.Subject, info.CameraID}]
		calibrated[i] = ok
		if !ok {
			if r.CamIndex < 0 {
				return nil, fmt.Errorf("%s: row %d: image %q names no Human3.6M camera", name, i, names[i])
			}
			cam = pose.H36MIntrinsics[r.CamIndex]
		}
		r.Cam = cam
		r.Center = pose.Vec2{center[2*i], center[2*i+1]}
		r.Scale = scale[i]
		for j := 0; j < pose.NumJoints; j++ {
			p := part[(i*pose.NumJoints+j)*3:]
			s := S[(i*pose.NumJoints+j)*4:]
			r.Joints2D[j] = pose.Vec2{p[0], p[1]}
			r.Joints3D[j] = pose.Vec3{toMM * s[0], toMM * s[1], toMM * s[2]}
			r.Vis[j] = s[3]
		}
		r.HasLabels = true
	}
	// formats.md: S holds camera or world joints. The 2D labels tell
	// which: world joints only land on them through the extrinsics.
	if sWorld(recs, calibrated) {
		for i := range recs {
			r := &recs[i]
			if !calibrated[i] {
				return nil, fmt.Errorf("%s: row %d: S holds world coordinates, but camera %s %s has no calibration to bring them into the camera frame", name, i, r.Subject, r.Cam.ID)
			}
			for j := range r.Joints3D {
				r.Joints3D[j] = r.Cam.WorldToCam(r.Joints3D[j])
			}
		}
	}
	return recs, nil
}

// sWorld tells whether the records' Joints3D are world coordinates: over
// (up to 1,000 of) the frames with a calibrated camera, their median
// distance (px) to the 2D labels is smaller projected as world than as
// camera coordinates.
func sWorld(recs []datasets.Record, calibrated []bool) bool {
	var asCam, asWorld []float64
	for i, seen := 0, 0; i < len(recs) && seen < 1000; i++ {
		if !calibrated[i] {
			continue
		}
		seen++
		r := &recs[i]
		for j, x := range r.Joints3D {
			asCam = append(asCam, reprojError(&r.Cam, x, r.Joints2D[j]))
			asWorld = append(asWorld, reprojError(&r.Cam, r.Cam.WorldToCam(x), r.Joints2D[j]))
		}
	}
	if len(asCam) == 0 {
		return false // nothing to tell by: camera coordinates, as mmpose writes
	}
	sort.Float64s(asCam)
	sort.Float64s(asWorld)
	return asWorld[len(asWorld)/2] < asCam[len(asCam)/2]
}

// reprojError is the distance (px) from x's projection to uv; +Inf when
// x is not in front of the camera.
func reprojError(c *pose.Camera, x pose.Vec3, uv pose.Vec2) float64 {
	if !(x[2] > 0) {
		return math.Inf(1)
	}
	q := c.Project(x)
	d := math.Hypot(q[0]-uv[0], q[1]-uv[1])
	if math.IsNaN(d) {
		return math.Inf(1)
	}
	return d
}

// medianBone is the median length of the 16 bones over the n poses of S
// ([n,17,4], x, y, z and visibility), in S's units (0 without poses).
func medianBone(S []float64, n int) float64 {
	var l []float64
	for i := 0; i < n; i++ {
		for j := 1; j < pose.NumJoints; j++ {
			a, b := S[(i*pose.NumJoints+j)*4:], S[(i*pose.NumJoints+pose.Parents[j])*4:]
			l = append(l, math.Sqrt((a[0]-b[0])*(a[0]-b[0])+(a[1]-b[1])*(a[1]-b[1])+(a[2]-b[2])*(a[2]-b[2])))
		}
	}
	if len(l) == 0 {
		return 0
	}
	sort.Float64s(l)
	return l[len(l)/2]
}
