package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"poselab/datasets"
	"poselab/datasets/eth"
)

// ethFolder lays out an ETH-style folder from the real frames of
// datasets/h36m/testdata (train.pkl a copy of val.pkl), with the
// annotation files named in files replaced by their contents (nil: left
// out), and the folder.
func ethFolder(t *testing.T, files map[string][]byte) (*eth.Dataset, string) {
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
	for _, name := range []string{"train.pkl", "val.pkl", "test.pkl"} {
		data, ok := files[name]
		if !ok {
			data = val
		}
		if data == nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(annot, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := eth.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d, dir
}

// A data folder may lack val.pkl or test.pkl (no validation, nothing to
// export for test), for every model; one that is there but unreadable is
// an error naming it. The image models skipped any error there, so a
// truncated val.pkl trained them without validation, silently; SB refused
// a folder without test.pkl.
func TestSplitFilesMissingOrCorrupt(t *testing.T) {
	val, err := os.ReadFile("../datasets/h36m/testdata/eth/val.pkl")
	if err != nil {
		t.Fatal(err)
	}
	sb := func(d datasets.Dataset) error {
		_, err := newSBTask(TaskEnv{Spec: Spec{Model: "sb", Preset: "test"}, Data: d})
		return err
	}
	sh := func(d datasets.Dataset) error {
		_, err := newSHTask(TaskEnv{Spec: Spec{Model: "sh", Preset: "test"}, Data: d})
		return err
	}
	image := func(d datasets.Dataset) error { _, err := newImageSource(d, 32, true); return err } // IR, baselines
	folder := func(files map[string][]byte) datasets.Dataset { d, _ := ethFolder(t, files); return d }
	for _, load := range []func(datasets.Dataset) error{sb, sh, image} {
		if err := load(folder(map[string][]byte{"val.pkl": nil, "test.pkl": nil})); err != nil {
			t.Errorf("folder without val.pkl and test.pkl: %v", err)
		}
		for _, name := range []string{"val.pkl", "test.pkl"} {
			err := load(folder(map[string][]byte{name: val[:len(val)/2]}))
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "corrupt pickle") {
				t.Errorf("truncated %s: %v", name, err)
			}
		}
		if err := load(folder(map[string][]byte{"train.pkl": nil})); err == nil || !strings.Contains(err.Error(), "train.pkl") {
			t.Errorf("folder without train.pkl: %v", err)
		}
	}
}

// --data given one folder too deep (h36m, h36m/annot) or too high (the
// folder holding the data folder) is the usual mistake: the error says
// which layout it wants and which folder is one. It said "no loader
// recognises this folder (want a folder in a supported format)".
func TestOpenDatasetWrongRootSaysWhere(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "data")
	if err := os.MkdirAll(filepath.Join(root, "h36m", "annot"), 0o755); err != nil {
		t.Fatal(err)
	}
	npzDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(npzDir, "data_3d_h36m.npz"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A data set is often a symlink to where the disk is (ln -s
	// /mnt/data/eth h36m-eth): a folder holding one is told it too.
	linkTop := t.TempDir()
	if err := os.Symlink(root, filepath.Join(linkTop, "eth")); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		linkTop:                              "its subfolder eth is one (--data " + filepath.Join(linkTop, "eth") + ")",
		filepath.Join(root, "h36m"):          "it is inside one, give its top folder (--data " + root + ")",
		filepath.Join(root, "h36m", "annot"): "it is inside one, give its top folder (--data " + root + ")",
		top:                                  "its subfolder data is one (--data " + root + ")",
		npzDir:                               "it holds data_3d_h36m.npz, an MMPose or VideoPose3D file, which --data does not train on",
	} {
		_, err := OpenDataset(Spec{Data: path})
		if err == nil || !strings.Contains(err.Error(), "h36m/annot/{train,val,test}.pkl") || !strings.Contains(err.Error(), want) {
			t.Errorf("--data %s: %v\nwant it to say %q", path, err, want)
		}
	}
	if _, err := OpenDataset(Spec{Data: root}); err != nil {
		t.Fatalf("the data folder itself: %v", err)
	}
}

// Extending a finished run whose data folder is gone is refused, the run
// left finished with its spec: the extension failed it when it started.
func TestExtendRefusesAGoneDataFolder(t *testing.T) {
	_, dir := ethFolder(t, map[string][]byte{"test.pkl": nil})
	runs := t.TempDir()
	e, err := Open(Options{RunsDir: runs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.Close() }()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, Batch: 2, Data: dir})
	if err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, e, id, time.Minute); info.State != Finished {
		t.Fatalf("run: %s %s", info.State, info.Reason)
	}
	// Another process (a later command) has no cached copy of the data.
	e.Close()
	if err := os.Rename(dir, dir+".moved"); err != nil {
		t.Fatal(err)
	}
	e, err = Open(Options{RunsDir: runs})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Extend(id, 2, -1); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("extend: %v", err)
	}
	if info, _ := e.Run(id); info.State != Finished || info.Spec.Epochs != 1 {
		t.Fatalf("after the refused extension: %s, %d epochs", info.State, info.Spec.Epochs)
	}
}
