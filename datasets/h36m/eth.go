package h36m

import (
	"fmt"
	"sort"

	"poselab/datasets"
	"poselab/datasets/internal/pyload"
	"poselab/pose"
)

// LoadETH reads an ETH Machine Perception 2021 annotation pickle
// (h36m/annot/{train,val,test}.pkl): a dict camera number (1..4) -> list
// of record dicts with image, center_x/center_y, width/height (person box,
// px), joints_3d [17,3] (u, v px of the original image, depth relative to
// the pelvis in mm), joints_3d_vis, pelvis (camera coordinates, mm), fl,
// c_p and a pickled lib.utils.cameras.Camera.
//
// Records come out in camera order, then file order, IDs 0..N-1:
//   - Joints2D = (u, v) as stored (with lens distortion, like the images);
//   - Joints3D = the seed's ground truth: each (u, v) back-projected
//     through the pinhole fl/c_p at depth pelvis_z + relative depth. The
//     stored (u, v) carry lens distortion, so this differs from the true
//     camera coordinates by a few mm (1.7 to 7 mm mean on the real
//     frames; LoadETHWith with Undistort recovers them to < 0.01 mm);
//   - Scale = max(width, height) / 200, which equals mmpose's `scale` for
//     the same frames;
//   - Vis = the first column of joints_3d_vis;
//   - Cam: the pickled camera's R, T, k, p (VideoPose3D order) and the
//     record's fl/c_p.
//
// A split without joints (test.pkl) gives records with HasLabels false,
// Joints3D holding only the pelvis (the root, known to the evaluation).
func LoadETH(path string) ([]datasets.Record, error) {
	return LoadETHWith(path, ETHOptions{})
}

// ETHOptions change how LoadETH builds records.
type ETHOptions struct {
	// Undistort back-projects undistorted pixels (the pickled camera's k,
	// p), which recovers the true camera coordinates instead of the
	// seed's pinhole approximation (up to ~56 mm off near image borders
	// on synthetic frames).
	Undistort bool
}

// LoadETHWith is LoadETH with options.
func LoadETHWith(path string, opt ETHOptions) ([]datasets.Record, error) {
	v, err := pyload.LoadPickle(path)
	if err != nil {
		return nil, err
	}
	recs, err := ethRecords(v, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return recs, nil
}

// ParseETH is LoadETH on bytes; errors carry no file name.
func ParseETH(data []byte) ([]datasets.Record, error) {
	v, err := pyload.LoadsPickle(data)
	if err != nil {
		return nil, err
	}
	return ethRecords(v, ETHOptions{})
}

func ethRecords(v any, opt ETHOptions) ([]datasets.Record, error) {
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("want a dict camera -> records, got %T", v)
	}
	type camList struct {
		cam  int
		list *pyList
	}
	var cams []camList
	for _, e := range *d {
		c, err := pyload.Number(e.Key)
		if err != nil || c < 1 || c > 4 || c != float64(int(c)) {
			return nil, fmt.Errorf("key %v is not a camera number 1..4", e.Key)
		}
		l, ok := e.Value.(*pyList)
		if !ok {
			return nil, fmt.Errorf("camera %d: want a list of records, got %T", int(c), e.Value)
		}
		cams = append(cams, camList{int(c), l})
	}
	sort.Slice(cams, func(i, j int) bool { return cams[i].cam < cams[j].cam })
	n := 0
	for _, cl := range cams {
		n += cl.list.Len()
	}
	// Sized once: a Record is large, and growing the slice copied 40,000
	// of them over and over (a tenth of a large train.pkl's load).
	out := make([]datasets.Record, 0, n)
	for _, cl := range cams {
		for i := 0; i < cl.list.Len(); i++ {
			r, err := ethRecord(cl.list.Get(i), cl.cam-1, opt)
			if err != nil {
				return nil, fmt.Errorf("camera %d record %d: %v", cl.cam, i, err)
			}
			r.ID = len(out)
			out = append(out, r)
		}
	}
	return out, nil
}

