package h36m

import (
	"fmt"

	"poselab/datasets"
	"poselab/datasets/internal/pyload"
	"poselab/pose"
)

// LoadMMPose reads mmpose's Human3.6M npz (`imgname` [N], `center` [N,2],
// `scale` [N], `part` [N,17,3] px + visibility, `S` [N,17,4] camera
// coordinates in metres + visibility) into records with Joints3D in mm.
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
			return nil, fmt.Errorf("%s: %s: value %d is %v", name, key, i, f[i])
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
	recs := make([]datasets.Record, n)
	for i := range recs {
		r := &recs[i]
		info := ParseImageName(names[i])
		r.ID, r.Image, r.Subject, r.Action, r.Frame = i, names[i], info.Subject, info.Action, info.Frame
		r.CamIndex = CameraIndex(info.CameraID)
		cam, ok := cams[CameraKey{info.Subject, info.CameraID}]
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
			r.Joints3D[j] = pose.Vec3{1000 * s[0], 1000 * s[1], 1000 * s[2]}
			r.Vis[j] = s[3]
		}
		r.HasLabels = true
	}
	return recs, nil
}
