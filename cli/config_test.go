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

// A configuration file's relative paths (data, init) are read from the
// file's folder, not from the working directory: `train --config
// exp/a.toml` run from elsewhere trains exp/eth from exp/w.ckpt. The run
// keeps them absolute, so that resume works from any folder; flags still
// read from the working directory; a missing one is named as written
// and as read.
func TestConfigPathsAreReadFromTheFilesFolder(t *testing.T) {
	dir := t.TempDir()
	runs, exp, elsewhere := filepath.Join(dir, "runs"), filepath.Join(dir, "exp"), filepath.Join(dir, "elsewhere")
	os.MkdirAll(elsewhere, 0o755)
	data := ethFolder(t, exp)
	out, errs, code := trainCLI(t, "train", "--model", "sh", "--preset", "test", "--data", data, "--batch", "2", "--epochs", "1", "--json", "--runs-dir", runs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var first map[string]any
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	src, _ := first["run"].(string)
	ckpt, err := os.ReadFile(filepath.Join(runs, src, "checkpoints", "best.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(exp, "w.ckpt"), ckpt, 0o644)
	conf := "model = \"sh\"\npreset = \"test\"\nepochs = 1\nbatch = 2\n"
	os.WriteFile(filepath.Join(exp, "a.toml"), []byte(conf+"data = \"eth\"\ninit = \"w.ckpt\"\n"), 0o644)
	os.WriteFile(filepath.Join(exp, "b.toml"), []byte(conf+"data = \"eth\"\ninit = \"gone.ckpt\"\n"), 0o644)
	os.WriteFile(filepath.Join(exp, "c.toml"), []byte(conf+"data = \"nodata\"\n"), 0o644)
	t.Chdir(elsewhere)

	cfg := filepath.Join("..", "exp", "a.toml")
	out, errs, code = trainCLI(t, "train", "--config", cfg, "--json", "--runs-dir", runs)
	if code != 0 {
		t.Fatalf("train --config %s from another folder: exit %d: %s", cfg, code, errs)
	}
	json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first)
	id, _ := first["run"].(string)
	spec, err := engine.ReadSpecFile(filepath.Join(runs, id, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Data != data || spec.Init != filepath.Join(exp, "w.ckpt") {
		t.Fatalf("the run keeps data %q and init %q, want %q and %q", spec.Data, spec.Init, data, filepath.Join(exp, "w.ckpt"))
	}
	// Resumed (trained on) from a third folder, it finds its data.
	t.Chdir(t.TempDir())
	if _, errs, code := trainCLI(t, "resume", id, "--epochs", "2", "--json", "--runs-dir", runs); code != 0 {
		t.Fatalf("resume from another folder: exit %d: %s", code, errs)
	}
	t.Chdir(elsewhere)

	// Missing: named as written and as read.
	for _, tc := range []struct{ file, given, read string }{
		{"b.toml", "gone.ckpt", filepath.Join(exp, "gone.ckpt")},
		{"c.toml", "nodata", filepath.Join(exp, "nodata")},
	} {
		cfg := filepath.Join("..", "exp", tc.file)
		_, errs, code := trainCLI(t, "train", "--config", cfg, "--runs-dir", runs)
		if code != 2 || !strings.Contains(errs, `"`+tc.given+`" in `+cfg) || !strings.Contains(errs, tc.read) {
			t.Errorf("%s: exit %d, %q: want the path as written and as read", tc.file, code, errs)
		}
	}
	// A flag is read from the working directory: there is no eth here.
	_, errs, code = trainCLI(t, "train", "--config", cfg, "--data", "eth", "--runs-dir", runs)
	if code != 2 || !strings.Contains(errs, `--data "eth"`) {
		t.Errorf("--data eth from a folder without it: exit %d, %q", code, errs)
	}
}

// A configuration file's base_lr has --lr's limit (engine.MaxBaseLR): a
// file was the one way past it, a run trained at 30 without a word.
func TestConfigLearningRateHasTheFlagsLimit(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "a.toml")
	os.WriteFile(cfg, []byte("model = \"sb\"\npreset = \"test\"\nepochs = 1\n[schedule]\nkind = \"constant\"\nbase_lr = 30.0\n"), 0o644)
	runs := filepath.Join(dir, "runs")
	_, errs, code := trainCLI(t, "train", "--config", cfg, "--runs-dir", runs)
	if want := "base_lr = 30 in " + cfg + ": want a learning rate in (0, 10]"; code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, %q; want 2 and %q", code, errs, want)
	}
	if ids, _ := filepath.Glob(filepath.Join(runs, "sb-*")); len(ids) != 0 {
		t.Fatalf("a run was created: %v", ids)
	}
}
