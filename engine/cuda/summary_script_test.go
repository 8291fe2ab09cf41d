package cuda

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scripts/gpu_summary.py reads what record writes. A failing GPU check is
// when its summary matters most: non-finite numbers (recorded as strings)
// must not stop it before the speed table and the targets, and a parity
// case that failed without a number of its own must count as missed.
func TestGPUSummaryScriptReadsFailures(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 here")
	}
	script := filepath.Join("..", "..", "scripts", "gpu_summary.py")
	if _, err := os.Stat(script); err != nil {
		t.Skip("no scripts/gpu_summary.py from here (a test binary run outside its package)")
	}
	dir := t.TempDir()
	t.Setenv("POSELAB_GPU_OUT", dir)
	t.Setenv("POSELAB_MODE_TAG", "")
	nan, inf := math.NaN(), math.Inf(1)
	record("graph_vs_eager", map[string]any{"loss_rel": nan, "params_rel": nan, "info": ""})
	record("staged_vs_upload", map[string]any{"loss_rel": nan, "params_rel": inf, "staged_steps_ok": false, "info": ""})
	record("bn_kernels", map[string]any{"shape": "sh-64x64", "B": 32, "C": 256, "HW": 4096, "S": 32, "legacy_fwd_ms": 1.0,
		"multi_fwd_ms": 0.5, "rel_y": nan, "rel_dx": inf})
	record("softargmax_kernels", map[string]any{"BJ": 544, "D": 64, "H": 64, "W": 64, "legacy_ms": 1.0, "multi_ms": 0.5,
		"multi_gbs": 2.0, "rel_prob": nan, "rel_coords": nan})
	record("train", map[string]any{"model": "sb", "batch": 64, "steps": 300, "lr": 1e-3, "loss_first5": 0.9, "loss_last5": nan,
		"factor": nan, "want_factor": 3.0, "graph": true, "ms_per_step": 1.0})
	record("parity", map[string]any{"case": "linear", "predict": 1e-7, "train_loss": 1e-7, "grads": 1e-7,
		"params_after_3_steps": 1e-7, "buffers_after_3_steps": 1e-7, "eval_loss": 1e-7})
	record("parity", map[string]any{"case": "conv3x3", "predict": 1e-7, "failed": true}) // a t.Fatal after predict
	for _, k := range []string{"sh32", "sh32bnlegacy", "sh32wsfast", "sh32memold"} {
		record("bench", map[string]any{"key": k, "samples_per_s": 400.0, "samples_per_s_excl_upload": inf,
			"samples_per_s_staged": nan, "used_gib": 5.0})
	}
	// A failed device test other than parity (the first H100 run of the
	// staging check failed while every target read MET).
	tlog := "--- PASS: TestGPUGraphMatchesEager (0.15s)\n=== RUN   TestGPUStagedMatchesUpload\n--- FAIL: TestGPUStagedMatchesUpload (0.71s)\nFAIL\n"
	if err := os.WriteFile(filepath.Join(dir, "tests.log"), []byte(tlog), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("gpu_summary.py: %v\n%s", err, out)
	}
	for _, want := range []string{"graph vs eager: loss rel nan", "train sb", "sh32bnlegacy", "issue 8 targets:",
		"MISSED        parity with the CPU backend <= 1e-4 (2 cases)", "conv3x3",
		"MISSED        device tests pass: 1 passed, 1 failed (TestGPUStagedMatchesUpload)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
