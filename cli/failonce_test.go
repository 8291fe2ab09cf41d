package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// brokenImageFolder is an ETH folder one of whose images does not decode:
// a run on it passes the checks before training and fails at its first
// batch.
func brokenImageFolder(t *testing.T) string {
	t.Helper()
	data := ethFolder(t, t.TempDir())
	img := filepath.Join(data, "h36m", "images", "S1", "S1_Directions_1.54138969", "S1_Directions_1.54138969_000001.jpg")
	if err := os.WriteFile(img, []byte("not a JPEG"), 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// A run that fails says why once, on stderr, exit 1: train printed the
// reason on stdout ("run X failed: ...") and again on stderr; resume and
// pipeline run (the same watch) too, and runs watch in its end line.
func TestFailedRunSaysWhyOnceOnStderr(t *testing.T) {
	data := brokenImageFolder(t)
	runs := t.TempDir()
	check := func(what, out, errs string, code int) {
		t.Helper()
		const reason = "S1_Directions_1.54138969_000001.jpg: not a readable image"
		if code != 1 || strings.Count(out+errs, reason) != 1 || strings.Count(errs, reason) != 1 {
			t.Errorf("%s: exit %d\nstdout %q\nstderr %q\nwant exit 1 and the reason once, on stderr", what, code, out, errs)
		}
	}
	out, errs, code := trainCLI(t, "train", "--model", "sh", "--preset", "test", "--batch", "2", "--epochs", "1", "--data", data, "--name", "broken", "--runs-dir", runs)
	check("train", out, errs, code)
	id := strings.Fields(out)[1]
	out, errs, code = trainCLI(t, "resume", id, "--runs-dir", runs)
	check("resume", out, errs, code)
	out, errs, code = trainCLI(t, "runs", "watch", id, "--runs-dir", runs)
	check("runs watch", out, errs, code)
	out, errs, code = trainCLI(t, "pipeline", "run", "D", "--preset", "test", "--batch", "2", "--epochs", "1", "--data", data, "--runs-dir", runs)
	check("pipeline run", out, errs, code)
}
