package engine

import "testing"

// Viewers label a run's validation before its first one from ValUnit: an
// SH run's empty chart read "val MPJPE (mm)" until its first epoch.
func TestValUnit(t *testing.T) {
	for model, want := range map[string]string{"sh": "px", "sb": "mm", "ir": "mm", "baseline": "mm", "nope": "mm"} {
		if got := ValUnit(model); got != want {
			t.Errorf("ValUnit(%q) = %q, want %q", model, got, want)
		}
	}
}
