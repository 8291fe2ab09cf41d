package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ethData is ethFolder (the real frames, train.pkl a copy of val.pkl,
// and images) with the files or folders named, relative to it, removed.
func ethData(t *testing.T, remove ...string) string {
	t.Helper()
	data := ethFolder(t, t.TempDir())
	for _, r := range remove {
		if err := os.RemoveAll(filepath.Join(data, filepath.FromSlash(r))); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// Data without a validation split trains, and says so: its epochs were
// printed (and logged) as "val MPJPE 0.0 mm, P-MPJPE 0.0 mm, 3DPCK@150
// 0.0 %", and the run finished on "val MPJPE 0.0 mm", a score it never had.
func TestTrainWithoutValidationSplitSaysSo(t *testing.T) {
	data, runs := ethData(t, "h36m/annot/val.pkl", "h36m/annot/test.pkl"), t.TempDir()
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
	// runs show took the unscored epochs for a 2D model's ("val 2D error -").
	id := filepath.Base(filepath.Dir(logs[0]))
	show, _, _ := trainCLI(t, "runs", "show", id, "--runs-dir", runs)
	if !strings.Contains(show, "val MPJPE -, best -") || strings.Contains(show, "2D") {
		t.Fatalf("runs show:\n%s", show)
	}
	// Nor do its epoch table, runs joints and the JSON of both give the
	// unscored epoch a score: the table read "0.0 mm" in every column,
	// joints "this model reports no per-joint error".
	if strings.Contains(show, "0.0 mm") || !strings.Contains(show, "1 epoch not validated: the data has no validation split") {
		t.Fatalf("runs show:\n%s", show)
	}
	if joints, _, _ := trainCLI(t, "runs", "joints", id, "--runs-dir", runs); !strings.Contains(joints, "epoch 1 not validated") {
		t.Fatalf("runs joints:\n%s", joints)
	}
	var shown struct{ Epochs []map[string]any }
	runsJSON(t, &shown, "show", id, "--runs-dir", runs)
	if len(shown.Epochs) != 1 || shown.Epochs[0]["validated"] != false {
		t.Fatalf("runs show --json epochs: %v", shown.Epochs)
	}
	var joints map[string]any
	runsJSON(t, &joints, "joints", id, "--runs-dir", runs)
	if joints["validated"] != false {
		t.Fatalf("runs joints --json: %v", joints)
	}
	events, _, _ := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--batch", "2", "--epochs", "1", "--data", data, "--json", "--runs-dir", runs)
	if !strings.Contains(events, `"event":"epoch"`) || !strings.Contains(events, `"validated":false`) {
		t.Fatalf("train --json:\n%s", events)
	}
}

// A data folder whose labels do not read, or whose images an image model
// needs are missing, is refused before a run exists (exit 2, nothing in
// the runs folder): the run was created and failed when it started, or,
// for a missing image, at the first batch that needed it.
func TestTrainRefusesBrokenDataFolderBeforeARun(t *testing.T) {
	truncated := ethData(t)
	p := filepath.Join(truncated, "h36m", "annot", "val.pkl")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	noImages := ethData(t, "h36m/images", "h36m/annot/val.pkl", "h36m/annot/test.pkl")
	for _, c := range []struct {
		data, model, want string
	}{
		{truncated, "sb", "h36m/annot/val.pkl: corrupt pickle"},
		{noImages, "baseline", "eth: 4 images are missing or empty, the first " + filepath.Join(noImages, "h36m", "images", "S1")},
	} {
		runs := t.TempDir()
		out, errs, code := trainCLI(t, "train", "--model", c.model, "--preset", "test", "--batch", "2", "--data", c.data, "--runs-dir", runs)
		if code != 2 || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s on %s: exit %d, %q; want 2 and one line saying %q", c.model, c.data, code, out+errs, c.want)
		}
		if ents, _ := os.ReadDir(runs); len(ents) > 0 {
			t.Errorf("%s on %s: the runs folder holds %d entries", c.model, c.data, len(ents))
		}
	}
	// SB lifts 2D joints: it trains without the images.
	if out, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--batch", "2", "--epochs", "1", "--data", noImages, "--runs-dir", t.TempDir()); code != 0 {
		t.Fatalf("SB without images: exit %d: %s%s", code, out, errs)
	}
}

// data show --data DIR shows a sample of a real data folder as poselab
// reads it (the crop and its labels): it only knew the synthetic set, so
// there was no way to look at how a folder's labels land on its images.
func TestDataShowRealFolder(t *testing.T) {
	data := ethData(t)
	out := filepath.Join(t.TempDir(), "s.png")
	so, se, code := trainCLI(t, "data", "show", "--data", data, "--index", "1", "--out", out, "--cols", "32")
	first, _, _ := strings.Cut(so, "\n")
	if code != 0 || first != "val #1  S5 SittingDown  camera 54138969  frame 2061  pelvis 4698 mm away  S5/S5_SittingDown.54138969/S5_SittingDown.54138969_002061.jpg" {
		t.Fatalf("exit %d: %q %s", code, first, se)
	}
	if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		t.Fatalf("PNG: %v", err)
	}
	so, se, code = trainCLI(t, "data", "show", "--data", data, "--split", "test", "--out", out)
	if first, _, _ := strings.Cut(so, "\n"); code != 0 || !strings.HasSuffix(first, "(no joint labels)") {
		t.Fatalf("test split: exit %d: %q %s", code, first, se)
	}
	for _, args := range [][]string{
		{"--data", data, "--size", "small"},
		{"--data", filepath.Join(data, "h36m")},
		{"--data", data, "--index", "4"},
	} {
		_, se, code := trainCLI(t, append([]string{"data", "show", "--out", out}, args...)...)
		if code != 2 || strings.Count(se, "\n") != 1 {
			t.Errorf("%v: exit %d, %q", args, code, se)
		}
	}
}