func ethRecord(v any, camIndex int, opt ETHOptions) (datasets.Record, error) {
	var r datasets.Record
	if _, ok := v.(*pyDict); !ok {
		return r, fmt.Errorf("want a dict, got %T", v)
	}
	num := func(key string) (float64, error) {
		x, ok := pyload.Get(v, key)
		if !ok {
			return 0, fmt.Errorf("no %q", key)
		}
		f, err := pyload.Number(x)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", key, err)
		}
		if pyload.Finite([]float64{f}) >= 0 {
			return 0, fmt.Errorf("%s is %v", key, f)
		}
		return f, nil
	}
	arr := func(key string, shape ...int) ([]float64, error) {
		x, ok := pyload.Get(v, key)
		if !ok {
			return nil, fmt.Errorf("no %q", key)
		}
		f, err := pyload.FloatsShaped(x, shape...)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", key, err)
		}
		if i := pyload.Finite(f); i >= 0 {
			return nil, fmt.Errorf("%s%s is %v", key, pyload.Index(i, shape...), f[i])
		}
		return f, nil
	}
	img, ok := pyload.Get(v, "image")
	if s, isStr := img.(string); ok && isStr {
		r.Image = s
	} else {
		return r, fmt.Errorf("no \"image\" string")
	}
	cx, err := num("center_x")
	if err != nil {
		return r, err
	}
	cy, err := num("center_y")
	if err != nil {
		return r, err
	}
	w, err := num("width")
	if err != nil {
		return r, err
	}
	h, err := num("height")
	if err != nil {
		return r, err
	}
	if !(max(w, h) > 0) { // Scale would be 0: every crop black
		return r, fmt.Errorf("person box %v x %v px is empty", w, h)
	}
	pelvis, err := arr("pelvis", 3)
	if err != nil {
		return r, err
	}
	fl, err := arr("fl", 2)
	if err != nil {
		return r, err
	}
	cp, err := arr("c_p", 2)
	if err != nil {
		return r, err
	}
	if !(fl[0] > 0 && fl[1] > 0) {
		return r, fmt.Errorf("focal length %v is not positive", fl)
	}
	info := ParseImageName(r.Image)
	r.Subject, r.Action, r.Frame, r.CamIndex = info.Subject, info.Action, info.Frame, camIndex
	r.Center = pose.Vec2{cx, cy}
	r.Scale = max(w, h) / 200
	r.Cam = ethCamera(v, camIndex)
	r.Cam.Fx, r.Cam.Fy, r.Cam.Cx, r.Cam.Cy = fl[0], fl[1], cp[0], cp[1]
	// The frame size goes with the camera, which the pickled camera's
	// name or the image's name says better than the dict key does (the
	// image loader refuses a frame of another size).
	for _, id := range []string{r.Cam.ID, info.CameraID} {
		if k := CameraIndex(id); k >= 0 {
			r.Cam.W, r.Cam.H = pose.H36MIntrinsics[k].W, pose.H36MIntrinsics[k].H
			break
		}
	}
	if _, has := pyload.Get(v, "joints_3d"); !has {
		// Test split: no labels, only the root the evaluation adds back.
		r.Joints3D[pose.Hip] = pose.Vec3{pelvis[0], pelvis[1], pelvis[2]}
		return r, nil
	}
	j3, err := arr("joints_3d", pose.NumJoints, 3)
	if err != nil {
		return r, err
	}
	vis, err := pyload.FloatsShaped(mustGet(v, "joints_3d_vis"), pose.NumJoints, 3)
	if err != nil {
		// Older dumps store one flag per joint.
		vis, err = pyload.FloatsShaped(mustGet(v, "joints_3d_vis"), pose.NumJoints)
		if err != nil {
			return r, fmt.Errorf("joints_3d_vis: %v", err)
		}
		vis3 := make([]float64, 3*pose.NumJoints)
		for j := range vis {
			vis3[3*j] = vis[j]
		}
		vis = vis3
	}
	for j := 0; j < pose.NumJoints; j++ {
		u, vv, rel := j3[3*j], j3[3*j+1], j3[3*j+2]
		r.Joints2D[j] = pose.Vec2{u, vv}
		px := r.Joints2D[j]
		if opt.Undistort {
			px = Undistort(&r.Cam, px)
		}
		r.Joints3D[j] = r.Cam.BackProject(px, pelvis[2]+rel)
		r.Vis[j] = vis[3*j]
	}
	r.HasLabels = true
	return r, nil
}

func mustGet(v any, key string) any {
	x, _ := pyload.Get(v, key)
	return x
}

// ethCamera reads the pickled lib.utils.cameras.Camera (R, T, fx, fy, cx,
// cy, k, p, name) when present; otherwise the camera has the Human3.6M
// intrinsics of its index.
func ethCamera(rec any, camIndex int) pose.Camera {
	cam := pose.H36MIntrinsics[camIndex]
	obj, ok := pyload.Get(rec, "camera")
	if !ok {
		return cam
	}
	o, ok := obj.(*pyload.Object)
	if !ok {
		return cam
	}
	if name, ok := pyload.Get(o, "name"); ok {
		if s, ok := name.(string); ok {
			cam.ID = s
		}
	}
	if x, ok := pyload.Get(o, "R"); ok {
		if R, err := pyload.FloatsShaped(x, 3, 3); err == nil && pyload.Finite(R) < 0 {
			for r := 0; r < 3; r++ {
				copy(cam.R[r][:], R[3*r:3*r+3])
			}
		}
	}
	if x, ok := pyload.Get(o, "T"); ok {
		if T, err := pyload.FloatsShaped(x, 3); err == nil && pyload.Finite(T) < 0 {
			copy(cam.T[:], T)
		}
	}
	if x, ok := pyload.Get(o, "k"); ok {
		if k, err := pyload.FloatsShaped(x, 3); err == nil && pyload.Finite(k) < 0 {
			copy(cam.K[:], k)
		}
	}
	if x, ok := pyload.Get(o, "p"); ok {
		if p, err := pyload.FloatsShaped(x, 2); err == nil && pyload.Finite(p) < 0 {
			copy(cam.P[:], p)
		}
	}
	return cam
}

// Undistort inverts the camera's lens distortion for one pixel: it returns
// the pinhole pixel whose distorted projection is uv (fixed-point
// iteration on normalised coordinates; converges in a few steps for
// Human3.6M's mild distortion).
func Undistort(cam *pose.Camera, uv pose.Vec2) pose.Vec2 {
	xd, yd := (uv[0]-cam.Cx)/cam.Fx, (uv[1]-cam.Cy)/cam.Fy
	x, y := xd, yd
	for it := 0; it < 50; it++ {
		d := cam.Project(pose.Vec3{x, y, 1})
		ex, ey := (d[0]-cam.Cx)/cam.Fx-xd, (d[1]-cam.Cy)/cam.Fy-yd
		x, y = x-ex, y-ey
		if ex*ex+ey*ey < 1e-24 {
			break
		}
	}
	return pose.Vec2{cam.Fx*x + cam.Cx, cam.Fy*y + cam.Cy}
}
