package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// realFolder lays out an ETH-style data folder from the real Human3.6M
// frames of datasets/h36m/testdata (4 samples; train.pkl is a copy of
// val.pkl) holding the annotation files named, and returns its path.
func realFolder(t *testing.T, files ...string) string {
	t.Helper()
	val, err := os.ReadFile("../datasets/h36m/testdata/eth/val.pkl")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	annot := filepath.Join(dir, "h36m", "annot")
	if err := os.MkdirAll(annot, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(annot, f), val, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Data without a validation split trains, and says so: its epochs were
// printed (and logged) as "val MPJPE 0.0 mm, P-MPJPE 0.0 mm, 3DPCK@150
// 0.0 %", and the run finished on "val MPJPE 0.0 mm", a score it never had.
func TestTrainWithoutValidationSplitSaysSo(t *testing.T) {
	data, runs := realFolder(t, "train.pkl"), t.TempDir()
	out, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--batch", "2", "--epochs", "1", "--data", data, "--runs-dir", runs)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "epoch 1 step 2: train loss") || !strings.Contains(out, "not validated (the data has no validation split)") || strings.Contains(out, "0.0 mm") {
		t.Fatalf("output:\n%s", out)
	}
	logs, _ := filepath.Glob(filepath.Join(runs, "sb-*", "log"))
	if len(logs) != 1 {
		t.Fatalf("logs %v", logs)
	}
	log, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "not validated") || strings.Contains(string(log), "0.00 mm") {
		t.Fatalf("log:\n%s", log)
	}
}
