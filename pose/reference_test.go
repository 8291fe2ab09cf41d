package pose

import (
	"encoding/json"
	"os"
	"testing"
)

// TestMatchesNumpyReference compares every 3D metric with an independent
// numpy implementation (testdata/make_reference.py) on 40 noisy poses,
// some rotated, scaled and moved, one mirrored.
func TestMatchesNumpyReference(t *testing.T) {
	data, err := os.ReadFile("testdata/reference_metrics.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Pred, GT [][NumJoints]Vec3
		MPJPE    float64            `json:"mpjpe"`
		PMPJPE   float64            `json:"p_mpjpe"`
		NMPJPE   float64            `json:"n_mpjpe"`
		PCK150   float64            `json:"pck150"`
		AUC      float64            `json:"auc"`
		PerJoint [NumJoints]float64 `json:"per_joint"`
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	pred := make([]Pose3D, len(ref.Pred))
	gt := make([]Pose3D, len(ref.GT))
	for i := range pred {
		pred[i], gt[i] = ref.Pred[i], ref.GT[i]
	}
	r := Evaluate(pred, gt, nil)
	check := func(name string, got, want float64) {
		if !near(got, want, 1e-9*max(1, want)) {
			t.Errorf("%s = %.12g, numpy %.12g", name, got, want)
		}
	}
	check("MPJPE", r.MPJPE, ref.MPJPE)
	check("P-MPJPE", r.PMPJPE, ref.PMPJPE)
	check("N-MPJPE", r.NMPJPE, ref.NMPJPE)
	check("3DPCK@150", r.PCK150, ref.PCK150)
	check("AUC", r.AUC, ref.AUC)
	for j := range r.PerJoint {
		check(JointNames[j], r.PerJoint[j], ref.PerJoint[j])
	}
	t.Logf("MPJPE %.3f mm, P-MPJPE %.3f mm, N-MPJPE %.3f mm, PCK %.4f, AUC %.4f (numpy agrees to 1e-9)", r.MPJPE, r.PMPJPE, r.NMPJPE, r.PCK150, r.AUC)
}
