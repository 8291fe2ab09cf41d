package synth

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"poselab/datasets"
	"poselab/datasets/h36m"
	"poselab/pose"
)

// How a proportion is checked against the real frames' range: not at all
// (logged only: the 4 real frames show too little of its spread, as for
// arm and leg bones that vary per subject), its synthetic median, or its
// median and its p10..p90 within 5% of the range.
const (
	logged = iota
	checkMedian
	checkSpread
)

// proportion is one measure of a Human3.6M-like person.
type proportion struct {
	name  string
	check int
	f     func(r *datasets.Record) float64
}

func joint3(r *datasets.Record, a, b int) float64 { return norm(sub(r.Joints3D[b], r.Joints3D[a])) }

func joint2(r *datasets.Record, a, b int) float64 { return dist2(r.Joints2D[a], r.Joints2D[b]) }

func torso3(r *datasets.Record) float64 { return joint3(r, pose.Hip, pose.Thorax) }

// angle3 is the angle (degrees) between a -> b and c -> d in 3D.
func angle3(r *datasets.Record, a, b, c, d int) float64 {
	u := unit(sub(r.Joints3D[b], r.Joints3D[a]))
	v := unit(sub(r.Joints3D[d], r.Joints3D[c]))
	return math.Acos(clamp(dot(u, v), -1, 1)) * 180 / math.Pi
}

// bothSides is the mean of a measure over the left and the right bone.
func bothSides(r *datasets.Record, f func(r *datasets.Record, a, b int) float64, l0, l1, r0, r1 int) float64 {
	return (f(r, l0, l1) + f(r, r0, r1)) / 2
}

var proportions = []proportion{
	{"angle Thorax->Neck/Nose, Neck/Nose->Head (deg)", checkSpread, func(r *datasets.Record) float64 {
		return angle3(r, pose.Thorax, pose.Neck, pose.Neck, pose.Head)
	}},
	{"Thorax->Head (mm)", checkSpread, func(r *datasets.Record) float64 { return joint3(r, pose.Thorax, pose.Head) }},
	{"Thorax->Head / torso (2D)", checkMedian, func(r *datasets.Record) float64 {
		return joint2(r, pose.Thorax, pose.Head) / joint2(r, pose.Hip, pose.Thorax)
	}},
	{"Neck/Nose off the Thorax-Head line (mm)", checkSpread, func(r *datasets.Record) float64 {
		a, n := r.Joints3D[pose.Thorax], r.Joints3D[pose.Neck]
		ax := unit(sub(r.Joints3D[pose.Head], a))
		v := sub(n, a)
		return norm(sub(v, scale(ax, dot(v, ax))))
	}},
	{"Thorax->Head / torso (3D)", logged, func(r *datasets.Record) float64 { return joint3(r, pose.Thorax, pose.Head) / torso3(r) }},
	{"Thorax->Neck/Nose / torso (2D)", logged, func(r *datasets.Record) float64 {
		return joint2(r, pose.Thorax, pose.Neck) / joint2(r, pose.Hip, pose.Thorax)
	}},
	{"angle torso, Thorax->Head (deg)", logged, func(r *datasets.Record) float64 {
		return angle3(r, pose.Hip, pose.Thorax, pose.Thorax, pose.Head)
	}},
	{"torso Hip->Thorax (mm)", logged, torso3},
	{"shoulder width / torso", checkMedian, func(r *datasets.Record) float64 { return joint3(r, pose.LShoulder, pose.RShoulder) / torso3(r) }},
	{"hip width / torso", checkSpread, func(r *datasets.Record) float64 { return joint3(r, pose.LHip, pose.RHip) / torso3(r) }},
	{"upper arm / torso", logged, func(r *datasets.Record) float64 {
		return bothSides(r, joint3, pose.LShoulder, pose.LElbow, pose.RShoulder, pose.RElbow) / torso3(r)
	}},
	{"forearm / torso", logged, func(r *datasets.Record) float64 {
		return bothSides(r, joint3, pose.LElbow, pose.LWrist, pose.RElbow, pose.RWrist) / torso3(r)
	}},
	{"thigh / torso", logged, func(r *datasets.Record) float64 {
		return bothSides(r, joint3, pose.LHip, pose.LKnee, pose.RHip, pose.RKnee) / torso3(r)
	}},
	{"shin / torso", logged, func(r *datasets.Record) float64 {
		return bothSides(r, joint3, pose.LKnee, pose.LFoot, pose.RKnee, pose.RFoot) / torso3(r)
	}},
	{"angle Hip->Spine, Spine->Thorax (deg)", logged, func(r *datasets.Record) float64 {
		return angle3(r, pose.Hip, pose.Spine, pose.Spine, pose.Thorax)
	}},
	{"angle torso, Thorax->shoulder (deg)", checkSpread, func(r *datasets.Record) float64 {
		return (angle3(r, pose.Hip, pose.Thorax, pose.Thorax, pose.LShoulder) + angle3(r, pose.Hip, pose.Thorax, pose.Thorax, pose.RShoulder)) / 2
	}},
	{"angle torso, RHip->LHip (deg)", logged, func(r *datasets.Record) float64 {
		return angle3(r, pose.RHip, pose.LHip, pose.Hip, pose.Thorax)
	}},
}

