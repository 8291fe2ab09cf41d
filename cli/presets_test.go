package cli

import (
	"strings"
	"testing"
)

// train --help lists each model's presets from the engine's registrations
// (it said "tiny, seed, test; models may have more"); a preset the model
// lacks is refused in a single run's words, and pipeline run refuses one
// a stage lacks before queueing anything.
func TestPresetsPerModel(t *testing.T) {
	_, help, _ := trainCLI(t, "train", "--help")
	for _, want := range []string{"ir tiny|seed|test", "sb tiny|small|seed|test", "sh tiny|seed|seed-n1|seed-n8|test"} {
		if !strings.Contains(help, want) {
			t.Errorf("train --help lacks %q:\n%s", want, help)
		}
	}
	_, help, _ = trainCLI(t, "pipeline", "run", "--help")
	if !strings.Contains(help, "C tiny|small|seed|test; D tiny|seed|test") {
		t.Errorf("pipeline run --help:\n%s", help)
	}
	dir := t.TempDir()
	_, errs, code := trainCLI(t, "train", "--model", "ir", "--preset", "small", "--runs-dir", dir)
	if code == 0 || strings.Contains(errs, "stage") || !strings.Contains(errs, `model ir has no preset "small" (its presets: tiny, seed, test)`) {
		t.Errorf("train --model ir --preset small: exit %d, %q", code, errs)
	}
	_, errs, code = trainCLI(t, "pipeline", "run", "D", "--preset", "small", "--runs-dir", dir)
	if code != 2 || !strings.Contains(errs, `pipeline D has no preset "small"`) {
		t.Errorf("pipeline run D --preset small: exit %d, %q", code, errs)
	}
}
