package cli

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poselab/datasets"
	"poselab/engine"
	"poselab/pose"
)

func TestReportRejectsBadInput(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"report", "--format", "xml", "--runs-dir", empty}, 2, "unknown format"},
		{[]string{"report", "--runs-dir", filepath.Join(empty, "nope")}, 2, "does not exist"},
		{[]string{"report", "--split", "test", "--runs-dir", empty}, 2, "--export-dir"},
		{[]string{"report", "--split", "nosuch", "--runs-dir", empty}, 2, "unknown split"},
		{[]string{"report", "--split", "test", "--export-dir", filepath.Join(empty, "out"), "--format", "json", "--runs-dir", empty}, 2, "--split test has none"},
		{[]string{"report", "--pipelines", "Z", "--runs-dir", empty}, 2, "unknown pipeline"},
		{[]string{"report", "--runs-dir", empty}, 1, "no pipeline has a finished chain"},
	} {
		var out, errb bytes.Buffer
		if code := Main(tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.msg) {
			t.Errorf("%v: exit %d (%q), want %d with %q", tc.args, code, errb.String(), tc.code, tc.msg)
		}
	}
}

// report --split test says why a pipeline was not exported once, not
// "pipeline A: not exported: pipeline A: no finished runs".
func TestReportTestSplitNamesThePipelineOnce(t *testing.T) {
	empty := t.TempDir()
	var out, errb bytes.Buffer
	Main([]string{"report", "--split", "test", "--export-dir", filepath.Join(empty, "out"), "--runs-dir", empty}, &out, &errb)
	if want := "pipeline A: not exported: no finished runs"; !strings.Contains(errb.String(), want) {
		t.Fatalf("stderr %q lacks %q", errb.String(), want)
	}
}

// A pipeline without a row is named once: the md table lists it under
// the table, json under "missing", and only csv, which has no place for
// it, on stderr (md said it on stderr too, so a terminal showed it twice).
func TestReportNamesAMissingRowOnce(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := trainCLI(t, "pipeline", "run", "C", "--preset", "test", "--runs-dir", dir); code != 0 {
		t.Fatalf("pipeline C: exit %d: %s", code, errs)
	}
	for _, c := range []struct {
		format, out, errs string
	}{
		{"md", "- A: no row (no finished runs", ""},
		{"json", `"A": "no finished runs`, ""},
		{"csv", "", "pipeline A: no row: no finished runs"},
	} {
		var out, errb bytes.Buffer
		if code := Main([]string{"report", "--pipelines", "A,C", "--format", c.format, "--runs-dir", dir}, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d: %s", c.format, code, errb.String())
		}
		if !strings.Contains(out.String(), c.out) || !strings.Contains(errb.String(), c.errs) || c.errs == "" && errb.Len() > 0 {
			t.Errorf("%s: stdout %q\nstderr %q", c.format, out.String(), errb.String())
		}
	}
}

// With no row at all there is no table to list the missing pipelines
// under, and report ends in an error: md and json say why each has none
// too (they said only "no pipeline has a finished chain ... (run:
// poselab pipeline run A)", hiding a finished chain's missing outputs).
func TestReportWithNoRowSaysWhy(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := trainCLI(t, "pipeline", "run", "C", "--preset", "test", "--runs-dir", dir); code != 0 {
		t.Fatalf("pipeline C: exit %d: %s", code, errs)
	}
	outs, _ := filepath.Glob(filepath.Join(dir, "*", "outputs"))
	if len(outs) != 1 {
		t.Fatalf("outputs folders %q", outs)
	}
	if err := os.RemoveAll(outs[0]); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"md", "json", "csv"} {
		var out, errb bytes.Buffer
		code := Main([]string{"report", "--pipelines", "C", "--format", format, "--runs-dir", dir}, &out, &errb)
		// ... and not that there is no finished chain to score.
		if code == 0 || strings.Count(errb.String(), "has no outputs") != 1 || !strings.Contains(errb.String(), "finished chain in "+dir+" could be scored (why above)") {
			t.Errorf("%s: exit %d\nstdout %q\nstderr %q", format, code, out.String(), errb.String())
		}
	}
}

func sampleReport() reportJSON {
	pj := make([]float64, pose.NumJoints)
	for j := 1; j < len(pj); j++ {
		pj[j] = float64(10 * j)
	}
	return reportJSON{Split: "val", RunsDir: "runs", Rows: []reportRow{
		{Pipeline: "A", Method: seedTable["A"].method, N: 512, MPJPE: 151.25, PMPJPE: 99.5, PCK150: 0.61, AUC: 0.3, PerJoint: pj, Runs: []string{"baseline-1"}, SeedMM: 149.81},
		{Pipeline: "G", Method: seedTable["G"].method, N: 512, MPJPE: 80.5, PMPJPE: 60.25, PCK150: 0.9, AUC: 0.5, PerJoint: pj, Runs: []string{"sh-1", "sb-1", "ir-1"}, SeedMM: 60.82},
	}, Missing: map[string]string{"B": "no finished runs"}}
}