// Synthetic Human3.6M-like people have the real frames' proportions. The
// real range of each measure comes from mmpose's 4 real frames. The
// clips' straight Thorax -> Neck/Nose -> Head chain gave a bend of 11
// degrees (real 48..108), Thorax -> Head 239 mm (real 136..215) and 0.50
// of the torso in the image (real 0.34..0.42); three clips' low hip
// joints made the hips 0.30 of the torso wide (p10; real 0.52..0.57) and
// their shrugged shoulders 65 degrees from the torso (p10; real 93..122).
func TestH36MProportionsLikeRealH36M(t *testing.T) {
	cams, err := h36m.LoadMMPoseCameras("../h36m/testdata/cameras.pkl")
	if err != nil {
		t.Fatal(err)
	}
	real, err := h36m.LoadMMPose("../h36m/testdata/test_h36m_body3d.npz", cams)
	if err != nil {
		t.Fatal(err)
	}
	if len(real) != 4 {
		t.Fatalf("%d real frames, want 4: test data changed?", len(real))
	}
	syn, err := newTiny(t, 1).Records(datasets.Train)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("\n| measure | real (4 frames) | synthetic p10 / median / p90 |\n|---|---|---|\n")
	for _, m := range proportions {
		var rv, sv []float64
		for i := range real {
			rv = append(rv, m.f(&real[i]))
		}
		for i := range syn {
			sv = append(sv, m.f(&syn[i]))
		}
		lo, hi := span(rv)
		slices.Sort(sv)
		n := len(sv)
		p10, med, p90 := sv[n/10], sv[n/2], sv[9*n/10]
		fmt.Fprintf(&b, "| %s | %.3g..%.3g | %.3g / %.3g / %.3g |\n", m.name, lo, hi, p10, med, p90)
		if m.check >= checkMedian && (med < lo || med > hi) {
			t.Errorf("%s: synthetic median %.3g outside the real %.3g..%.3g", m.name, med, lo, hi)
		}
		if m.check == checkSpread && (p10 < 0.95*lo || p90 > 1.05*hi) {
			t.Errorf("%s: synthetic p10..p90 %.3g..%.3g outside the real %.3g..%.3g (+-5%%)", m.name, p10, p90, lo, hi)
		}
	}
	t.Log(b.String())
}

// The Neck/Nose joint lies in front of the chest, as on every real frame.
func TestNeckNoseInFront(t *testing.T) {
	syn, err := newTiny(t, 1).Records(datasets.Train)
	if err != nil {
		t.Fatal(err)
	}
	front := 0
	for i := range syn {
		p := syn[i].Joints3D
		_, _, fwd := bodyFrame(&p)
		ax := unit(sub(p[pose.Head], p[pose.Thorax]))
		v := sub(p[pose.Neck], p[pose.Thorax])
		if dot(sub(v, scale(ax, dot(v, ax))), fwd) > 0 {
			front++
		}
	}
	if front < 9*len(syn)/10 {
		t.Errorf("Neck/Nose in front of the Thorax-Head line on %d of %d people, want 90%%", front, len(syn))
	}
}
