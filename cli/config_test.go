package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poselab/engine"
)

// `train --config FILE` trains what the file says (the schedule too, which
// no flag sets); flags given as well win; a run's own config.toml starts
// a new run like it; a misspelt key is named, and no run is created.
func TestTrainFromConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "cosine.toml")
	os.WriteFile(cfg, []byte(`model = "sb"
preset = "test"
epochs = 1
seed = 7
[schedule]
kind = "cosine"
base_lr = 2e-3
warmup_steps = 5
min_lr = 1e-5
`), 0o644)
	out, errs, code := trainCLI(t, "train", "--config", cfg, "--epochs", "2", "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var first map[string]any
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	id, _ := first["run"].(string)
	spec, err := engine.ReadSpecFile(filepath.Join(dir, id, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s := spec.Schedule
	if spec.Epochs != 2 || spec.Seed != 7 || s.Kind != "cosine" || s.BaseLR != 2e-3 || s.WarmupSteps != 5 || s.MinLR != 1e-5 {
		t.Fatalf("run trained %+v, want the file's schedule and seed with the flag's 2 epochs", spec)
	}
	// The run's own config.toml starts a new run like it.
	out, errs, code = trainCLI(t, "train", "--config", filepath.Join(dir, id, "config.toml"), "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("again from %s/config.toml: exit %d: %s", id, code, errs)
	}
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	again, _ := engine.ReadSpecFile(filepath.Join(dir, first["run"].(string), "config.toml"))
	if first["run"] == id || again.Schedule.Kind != "cosine" || again.Schedule.WarmupSteps != 5 || again.Epochs != 2 || again.Seed != 7 {
		t.Fatalf("second run %v: %+v, want a new run like %s", first["run"], again, id)
	}
	// A misspelt key.
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("model = \"sb\"\nepoch = 3\n"), 0o644)
	runs, _ := os.ReadDir(dir)
	if _, errs, code := trainCLI(t, "train", "--config", bad, "--runs-dir", dir); code != 2 || !strings.Contains(errs, "epoch") {
		t.Fatalf("misspelt key: exit %d, %q", code, errs)
	}
	if after, _ := os.ReadDir(dir); len(after) != len(runs) {
		t.Fatal("a refused config created a run")
	}
	if _, errs, code := trainCLI(t, "train", "--config", filepath.Join(dir, "nope.toml"), "--runs-dir", dir); code != 2 || !strings.Contains(errs, "nope.toml") {
		t.Fatalf("missing file: exit %d, %q", code, errs)
	}
}

// A run trained on a data folder starts a new run from its config.toml:
// the file keeps the preset's synthetic size beside the folder (as every
// run's does), which is not a --data-size given with a folder.
func TestTrainFromConfigOfAFolderRun(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	out, errs, code := trainCLI(t, "train", "--model", "sh", "--preset", "test", "--data", ethFolder(t, dir), "--batch", "2", "--epochs", "1", "--json", "--runs-dir", runs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var first map[string]any
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	id, _ := first["run"].(string)
	cfg := filepath.Join(runs, id, "config.toml")
	if b, _ := os.ReadFile(cfg); !strings.Contains(string(b), "data_size") {
		t.Logf("config.toml holds no data_size:\n%s", b)
	}
	if _, errs, code := trainCLI(t, "train", "--config", cfg, "--json", "--runs-dir", runs); code != 0 {
		t.Fatalf("train --config %s: exit %d: %s", cfg, code, errs)
	}
	// A --data-size given with a folder is still refused.
	if _, errs, code := trainCLI(t, "train", "--config", cfg, "--data-size", "tiny", "--runs-dir", runs); code != 2 || !strings.Contains(errs, "--data-size") {
		t.Fatalf("--data-size with a folder: exit %d: %s", code, errs)
	}
}

// --tf32 with a configuration whose device is cuda is not refused as if
// the device were the --device flag's default (cpu).
func TestTrainConfigDeviceCountsForTF32(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "cuda.toml")
	os.WriteFile(cfg, []byte("model = \"sb\"\npreset = \"test\"\ndevice = \"cuda\"\n"), 0o644)
	_, errs, code := trainCLI(t, "train", "--config", cfg, "--tf32", "--runs-dir", t.TempDir())
	if strings.Contains(errs, "needs --device cuda") {
		t.Fatalf("exit %d: %s", code, errs)
	}
}
