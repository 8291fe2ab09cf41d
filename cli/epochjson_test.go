package cli

import (
	"testing"

	"poselab/engine"
)

// A 2D epoch's PCKh of 0 (no joint within half a head yet) is a score:
// --json keeps val_pckh50 at 0, as it keeps val_px, where it was omitted.
func TestEpochJSONKeepsA2DZeroPCKh(t *testing.T) {
	m := epochMap(engine.EpochInfo{Epoch: 0, Step: 8, Pixel: 61.5, PCKh: 0, PerJointPx: make([]float64, 17)})
	if v, ok := m["val_pckh50"]; !ok || v != 0.0 {
		t.Errorf("val_pckh50 = %v (present %v), want 0", v, ok)
	}
	if v, ok := m["val_mpjpe_mm"]; !ok || v != nil {
		t.Errorf("val_mpjpe_mm = %v, want null", v)
	}
	// A 3D epoch has no 2D keys.
	if _, ok := epochMap(engine.EpochInfo{MPJPE: 80})["val_pckh50"]; ok {
		t.Error("a 3D epoch has val_pckh50")
	}
}
