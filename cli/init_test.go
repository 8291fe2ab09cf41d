package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poselab/engine"
)

// `train --init` starts from a run's weights and says so under its
// started line; a --config file's init key does the same; a source that
// does not exist is a usage error (exit 2) naming it, and creates no run.
func TestTrainInit(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--epochs", "1", "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var first map[string]any
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	src, _ := first["run"].(string)

	out, errs, code = trainCLI(t, "train", "--model", "sb", "--preset", "test", "--epochs", "1", "--init", src, "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("--init %s: exit %d: %s", src, code, errs)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "init from "+filepath.Join(dir, src, "checkpoints", "best.ckpt")) ||
		!strings.Contains(lines[1], "20 tensors loaded") {
		t.Errorf("the line under the started one does not say what --init loaded:\n%s", out)
	}

	cfg := filepath.Join(t.TempDir(), "ft.toml")
	os.WriteFile(cfg, []byte("model = \"sb\"\npreset = \"test\"\nepochs = 1\ninit = \""+src+"\"\n"), 0o644)
	out, errs, code = trainCLI(t, "train", "--config", cfg, "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("--config with init: exit %d: %s", code, errs)
	}
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	spec, err := engine.ReadSpecFile(filepath.Join(dir, first["run"].(string), "config.toml"))
	if err != nil || spec.Init != src {
		t.Errorf("the run of a config with init = %q keeps init %q (%v)", src, spec.Init, err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, first["run"].(string), "log"))
	if !strings.Contains(string(log), "init from ") {
		t.Errorf("its log does not say what it loaded:\n%s", log)
	}
	if out, _, _ := trainCLI(t, "runs", "show", first["run"].(string), "--runs-dir", dir); !strings.Contains(out, "init from "+src) {
		t.Errorf("runs show does not name the source:\n%s", out)
	}
	if strings.Contains(out, `"event":"log"`) {
		t.Errorf("--json printed a log event")
	}

	runs, _ := os.ReadDir(dir)
	missing := filepath.Join(t.TempDir(), "resnet50-missing.pth")
	_, errs, code = trainCLI(t, "train", "--model", "ir", "--preset", "tiny", "--init", missing, "--runs-dir", dir)
	if code != 2 || !strings.Contains(errs, missing) {
		t.Errorf("missing --init file: exit %d, %q", code, errs)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(runs) {
		t.Errorf("a refused --init created a run")
	}
}
