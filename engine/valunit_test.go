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

// Every model has the test preset (README; the workbench's form offers it
// for each): IR had none, so `train --model ir --preset test` and the
// pipelines F and G with it were refused.
func TestEveryModelHasTheTestPreset(t *testing.T) {
	for _, m := range Models() {
		if _, err := Prepare(Spec{Model: m, Preset: "test"}); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}
