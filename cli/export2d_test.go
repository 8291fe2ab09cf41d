package cli

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"poselab/datasets/mpii"
	"poselab/engine"
	"poselab/pose"
)

// mpiiFolder adds MPII people to an ETH data folder: the mmpose sample's
// five (no head boxes: PCKh by head segment) as train and valid, with
// blank images.
func mpiiFolder(t *testing.T, data string) string {
	t.Helper()
	ann, err := os.ReadFile("../datasets/mpii/testdata/test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(data, "mpii", "annot"), 0o755)
	os.MkdirAll(filepath.Join(data, "mpii", "images"), 0o755)
	for _, f := range []string{"train.json", "valid.json"} {
		if err := os.WriteFile(filepath.Join(data, "mpii", "annot", f), ann, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := mpii.Parse(ann, "test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 320, 240)), nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := os.WriteFile(filepath.Join(data, "mpii", "images", r.Image), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(data, "mpii", "annot", "valid.json")
}

// export of an SH run wrote nothing (3D only): now its val split's MPII
// people go to the file metrics --2d scores, in the annotations' 1-based
// pixels of the original image, and score what eval and runs show say
// of the same checkpoint; its Human3.6M records go next to it.
func TestExportSH2DScoresAsEval(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	data := ethFolder(t, dir)
	valid := mpiiFolder(t, data)
	mainOK(t, "train", "--model", "sh", "--preset", "test", "--data", data, "--batch", "2", "--epochs", "1", "--runs-dir", runs)
	var ls []map[string]any
	if err := json.Unmarshal([]byte(mainOK(t, "runs", "ls", "--json", "--runs-dir", runs)), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("runs ls: %v", err)
	}
	id := ls[0]["id"].(string)

	var x struct {
		Path  string `json:"path"`
		Epoch int    `json:"epoch"`
		Files []struct {
			Path, What string
			N          int
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(mainOK(t, "export", "--run", id, "--split", "val", "--json", "--runs-dir", runs)), &x); err != nil {
		t.Fatal(err)
	}
	want := engine.ExportPath(filepath.Join(runs, id), "val", "json") // json by default: an SH run has no other
	if x.Path != want || len(x.Files) != 2 || x.Files[0].Path != want || x.Files[0].N != 5 ||
		x.Files[1].Path != engine.H36MExportPath(want) || x.Files[1].N == 0 {
		t.Fatalf("export --json: %+v, want %s (5 MPII people) and its _h36m file", x, want)
	}

	// The files hold the run's own predictions (outputs, in original-image
	// pixels, 0-based), +1: MPII's MATLAB pixels.
	outs, err := engine.ReadOutputs(filepath.Join(runs, id), "val")
	if err != nil {
		t.Fatal(err)
	}
	people, err := mpii.LoadPredictions(want) // subtracts the 1 again
	if err != nil {
		t.Fatal(err)
	}
	records, err := mpii.LoadPredictions(engine.H36MExportPath(want))
	if err != nil {
		t.Fatal(err)
	}
	if len(records)+len(people) != len(outs.Preds) {
		t.Fatalf("%d records + %d people exported, %d predictions", len(records), len(people), len(outs.Preds))
	}
	raw, _ := os.ReadFile(want)
	var file []struct{ Joints [][2]float64 }
	json.Unmarshal(raw, &file)
	for i, p := range append(records, people...) {
		for h, k := range pose.MPIIForH36M {
			if k < 0 {
				continue
			}
			if d := math.Hypot(p.Joints[k][0]-outs.Preds[i].Pose2D[h][0], p.Joints[k][1]-outs.Preds[i].Pose2D[h][1]); d > 1e-9 {
				t.Fatalf("sample %d joint %s: exported %v, predicted %v", i, pose.JointNames[h], p.Joints[k], outs.Preds[i].Pose2D[h])
			}
			if i == len(records) && file[0].Joints[k][0] != outs.Preds[i].Pose2D[h][0]+1 {
				t.Fatalf("first person's %s x: file %v, want the prediction %v + 1", pose.JointNames[h], file[0].Joints[k][0], outs.Preds[i].Pose2D[h][0])
			}
		}
	}

	var m Metrics2DJSON
	if err := json.Unmarshal([]byte(mainOK(t, "metrics", "--2d", "--pred", want, "--gt", valid, "--json")), &m); err != nil {
		t.Fatal(err)
	}
	var ev Eval2DJSON
	if err := json.Unmarshal([]byte(mainOK(t, "eval", "--run", id, "--json", "--runs-dir", runs)), &ev); err != nil {
		t.Fatal(err)
	}
	var show struct {
		Epochs []map[string]any `json:"epochs"`
	}
	if err := json.Unmarshal([]byte(mainOK(t, "runs", "show", id, "--json", "--runs-dir", runs)), &show); err != nil {
		t.Fatal(err)
	}
	var shown float64 = -1
	for _, ep := range show.Epochs {
		if ep["best"] == true {
			shown, _ = ep["val_pckh50"].(float64)
		}
		// No 3D score: null, not a perfect 0 mm.
		for _, k := range []string{"val_mpjpe_mm", "val_p_mpjpe_mm", "val_n_mpjpe_mm", "val_pck150", "val_auc"} {
			if v, ok := ep[k]; !ok || v != nil {
				t.Errorf("a 2D epoch's %s: %v", k, v)
			}
		}
	}
	if m.N != 5 || m.PCKh50 != ev.PCKh50 || m.PCKh50 != shown {
		t.Errorf("metrics --2d: %d people, PCKh %v; eval %v, runs show's best epoch %v", m.N, m.PCKh50, ev.PCKh50, shown)
	}

	// runs compare names its rows for what they hold: beside an SB run
	// the SH run's px were in rows "val MPJPE" and "RWrist (mm)" (the
	// per-joint cells "-").
	mainOK(t, "train", "--model", "sb", "--preset", "test", "--data", data, "--batch", "2", "--epochs", "1", "--runs-dir", runs)
	if err := json.Unmarshal([]byte(mainOK(t, "runs", "ls", "--json", "--runs-dir", runs)), &ls); err != nil || len(ls) != 2 {
		t.Fatalf("runs ls: %v", err)
	}
	cmp := mainOK(t, "runs", "compare", id, ls[1]["id"].(string), "--runs-dir", runs)
	if strings.Contains(cmp, "val MPJPE") || strings.Contains(cmp, "(mm)") || !regexp.MustCompile(`\nbest val error +[0-9.]+ px +[0-9.]+ mm`).MatchString(cmp) ||
		!regexp.MustCompile(`\nRWrist +[0-9.]+ px +[0-9.]+ mm`).MatchString(cmp) {
		t.Errorf("runs compare of SH and SB:\n%s", cmp)
	}

	// The 3D formats cannot hold 2D joints: refused before predicting.
	for _, args := range [][]string{{"--format", "csv"}, {"--out", filepath.Join(dir, "p.npz")}} {
		_, errs, code := trainCLI(t, append([]string{"export", "--run", id, "--split", "val", "--runs-dir", runs}, args...)...)
		if code != 2 || !strings.Contains(errs, "2D joints") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
}
