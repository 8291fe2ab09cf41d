package cli

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type metricsOut struct {
	N        int       `json:"n"`
	MPJPE    float64   `json:"mpjpe_mm"`
	PMPJPE   float64   `json:"p_mpjpe_mm"`
	PCK150   float64   `json:"pck150"`
	AUC      float64   `json:"auc"`
	PerJoint []float64 `json:"per_joint_mm"`
}

func mainOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := Main(args, &out, &errb); code != 0 {
		t.Fatalf("poselab %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func metricsOf(t *testing.T, pred, gt string) metricsOut {
	t.Helper()
	var m metricsOut
	if err := json.Unmarshal([]byte(mainOK(t, "metrics", "--pred", pred, "--gt", gt, "--json")), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func sameMetrics(t *testing.T, what string, got metricsOut, want reportRow, tol float64) {
	t.Helper()
	if got.N != want.N || math.Abs(got.MPJPE-want.MPJPE) > tol || math.Abs(got.PMPJPE-want.PMPJPE) > tol ||
		math.Abs(got.PCK150-want.PCK150) > 1e-3 || math.Abs(got.AUC-want.AUC) > 1e-3 || len(got.PerJoint) != 17 ||
		math.Abs(got.PerJoint[16]-want.PerJoint[16]) > tol {
		t.Errorf("%s: %+v, the report row %+v", what, got, want)
	}
}

// Pipeline A end to end with the 4-channel test preset: the pipeline's
// run, the report row, the report's exports in three formats scored by
// `poselab metrics` against the ground-truth export, `poselab eval` and
// `poselab export` of the same run all agree.
func TestReportEndToEnd(t *testing.T) {
	runs, exp := t.TempDir(), t.TempDir()
	mainOK(t, "pipeline", "run", "A", "--preset", "test", "--runs-dir", runs)
	var rep struct {
		Rows []reportRow `json:"rows"`
	}
	out := mainOK(t, "report", "--runs-dir", runs, "--format", "json", "--pipelines", "A,F", "--export-dir", exp)
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Pipeline != "A" || len(rep.Rows[0].Runs) != 1 || rep.Rows[0].N != 512 {
		t.Fatalf("report rows %+v", rep.Rows)
	}
	row := rep.Rows[0]
	if !(row.MPJPE > 10 && row.MPJPE < 1000) {
		t.Errorf("implausible MPJPE %.1f mm", row.MPJPE)
	}
	for _, ext := range []string{"csv", "json", "npz"} {
		tol := 1e-4
		if ext == "npz" {
			tol = 2e-3 // float32
		}
		sameMetrics(t, "metrics on the "+ext+" export", metricsOf(t, filepath.Join(exp, "A-val."+ext), filepath.Join(exp, "gt-val."+ext)), row, tol)
	}
	var ev metricsOut
	if err := json.Unmarshal([]byte(mainOK(t, "eval", "--run", row.Runs[0], "--split", "val", "--json", "--runs-dir", runs)), &ev); err != nil {
		t.Fatal(err)
	}
	sameMetrics(t, "poselab eval", ev, row, 1e-4)
	f := filepath.Join(exp, "run-val.csv")
	mainOK(t, "export", "--run", row.Runs[0], "--split", "val", "--format", "csv", "--out", f, "--runs-dir", runs)
	sameMetrics(t, "poselab export", metricsOf(t, f, filepath.Join(exp, "gt-val.csv")), row, 1e-4)

	// The test split: exported (submission layout, Ids in test order), not scored.
	sub := t.TempDir()
	mainOK(t, "report", "--runs-dir", runs, "--split", "test", "--pipelines", "A", "--export-dir", sub)
	b, err := os.ReadFile(filepath.Join(sub, "A-test.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 513 || !strings.HasPrefix(lines[0], "Id,Hip_x,Hip_y,Hip_z,RHip_x") || !strings.HasSuffix(lines[0], "RWrist_z") ||
		!strings.HasPrefix(lines[1], "0,") || !strings.HasPrefix(lines[512], "511,") {
		t.Errorf("submission file: %d lines, header %q", len(lines), lines[0])
	}
}
