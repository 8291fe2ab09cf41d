// Package mpii reads MPII human pose annotations in the JSON layout of
// ETH Machine Perception 2021, mmpose and Simple Baselines: a list of
// people with `image`, `center` [2], `scale` (box size / 200 px),
// `joints` [16][2] px, `joints_vis` [16] and, in evaluation files,
// `headbox` [[x1,y1],[x2,y2]].
//
// Pixel convention: these files keep the original MPII annotations'
// MATLAB coordinates, 1-based (the centre of an image's top-left pixel is
// (1, 1)); the readers of the format (Simple Baselines, HRNet, mmpose)
// subtract 1 from center and joints on read and add it back before
// scoring with the official tools. poselab's pixels are 0-based (pixel x
// shows coordinate x, as the crops and the synthetic renderer have it),
// so Load and ParsePredictions subtract 1 from every coordinate (center,
// joints, headbox) and Marshal adds it back: a file poselab writes is in
// the same convention as the real files, and reads back onto the same
// pixels.
//
// Crop box: a file's `center` and `scale` are not the box to crop. MPII
// sets scale from the head (on the real annotations the upper neck ->
// head top segment is 1/6 of scale x 200 px), and the square of side
// scale x 200 around center can cut off a standing person's feet (the
// ankles of testdata's person 052475643 lie 0.545 of it below center).
// Every reference reader that crops MPII people first moves the centre
// down by 15 x scale px and enlarges the box 1.25 x: Newell's
// pose-hg-train (the Stacked Hourglass code the seed report trains),
// Simple Baselines, HRNet and mmpose's top-down MPII data set (mmpose 1.x
// moves the centre in its loader and enlarges through its pipeline's
// default 1.25 box padding). Load does that once, so a record's Center
// and Scale are the box poselab crops (datasets.CropTransform), as for
// every other data set, and Marshal undoes it, so a written file holds
// MPII's own center and scale and reads back onto the same box.
package mpii

import (
	"encoding/json"
	"fmt"
	"math"
	"os"

	"poselab/datasets"
	"poselab/pose"
)

// Numbers are pointers: a JSON null (NaN as pandas writes it) would
// decode as 0 into a float64, a made-up pixel instead of an error.
type person struct {
	Image     *string      `json:"image"`
	Center    []*float64   `json:"center"`
	Scale     *float64     `json:"scale"`
	Joints    [][]*float64 `json:"joints"`
	JointsVis []*float64   `json:"joints_vis"`
	HeadBox   [][]*float64 `json:"headbox"`
}

// values dereferences numbers; ok is false if one of them is null.
func values(p []*float64) (v []float64, ok bool) {
	v = make([]float64, len(p))
	for i, x := range p {
		if x == nil {
			return nil, false
		}
		v[i] = *x
	}
	return v, true
}

// Load reads an MPII annotation file.
func Load(path string) ([]datasets.MPIIRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrap(err))
	}
	return Parse(data, path)
}

// Parse reads MPII annotations from bytes; name labels errors.
func Parse(data []byte, name string) ([]datasets.MPIIRecord, error) {
	var people []json.RawMessage
	if err := json.Unmarshal(data, &people); err != nil {
		return nil, fmt.Errorf("%s: not a JSON list of MPII people: %v", name, err)
	}
	out := make([]datasets.MPIIRecord, len(people))
	for i, raw := range people {
		var p person
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("%s: person %d: %v", name, i, err)
		}
		r := &out[i]
		r.ID = i
		if p.Image == nil {
			return nil, fmt.Errorf("%s: person %d: no \"image\"", name, i)
		}
		r.Image = *p.Image
		if len(p.Center) != 2 {
			return nil, fmt.Errorf("%s: person %d (%s): center has %d numbers, want 2", name, i, r.Image, len(p.Center))
		}
		center, ok := values(p.Center)
		if !ok {
			return nil, fmt.Errorf("%s: person %d (%s): center has a null", name, i, r.Image)
		}
		if p.Scale == nil || !(*p.Scale > 0) {
			return nil, fmt.Errorf("%s: person %d (%s): scale missing or not positive", name, i, r.Image)
		}
		r.Center, r.Scale = cropBox(fromFile(center[0], center[1]), *p.Scale)
		if len(p.Joints) != pose.NumMPIIJoints {
			return nil, fmt.Errorf("%s: person %d (%s): %d joints, want %d", name, i, r.Image, len(p.Joints), pose.NumMPIIJoints)
		}
		for j, pxy := range p.Joints {
			if len(pxy) != 2 {
				return nil, fmt.Errorf("%s: person %d (%s): joint %d has %d numbers, want 2", name, i, r.Image, j, len(pxy))
			}
			xy, ok := values(pxy)
			if !ok {
				return nil, fmt.Errorf("%s: person %d (%s): joint %d has a null", name, i, r.Image, j)
			}
			r.Joints[j] = fromFile(xy[0], xy[1])
		}
		if len(p.JointsVis) != pose.NumMPIIJoints {
			return nil, fmt.Errorf("%s: person %d (%s): joints_vis has %d entries, want %d", name, i, r.Image, len(p.JointsVis), pose.NumMPIIJoints)
		}
		vis, ok := values(p.JointsVis)
		if !ok {
			return nil, fmt.Errorf("%s: person %d (%s): joints_vis has a null", name, i, r.Image)
		}
		copy(r.Vis[:], vis)
		if p.HeadBox != nil {
			if len(p.HeadBox) != 2 || len(p.HeadBox[0]) != 2 || len(p.HeadBox[1]) != 2 {
				return nil, fmt.Errorf("%s: person %d (%s): headbox is not [[x1,y1],[x2,y2]]", name, i, r.Image)
			}
			a, okA := values(p.HeadBox[0])
			b, okB := values(p.HeadBox[1])
			if !okA || !okB {
				return nil, fmt.Errorf("%s: person %d (%s): headbox has a null", name, i, r.Image)
			}
			r.HeadBox = [2]pose.Vec2{fromFile(a[0], a[1]), fromFile(b[0], b[1])}
			if !HasHeadBox(*r) {
				return nil, fmt.Errorf("%s: person %d (%s): empty headbox", name, i, r.Image)
			}
		}
	}
	return out, nil
}

