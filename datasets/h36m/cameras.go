// Package h36m loads Human3.6M in the layouts the real data comes in:
// the camera calibration (poselab's cameras.json, mmpose's cameras.pkl),
// ETH Machine Perception 2021's annotation pickles, mmpose's npz frames and
// VideoPose3D's npz archives. Everything comes out as pose.Camera and
// datasets.Record values: mm, camera or world coordinates as documented
// per loader, H36M 17-joint order.
package h36m

import (
	"encoding/json"
	"fmt"
	"os"

	"poselab/datasets/internal/pyload"
	"poselab/pose"
)

// CameraKey names one calibrated camera: a subject's recording seen by a
// camera (extrinsics and distortion differ per subject).
type CameraKey struct {
	Subject string // "S1"
	ID      string // "54138969"
}

// Cameras maps subject and camera id to a calibrated camera.
type Cameras map[CameraKey]pose.Camera

// CameraIndex returns the index (0..3) of a Human3.6M camera id, or -1.
func CameraIndex(id string) int {
	for i, c := range pose.H36MIntrinsics {
		if c.ID == id {
			return i
		}
	}
	return -1
}

type cameraJSON struct {
	Subject    string      `json:"subject"`
	ID         string      `json:"id"`
	R          [][]float64 `json:"R_world_to_cam"`
	T          []float64   `json:"translation"`
	Focal      []float64   `json:"focal_length"`
	Center     []float64   `json:"center"`
	Radial     []float64   `json:"radial_distortion"`
	Tangential []float64   `json:"tangential_distortion"`
	W          int         `json:"res_w"`
	H          int         `json:"res_h"`
}

// LoadCamerasJSON reads poselab's cameras.json (all 28 Human3.6M cameras;
// tangential distortion in VideoPose3D order, translation in mm).
func LoadCamerasJSON(path string) (Cameras, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseCamerasJSON(data, path)
}

// ParseCamerasJSON parses cameras.json bytes; name labels errors.
func ParseCamerasJSON(data []byte, name string) (Cameras, error) {
	var doc struct {
		Cameras []cameraJSON `json:"cameras"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not a cameras.json: %v", name, err)
	}
	if len(doc.Cameras) == 0 {
		return nil, fmt.Errorf("%s: no cameras", name)
	}
	out := Cameras{}
	for i, c := range doc.Cameras {
		where := fmt.Sprintf("%s: camera %d (%s %s)", name, i, c.Subject, c.ID)
		if c.Subject == "" || c.ID == "" {
			return nil, fmt.Errorf("%s: no subject or id", where)
		}
		if len(c.R) != 3 || len(c.T) != 3 || len(c.Focal) != 2 || len(c.Center) != 2 || len(c.Radial) != 3 || len(c.Tangential) != 2 {
			return nil, fmt.Errorf("%s: want R 3x3, translation 3, focal_length 2, center 2, radial_distortion 3, tangential_distortion 2", where)
		}
		cam := pose.Camera{ID: c.ID, Fx: c.Focal[0], Fy: c.Focal[1], Cx: c.Center[0], Cy: c.Center[1], W: c.W, H: c.H}
		for r := 0; r < 3; r++ {
			if len(c.R[r]) != 3 {
				return nil, fmt.Errorf("%s: R row %d has %d numbers", where, r, len(c.R[r]))
			}
			copy(cam.R[r][:], c.R[r])
		}
		copy(cam.T[:], c.T)
		copy(cam.K[:], c.Radial)
		copy(cam.P[:], c.Tangential)
		if err := checkCamera(&cam); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		k := CameraKey{c.Subject, c.ID}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%s: listed twice", where)
		}
		out[k] = cam
	}
	return out, nil
}

// LoadMMPoseCameras reads mmpose's cameras.pkl: a dict keyed
// (subject, camera id) of R (camera to world), T (camera centre, metres),
// f, c, k and p (cameras.h5 order, the reverse of pose.Camera.P).
func LoadMMPoseCameras(path string) (Cameras, error) {
	v, err := pyload.LoadPickle(path)
	if err != nil {
		return nil, err
	}
	cams, err := mmposeCameras(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return cams, nil
}

func mmposeCameras(v any) (Cameras, error) {
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("want a dict keyed (subject, camera id), got %T", v)
	}
	out := Cameras{}
	for _, e := range *d {
		kt, ok := e.Key.(*pyTuple)
		if !ok || kt.Len() != 2 {
			return nil, fmt.Errorf("key %v is not (subject, camera id)", e.Key)
		}
		subj, ok1 := kt.Get(0).(string)
		id, ok2 := kt.Get(1).(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("key %v is not (str, str)", e.Key)
		}
		where := subj + " " + id
		get := func(name string, n ...int) ([]float64, error) {
			x, ok := pyload.Get(e.Value, name)
			if !ok {
				return nil, fmt.Errorf("camera %s: no %q", where, name)
			}
			f, err := pyload.FloatsShaped(x, n...)
			if err != nil {
				return nil, fmt.Errorf("camera %s: %s: %v", where, name, err)
			}
			return f, nil
		}
		R, err := get("R", 3, 3)
		if err != nil {
			return nil, err
		}
		T, err := get("T", 3)
		if err != nil {
			return nil, err
		}
		f, err := get("f", 2)
		if err != nil {
			return nil, err
		}
		c, err := get("c", 2)
		if err != nil {
			return nil, err
		}
		k, err := get("k", 3)
		if err != nil {
			return nil, err
		}
		p, err := get("p", 2)
		if err != nil {
			return nil, err
		}
		cam := pose.Camera{ID: id, Fx: f[0], Fy: f[1], Cx: c[0], Cy: c[1]}
		for r := 0; r < 3; r++ {
			for col := 0; col < 3; col++ {
				cam.R[r][col] = R[3*col+r] // stored camera-to-world: transpose
			}
			cam.T[r] = 1000 * T[r] // metres -> mm
		}
		copy(cam.K[:], k)
		cam.P = [2]float64{p[1], p[0]} // cameras.h5 order -> VideoPose3D order
		if w, ok := pyload.Get(e.Value, "w"); ok {
			if x, err := pyload.Number(w); err == nil {
				cam.W = int(x)
			}
		}
		if h, ok := pyload.Get(e.Value, "h"); ok {
			if x, err := pyload.Number(h); err == nil {
				cam.H = int(x)
			}
		}
		if err := checkCamera(&cam); err != nil {
			return nil, fmt.Errorf("camera %s: %v", where, err)
		}
		out[CameraKey{subj, id}] = cam
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no cameras")
	}
	return out, nil
}

// checkCamera rejects non-finite numbers and non-positive focal lengths.
func checkCamera(c *pose.Camera) error {
	vals := []float64{c.Fx, c.Fy, c.Cx, c.Cy, c.K[0], c.K[1], c.K[2], c.P[0], c.P[1], c.T[0], c.T[1], c.T[2]}
	for _, r := range c.R {
		vals = append(vals, r[:]...)
	}
	if i := pyload.Finite(vals); i >= 0 {
		return fmt.Errorf("non-finite parameter")
	}
	if !(c.Fx > 0 && c.Fy > 0) {
		return fmt.Errorf("focal length %v, %v is not positive", c.Fx, c.Fy)
	}
	return nil
}