// resume checks the run's data folder as train does: gone (moved, or a
// disk not mounted), the extension of a finished run failed it, which
// took it out of the report and left its config.toml at epochs it never
// trained.
func TestResumeChecksTheDataFolderFirst(t *testing.T) {
	data, runs := ethData(t), t.TempDir()
	if out, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--batch", "2", "--epochs", "1", "--data", data, "--runs-dir", runs); code != 0 {
		t.Fatalf("train: exit %d: %s%s", code, out, errs)
	}
	cfgs, _ := filepath.Glob(filepath.Join(runs, "sb-*", "config.toml"))
	if len(cfgs) != 1 {
		t.Fatalf("config.toml: %v", cfgs)
	}
	id := filepath.Base(filepath.Dir(cfgs[0]))
	before, _ := os.ReadFile(cfgs[0])
	moved := data + ".moved"
	if err := os.Rename(data, moved); err != nil {
		t.Fatal(err)
	}
	_, errs, code := trainCLI(t, "resume", id, "--epochs", "2", "--runs-dir", runs)
	if code != 2 || !strings.Contains(errs, "run "+id+": ") || !strings.Contains(errs, data) || strings.Count(errs, "\n") != 1 {
		t.Fatalf("data folder gone: exit %d, %q", code, errs)
	}
	// What the command line gets wrong is said first, not after the data
	// check (which reads every label file: seconds for a real train.pkl),
	// nor as the data's error alone: a finished run without --epochs
	// names the folder too, which resume --epochs N would refuse on.
	for args, want := range map[string]string{
		"--epochs 0": "--epochs must be a positive number",
		"":           "finished its 1 epoch: give it more with poselab resume " + id + " --epochs N once its data is back (data \"" + data + "\": not",
	} {
		_, errs, code := trainCLI(t, append([]string{"resume", id, "--runs-dir", runs}, strings.Fields(args)...)...)
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("resume %s with the data gone: exit %d, %q; want 2 and %q", args, code, errs, want)
		}
	}
	// runs resume of the finished run (the workbench's r) says the data
	// problem first: it pointed to resume --epochs N, which refused on it.
	_, errs, code = trainCLI(t, "runs", "resume", id, "--runs-dir", runs)
	if i, j := strings.Index(errs, data), strings.Index(errs, "resume "+id+" --epochs N"); code == 0 || !strings.Contains(errs, "run "+id+": ") || i < 0 || j >= 0 && j < i {
		t.Errorf("runs resume with the data gone: exit %d, %q; want the data folder first", code, errs)
	}
	after, _ := os.ReadFile(cfgs[0])
	ls, _, _ := trainCLI(t, "runs", "ls", "--runs-dir", runs)
	if string(after) != string(before) || !strings.Contains(ls, "finished") {
		t.Fatalf("the refused extension changed the run:\n%s\n%s", after, ls)
	}
	if err := os.Rename(moved, data); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := trainCLI(t, "resume", id, "--epochs", "2", "--runs-dir", runs); code != 0 || !strings.Contains(out, "finished") {
		t.Fatalf("data back: exit %d: %s%s", code, out, errs)
	}
}

// --from a run trained on a data folder, with another --data, is refused
// before a run exists: the run was created and failed when it found the
// other run's outputs made on other data. Without --data it trains on
// that folder.
func TestTrainFromARunOfOtherData(t *testing.T) {
	data, runs := ethData(t), t.TempDir()
	if out, errs, code := trainCLI(t, "train", "--model", "sh", "--preset", "test", "--batch", "2", "--epochs", "1", "--data", data, "--runs-dir", runs); code != 0 {
		t.Fatalf("train: exit %d: %s%s", code, out, errs)
	}
	ids, _ := filepath.Glob(filepath.Join(runs, "sh-*"))
	if len(ids) != 1 {
		t.Fatalf("runs %v", ids)
	}
	id := filepath.Base(ids[0])
	_, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--from", id, "--data", "synth", "--runs-dir", runs)
	want := "--from " + id + ": that run was trained on data " + data + ", this one would be on synth (give --data " + data + ")"
	if code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, %q; want 2 and %q", code, errs, want)
	}
	if after, _ := filepath.Glob(filepath.Join(runs, "sb-*")); len(after) != 0 {
		t.Fatalf("a run was created: %v", after)
	}
	// With --data left out it trains on that folder (the chain form's
	// default): the check above ran before the defaults were taken, so it
	// refused the default too, telling the user to give the --data train
	// was to take. The folder is checked as --data is: gone since,
	// nothing is created.
	out, errs, code := trainCLI(t, "train", "--model", "sb", "--from", id, "--batch", "2", "--epochs", "1", "--runs-dir", runs)
	if code != 0 || !strings.Contains(out, "data "+data) {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	moved := data + ".moved"
	if err := os.Rename(data, moved); err != nil {
		t.Fatal(err)
	}
	_, errs, code = trainCLI(t, "train", "--model", "sb", "--from", id, "--runs-dir", runs)
	want = "--from " + id + "'s data \"" + data + "\": not \"synth\" and not a readable folder"
	if code != 2 || !strings.Contains(errs, want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Fatalf("exit %d, %q; want 2 and one line with %q", code, errs, want)
	}
	if sb, _ := filepath.Glob(filepath.Join(runs, "sb-*")); len(sb) != 1 {
		t.Fatalf("runs after the refusal: %v", sb)
	}
}
