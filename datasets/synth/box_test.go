package synth

import (
	"math"
	"testing"

	"poselab/datasets"
	"poselab/datasets/h36m"
	"poselab/datasets/mpii"
)

// mpiiBoxRatios measures MPII people against their box side (Scale x 200
// px): the head segment (upper neck -> head top, both visible) and the
// height (head top -> each visible ankle).
func mpiiBoxRatios(recs []datasets.MPIIRecord) (head, height []float64) {
	for _, r := range recs {
		side := r.Scale * 200
		if r.Vis[9] == 0 {
			continue
		}
		if r.Vis[8] > 0 {
			head = append(head, dist2(r.Joints[8], r.Joints[9])/side)
		}
		for _, a := range []int{0, 5} {
			if r.Vis[a] > 0 {
				height = append(height, dist2(r.Joints[a], r.Joints[9])/side)
			}
		}
	}
	return head, height
}

// Synthetic person boxes relate to the people as the real ones do, so
// that crops (Center, Scale x 200 px) show synthetic people at a real
// person's size. Real Human3.6M boxes (mmpose's 4 frames) are 1.2 x the
// joints' larger extent. Real MPII boxes follow the head: on all 5 real
// people the head segment is exactly 1/6 of the box, and head top ->
// ankle is 0.67..0.93 of it. Synthetic boxes were 1.25 x the extent
// (0.80) and, with a crown 20 mm above the Head joint, the synthetic head
// segment was 0.113 of the box.
func TestSyntheticBoxesLikeRealBoxes(t *testing.T) {
	cams, err := h36m.LoadMMPoseCameras("../h36m/testdata/cameras.pkl")
	if err != nil {
		t.Fatal(err)
	}
	realH, err := h36m.LoadMMPose("../h36m/testdata/test_h36m_body3d.npz", cams)
	if err != nil {
		t.Fatal(err)
	}
	extent := func(r *datasets.Record) float64 {
		x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, p := range r.Joints2D {
			x0, x1 = min(x0, p[0]), max(x1, p[0])
			y0, y1 = min(y0, p[1]), max(y1, p[1])
		}
		return max(x1-x0, y1-y0) / (r.Scale * 200)
	}
	var re []float64
	for i := range realH {
		re = append(re, extent(&realH[i]))
	}
	lo, hi := span(re)
	d := newTiny(t, 1)
	recs, err := d.Records(datasets.Train)
	if err != nil {
		t.Fatal(err)
	}
	var se []float64
	for i := range recs {
		se = append(se, extent(&recs[i]))
	}
	med := median(se)
	t.Logf("Human3.6M joints' extent / box: real %.3f..%.3f, synthetic median %.3f", lo, hi, med)
	if med < lo-1e-3 || med > hi+1e-3 {
		t.Errorf("synthetic Human3.6M-like extent / box %.3f outside the real %.3f..%.3f", med, lo, hi)
	}

	realM, err := mpii.Load("../mpii/testdata/test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	rh, rt := mpiiBoxRatios(realM)
	hlo, hhi := span(rh)
	tlo, thi := span(rt)
	if hhi-hlo > 1e-4 || len(rt) < 4 {
		t.Fatalf("real MPII head / box %.5f..%.5f, %d ankles: test data changed?", hlo, hhi, len(rt))
	}
	mp, err := d.MPII(datasets.Train)
	if err != nil {
		t.Fatal(err)
	}
	sh, st := mpiiBoxRatios(mp)
	mh, mt := median(sh), median(st)
	// A real person's head / box is fixed (1/6), so the real spread of
	// height / box is the spread of height / head: a synthetic person
	// whose proportions lie within it and whose height / box does too has
	// head / box within 1/6 x [tlo/thi, thi/tlo].
	wlo, whi := hlo*tlo/thi, hhi*thi/tlo
	t.Logf("MPII head top -> ankle / box: real %.3f..%.3f, synthetic median %.3f (%d); head segment / box: real %.3f, synthetic median %.3f (%d, bound %.3f..%.3f)",
		tlo, thi, mt, len(st), hlo, mh, len(sh), wlo, whi)
	if mt < tlo || mt > thi {
		t.Errorf("synthetic MPII head top -> ankle / box %.3f outside the real %.3f..%.3f", mt, tlo, thi)
	}
	if mh < wlo || mh > whi {
		t.Errorf("synthetic MPII head segment / box %.3f outside %.3f..%.3f", mh, wlo, whi)
	}
}