// fileOrigin is where the files' coordinates start: 1, MATLAB's first
// pixel (see the package comment).
const fileOrigin = 1

// fromFile turns a file's (1-based) coordinates into poselab's 0-based
// pixels.
func fromFile(x, y float64) pose.Vec2 { return pose.Vec2{x - fileOrigin, y - fileOrigin} }

// toFile is the inverse of fromFile.
func toFile(p pose.Vec2) [2]float64 { return [2]float64{p[0] + fileOrigin, p[1] + fileOrigin} }

// The reference readers' crop adjustment (see the package comment).
const (
	cropDown    = 15   // px per unit of scale that the crop centre lies below the file's center
	cropEnlarge = 1.25 // crop box side over the file's scale x 200 px
)

// cropBox turns a file's center (0-based) and scale into the crop box.
func cropBox(center pose.Vec2, scale float64) (pose.Vec2, float64) {
	return pose.Vec2{center[0], center[1] + cropDown*scale}, scale * cropEnlarge
}

// fileBox is the inverse of cropBox (to rounding: a box read back is
// within a few ulps of the one written).
func fileBox(center pose.Vec2, scale float64) (pose.Vec2, float64) {
	s := scale / cropEnlarge
	return pose.Vec2{center[0], center[1] - cropDown*s}, s
}

// fileJSON is one person as Marshal writes it.
type fileJSON struct {
	Image     string         `json:"image"`
	Center    [2]float64     `json:"center"`
	Scale     float64        `json:"scale"`
	Joints    [][2]float64   `json:"joints"`
	JointsVis []float64      `json:"joints_vis"`
	HeadBox   *[2][2]float64 `json:"headbox,omitempty"`
}

// Marshal writes records as an MPII annotation file (the layout Load
// reads), in the files' 1-based coordinates and with MPII's center and
// scale (the crop box undone, see the package comment). A record without
// a usable head box is written without "headbox" (an empty one would not
// load).
func Marshal(recs []datasets.MPIIRecord) ([]byte, error) {
	out := make([]fileJSON, len(recs))
	for i, r := range recs {
		c, s := fileBox(r.Center, r.Scale)
		o := fileJSON{Image: r.Image, Center: toFile(c), Scale: s,
			Joints: make([][2]float64, len(r.Joints)), JointsVis: r.Vis[:]}
		for j, p := range r.Joints {
			o.Joints[j] = toFile(p)
		}
		if HasHeadBox(r) {
			o.HeadBox = &[2][2]float64{toFile(r.HeadBox[0]), toFile(r.HeadBox[1])}
		}
		out[i] = o
	}
	return json.Marshal(out)
}

// HasHeadBox tells whether a record has a usable head box (PCKh needs one).
func HasHeadBox(r datasets.MPIIRecord) bool {
	return pose.HeadSize(r.HeadBox) > 0 && !math.IsInf(pose.HeadSize(r.HeadBox), 0)
}

// Prediction is one 2D prediction for PCKh scoring.
type Prediction struct {
	Image  string
	Joints [pose.NumMPIIJoints]pose.Vec2
}