func TestReportFormats(t *testing.T) {
	r := sampleReport()
	var md bytes.Buffer
	writeReportMD(&md, r)
	// 3DPCK and AUC in percent for people (they read 0.610 here and
	// "61.0 %" in metrics); the JSON below keeps fractions.
	for _, want := range []string{"| A | Baseline (x, y, z) | 512 | 151.25 | 99.50 | 61.0 % | 30.0 % | 149.81 | baseline-1 |",
		"| G | IR (x, y) + SH -> SB (z) | 512 | 80.50 | 60.25 | 90.0 % | 50.0 % | 60.82 | sh-1, sb-1, ir-1 |",
		"| Pipeline | Hip | RHip |", "| G | 0.0 | 10.0 | 20.0 |", "- B: no row (no finished runs)"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var c bytes.Buffer
	if err := writeReportCSV(&c, r.Rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || len(recs[0]) != 7+17+2 || recs[0][7] != "Hip_mm" || recs[2][0] != "G" || recs[2][3] != "80.5000" || recs[2][len(recs[2])-1] != "sh-1 sb-1 ir-1" {
		t.Errorf("csv %v", recs)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Rows []struct {
			Pipeline string    `json:"pipeline"`
			MPJPE    float64   `json:"mpjpe_mm"`
			PMPJPE   float64   `json:"p_mpjpe_mm"`
			PCK      float64   `json:"pck150"`
			AUC      float64   `json:"auc"`
			PerJoint []float64 `json:"per_joint_mm"`
			Runs     []string  `json:"runs"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 2 || back.Rows[1].Pipeline != "G" || back.Rows[1].MPJPE != 80.5 || len(back.Rows[1].PerJoint) != 17 || len(back.Rows[1].Runs) != 3 {
		t.Errorf("json %s", b)
	}
}

// The report scores with pose.Evaluate; an export of the same predictions
// and a ground-truth export score the same with `poselab metrics`.
func TestExportScoresLikeMetrics(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var recs []datasets.Record
	var preds []engine.Prediction
	var pred, gt []pose.Pose3D
	for i := 0; i < 40; i++ {
		var p pose.Pose3D
		for j := range p {
			p[j] = pose.Vec3{800 * (r.Float64() - 0.5), 1600 * (r.Float64() - 0.5), 5000 + 600*(r.Float64()-0.5)}
		}
		cam := pose.H36MIntrinsics[i%4]
		recs = append(recs, datasets.Record{ID: i, Cam: cam, Joints3D: p, Joints2D: cam.ProjectPose(p), HasLabels: true})
		q := pose.RootRelative(p)
		for j := 1; j < len(q); j++ {
			for c := 0; c < 3; c++ {
				q[j][c] += 120 * r.NormFloat64()
			}
		}
		preds = append(preds, engine.Prediction{ID: i, Has3D: true, Pose3D: q})
		pred, gt = append(pred, q), append(gt, p)
	}
	want := pose.Evaluate(pred, gt, nil)
	dir := t.TempDir()
	for _, ext := range []string{"csv", "json", "npz"} {
		pp, gp := filepath.Join(dir, "F-val."+ext), filepath.Join(dir, "gt-val."+ext)
		if err := engine.ExportPredictions(pp, preds); err != nil {
			t.Fatal(err)
		}
		if err := engine.ExportGroundTruth(gp, recs); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		if code := Main([]string{"metrics", "--pred", pp, "--gt", gp, "--json"}, &out, &errb); code != 0 {
			t.Fatalf("metrics %s: exit %d: %s", ext, code, errb.String())
		}
		var got struct {
			N        int       `json:"n"`
			MPJPE    float64   `json:"mpjpe_mm"`
			PMPJPE   float64   `json:"p_mpjpe_mm"`
			PCK150   float64   `json:"pck150"`
			AUC      float64   `json:"auc"`
			PerJoint []float64 `json:"per_joint_mm"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("metrics %s: %v: %s", ext, err, out.String())
		}
		tol := 1e-6
		if ext == "npz" {
			tol = 2e-3 // float32 storage
		}
		if got.N != 40 || math.Abs(got.MPJPE-want.MPJPE) > tol || math.Abs(got.PMPJPE-want.PMPJPE) > tol ||
			math.Abs(got.PCK150-want.PCK150) > 1e-9 || math.Abs(got.AUC-want.AUC) > 1e-9 || len(got.PerJoint) != 17 ||
			math.Abs(got.PerJoint[13]-want.PerJoint[13]) > tol {
			t.Errorf("%s: metrics says %+v, the report computes %+v", ext, got, want)
		}
	}
}
