package h36m

import (
	"fmt"
	"math"
	"sort"

	"poselab/datasets/internal/pyload"
	"poselab/pose"
)

// VideoPose3DJoints are the indices of the 17 Human3.6M joints among
// VideoPose3D's 32 motion-capture joints.
var VideoPose3DJoints = [pose.NumJoints]int{0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27}

// Sequences3D maps subject -> action (e.g. "Directions 1") -> frames of
// 17 world-space joints in mm (z up).
type Sequences3D map[string]map[string][]pose.Pose3D

// Sequences2D maps subject -> action -> camera index (0..3) -> frames of
// 17 joints in px; a camera without data (all NaN) has no frames, and
// frames keep their indices (they align with the 3D frames).
type Sequences2D map[string]map[string][4][]pose.Pose2D

// LoadVideoPose3D3D reads VideoPose3D's data_3d_h36m.npz: `positions_3d`,
// a pickled dict subject -> action -> [T,32,3] metres (world), reduced to
// 17 joints and converted to mm.
func LoadVideoPose3D3D(path string) (Sequences3D, error) {
	data, err := pyload.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseVideoPose3D3D(data, path)
}

// ParseVideoPose3D3D is LoadVideoPose3D3D on bytes.
func ParseVideoPose3D3D(data []byte, name string) (Sequences3D, error) {
	root, err := objectDict(data, name, "positions_3d")
	if err != nil {
		return nil, err
	}
	out := Sequences3D{}
	err = eachSubjectAction(root, func(subj, act string, v any) error {
		f, shape, err := pyload.Floats(v)
		if err != nil {
			return err
		}
		if len(shape) != 3 || shape[2] != 3 || (shape[1] != 32 && shape[1] != pose.NumJoints) {
			return fmt.Errorf("shape %v, want [T,32,3] or [T,17,3]", shape)
		}
		if i := pyload.Finite(f); i >= 0 {
			return fmt.Errorf("value %s is %v", pyload.Index(i, shape...), f[i])
		}
		nj := shape[1]
		frames := make([]pose.Pose3D, shape[0])
		for t := range frames {
			for j := 0; j < pose.NumJoints; j++ {
				src := j
				if nj == 32 {
					src = VideoPose3DJoints[j]
				}
				o := (t*nj + src) * 3
				frames[t][j] = pose.Vec3{1000 * f[o], 1000 * f[o+1], 1000 * f[o+2]}
			}
		}
		if out[subj] == nil {
			out[subj] = map[string][]pose.Pose3D{}
		}
		out[subj][act] = frames
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: positions_3d: %v", name, err)
	}
	return out, nil
}

// LoadVideoPose3D2D reads VideoPose3D's data_2d_h36m_*.npz:
// `positions_2d`, subject -> action -> list of 4 cameras' [T,17,2] px.
// A camera whose frames are all NaN (no data) gets no frames.
func LoadVideoPose3D2D(path string) (Sequences2D, error) {
	data, err := pyload.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseVideoPose3D2D(data, path)
}

// ParseVideoPose3D2D is LoadVideoPose3D2D on bytes.
func ParseVideoPose3D2D(data []byte, name string) (Sequences2D, error) {
	root, err := objectDict(data, name, "positions_2d")
	if err != nil {
		return nil, err
	}
	out := Sequences2D{}
	err = eachSubjectAction(root, func(subj, act string, v any) error {
		list, ok := v.(*pyList)
		if !ok || list.Len() > 4 {
			return fmt.Errorf("want a list of up to 4 cameras' arrays, got %T", v)
		}
		var cams [4][]pose.Pose2D
		for c := 0; c < list.Len(); c++ {
			f, shape, err := pyload.Floats(list.Get(c))
			if err != nil {
				return fmt.Errorf("camera %d: %v", c, err)
			}
			if len(shape) != 3 || shape[1] != pose.NumJoints || shape[2] != 2 {
				return fmt.Errorf("camera %d: shape %v, want [T,17,2]", c, shape)
			}
			frames := make([]pose.Pose2D, shape[0])
			allNaN := true
			for t := range frames {
				for j := 0; j < pose.NumJoints; j++ {
					o := (t*pose.NumJoints + j) * 2
					frames[t][j] = pose.Vec2{f[o], f[o+1]}
					if !math.IsNaN(f[o]) || !math.IsNaN(f[o+1]) {
						allNaN = false
					}
					if math.IsInf(f[o], 0) || math.IsInf(f[o+1], 0) {
						return fmt.Errorf("camera %d frame %d: infinite value", c, t)
					}
				}
			}
			if !allNaN {
				cams[c] = frames
			}
		}
		if out[subj] == nil {
			out[subj] = map[string][4][]pose.Pose2D{}
		}
		out[subj][act] = cams
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: positions_2d: %v", name, err)
	}
	return out, nil
}

// objectDict opens an npz and returns the dict pickled in its object
// array key.
func objectDict(data []byte, name, key string) (*pyDict, error) {
	z, err := pyload.OpenNPZ(data, name)
	if err != nil {
		return nil, err
	}
	a, err := z.Array(key)
	if err != nil {
		return nil, err
	}
	v := a.Data()
	if l, ok := v.(*pyList); ok && l.Len() == 1 {
		v = l.Get(0) // the 0-d object array's single element
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%s: %s is %T, want a pickled dict (object array)", name, key, v)
	}
	return d, nil
}

// eachSubjectAction walks subject -> action dicts in sorted order.
func eachSubjectAction(root *pyDict, fn func(subj, act string, v any) error) error {
	for _, subj := range sortedKeys(root) {
		sv, _ := root.Get(subj)
		acts, ok := sv.(*pyDict)
		if !ok {
			return fmt.Errorf("subject %s: want a dict of actions, got %T", subj, sv)
		}
		for _, act := range sortedKeys(acts) {
			v, _ := acts.Get(act)
			if err := fn(subj, act, v); err != nil {
				return fmt.Errorf("%s %q: %v", subj, act, err)
			}
		}
	}
	return nil
}

func sortedKeys(d *pyDict) []string {
	var ks []string
	for _, e := range *d {
		if s, ok := e.Key.(string); ok {
			ks = append(ks, s)
		}
	}
	sort.Strings(ks)
	return ks
}