// ParsePredictions reads a JSON list of {"image", "joints" [16][2]}, in
// the annotation files' 1-based coordinates (what the official MPII
// evaluation takes), like Parse.
func ParsePredictions(data []byte, name string) ([]Prediction, error) {
	var raw []struct {
		Image  *string      `json:"image"`
		Joints [][]*float64 `json:"joints"` // pointers: null is no 0 (see person)
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON list of {\"image\", \"joints\"}: %v", name, err)
	}
	out := make([]Prediction, len(raw))
	for i, p := range raw {
		if p.Image == nil {
			return nil, fmt.Errorf("%s: entry %d: no \"image\"", name, i)
		}
		out[i].Image = *p.Image
		if len(p.Joints) != pose.NumMPIIJoints {
			return nil, fmt.Errorf("%s: entry %d (%s): %d joints, want %d", name, i, *p.Image, len(p.Joints), pose.NumMPIIJoints)
		}
		for j, pxy := range p.Joints {
			if len(pxy) != 2 {
				return nil, fmt.Errorf("%s: entry %d (%s): joint %d has %d numbers, want 2", name, i, *p.Image, j, len(pxy))
			}
			xy, ok := values(pxy)
			if !ok {
				return nil, fmt.Errorf("%s: entry %d (%s): joint %d has a null", name, i, *p.Image, j)
			}
			out[i].Joints[j] = fromFile(xy[0], xy[1])
		}
	}
	return out, nil
}

// predictionJSON is one entry as MarshalPredictions writes it.
type predictionJSON struct {
	Image  string                         `json:"image"`
	Joints [pose.NumMPIIJoints][2]float64 `json:"joints"`
}

// MarshalPredictions writes 2D predictions in the layout ParsePredictions
// reads (and metrics --2d scores): a JSON list of {"image", "joints"
// [16][2]}, in the annotation files' 1-based coordinates, so that a file
// written here reads back onto the same pixels and the official MPII
// evaluation, which takes 1-based pixels, scores it as poselab does.
func MarshalPredictions(preds []Prediction) ([]byte, error) {
	out := make([]predictionJSON, len(preds))
	for i, p := range preds {
		out[i].Image = p.Image
		for j, xy := range p.Joints {
			if math.IsNaN(xy[0]+xy[1]) || math.IsInf(xy[0]+xy[1], 0) {
				return nil, fmt.Errorf("entry %d (%s): joint %d is not finite", i, p.Image, j)
			}
			out[i].Joints[j] = toFile(xy)
		}
	}
	return json.Marshal(out)
}

// LoadPredictions reads a 2D prediction file.
func LoadPredictions(path string) ([]Prediction, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrap(err))
	}
	return ParsePredictions(data, path)
}

// Persons turns records into what pose.PCKh scores.
func Persons(recs []datasets.MPIIRecord) []pose.MPIIPerson {
	out := make([]pose.MPIIPerson, len(recs))
	for i, r := range recs {
		out[i] = pose.MPIIPerson{Joints: r.Joints, Vis: r.Vis, HeadBox: r.HeadBox}
	}
	return out
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// SegmentHeadBox is a head box whose PCKh head size (0.6 x its diagonal)
// is the length of the segment a-b.
func SegmentHeadBox(a, b pose.Vec2) [2]pose.Vec2 {
	side := math.Hypot(b[0]-a[0], b[1]-a[1]) / 0.6 / math.Sqrt2
	return [2]pose.Vec2{{0, 0}, {side, side}}
}

// ScoredPerson is an MPII person as PCKh scores it (training's validation
// and poselab metrics --2d alike): by its head box, or,
// where it has none (ETH's and mmpose's MPII JSON carry none), by its
// head segment, upper neck to head top (docs/metrics.md); a zero box
// would make the threshold 0 and fail every joint. ok is false when
// neither is known: the person is left out.
func ScoredPerson(m *datasets.MPIIRecord) (g pose.MPIIPerson, ok bool) {
	g = pose.MPIIPerson{Joints: m.Joints, Vis: m.Vis, HeadBox: m.HeadBox}
	if hs := pose.HeadSize(m.HeadBox); hs > 0 && !math.IsInf(hs, 0) {
		return g, true
	}
	if !(m.Vis[pose.MPIIUpperNeck] > 0 && m.Vis[pose.MPIIHeadTop] > 0) {
		return g, false
	}
	g.HeadBox = SegmentHeadBox(m.Joints[pose.MPIIUpperNeck], m.Joints[pose.MPIIHeadTop])
	if hs := pose.HeadSize(g.HeadBox); !(hs > 0) || math.IsInf(hs, 0) {
		return g, false
	}
	return g, true
}
