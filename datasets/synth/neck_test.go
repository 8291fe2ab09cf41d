package synth

import (
	"math"
	"slices"
	"testing"

	"poselab/datasets"
	"poselab/datasets/mpii"
	"poselab/pose"
)

// neckRatio is where the upper neck lies along thorax -> head top in the
// image: its projection on that segment over the segment's length (0 at
// the thorax, 1 at the head top); ok is false for a degenerate segment.
func neckRatio(j [pose.NumMPIIJoints]pose.Vec2) (r float64, ok bool) {
	th, ne, top := j[7], j[8], j[9]
	vx, vy := top[0]-th[0], top[1]-th[1]
	l2 := vx*vx + vy*vy
	if !(l2 > 1e-6) {
		return 0, false
	}
	return ((ne[0]-th[0])*vx + (ne[1]-th[1])*vy) / l2, true
}

// The MPII-like people's upper neck sits where real MPII annotators put
// it, close to the thorax. The real range comes from the 5 real MPII
// people of the mpii package's test data (0.046..0.150); the generator
// once put it at 0.33 (55% of the way to the head centre).
func TestMPIIUpperNeckLikeRealMPII(t *testing.T) {
	real, err := mpii.Load("../mpii/testdata/test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range real {
		if x, ok := neckRatio(r.Joints); ok {
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	if !(lo > 0 && hi < 0.2) {
		t.Fatalf("real MPII neck ratio %.3f..%.3f: test data changed?", lo, hi)
	}
	recs, err := newTiny(t, 1).MPII(datasets.Train)
	if err != nil {
		t.Fatal(err)
	}
	var rs []float64
	for _, r := range recs {
		if x, ok := neckRatio(r.Joints); ok {
			rs = append(rs, x)
		}
	}
	slices.Sort(rs)
	med, p10, p90 := rs[len(rs)/2], rs[len(rs)/10], rs[9*len(rs)/10]
	t.Logf("upper neck along thorax -> head top: real %.3f..%.3f, synthetic p10 %.3f median %.3f p90 %.3f (%d people)", lo, hi, p10, med, p90, len(rs))
	if med < lo || med > hi {
		t.Errorf("synthetic median %.3f outside the real range %.3f..%.3f", med, lo, hi)
	}
	// Projection spreads the ratio; most people must still be near the
	// real range, not merely the median.
	if p10 < lo/2 || p90 > 1.5*hi {
		t.Errorf("synthetic p10..p90 %.3f..%.3f too far from the real range %.3f..%.3f", p10, p90, lo, hi)
	}
}

func dist2(a, b pose.Vec2) float64 { return math.Hypot(a[0]-b[0], a[1]-b[1]) }

// span is the smallest and largest of xs.
func span(xs []float64) (lo, hi float64) { return slices.Min(xs), slices.Max(xs) }

// median of xs (sorted in place).
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// The MPII-like head segment (upper neck -> head top) has the real
// people's length relative to the torso (pelvis -> thorax), independent of
// any box: 0.54..0.81 on the 5 real people, 0.47 when the synthetic crown
// sat 20 mm above the Head joint.
func TestMPIIProportionsLikeRealMPII(t *testing.T) {
	ratio := func(recs []datasets.MPIIRecord) []float64 {
		var out []float64
		for _, r := range recs {
			if r.Vis[6] == 0 || r.Vis[7] == 0 || r.Vis[8] == 0 || r.Vis[9] == 0 {
				continue
			}
			if tor := dist2(r.Joints[6], r.Joints[7]); tor > 1 {
				out = append(out, dist2(r.Joints[8], r.Joints[9])/tor)
			}
		}
		return out
	}
	real, err := mpii.Load("../mpii/testdata/test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := span(ratio(real))
	recs, err := newTiny(t, 1).MPII(datasets.Train)
	if err != nil {
		t.Fatal(err)
	}
	rs := ratio(recs)
	med := median(rs)
	t.Logf("head segment / torso: real %.3f..%.3f, synthetic median %.3f (%d people)", lo, hi, med, len(rs))
	if med < lo || med > hi {
		t.Errorf("synthetic head segment / torso %.3f outside the real %.3f..%.3f", med, lo, hi)
	}
}
