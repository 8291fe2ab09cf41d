package cli

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"poselab/engine"
	"poselab/pose"
)

// runs skeletons of a 2D (SH) run names each sample's worst joint with its
// error in original-image pixels, the engine's, and --json carries every
// joint's (it said "WORST JOINT -": 2D samples had no per-joint error);
// samples stored before they carried it still load and say "-".
func TestRunsSkeletons2DWorstJointInPixels(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	if _, errs, code := trainCLI(t, "train", "--model", "sh", "--preset", "test", "--data", ethFolder(t, dir), "--batch", "2", "--epochs", "1", "--runs-dir", runs); code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	e, err := engine.Open(engine.Options{RunsDir: runs, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	id := e.Runs()[0].Spec.ID
	samples, _, err := e.Samples(id)
	e.Close()
	if err != nil || len(samples) == 0 {
		t.Fatalf("samples: %d, %v", len(samples), err)
	}

	out, _, code := trainCLI(t, "runs", "skeletons", id, "--runs-dir", runs)
	if code != 0 {
		t.Fatalf("runs skeletons: exit %d", code)
	}
	var sk struct {
		Samples []struct {
			ErrorPx  float64    `json:"error_px"`
			JointsPx []*float64 `json:"joints_px"`
		}
	}
	runsJSON(t, &sk, "skeletons", id, "--runs-dir", runs)
	if len(sk.Samples) != len(samples) {
		t.Fatalf("--json: %d samples, want %d", len(sk.Samples), len(samples))
	}
	for i, s := range samples {
		// The worst of the labelled joints, found here by hand.
		worst, n, sum := -1, 0, 0.0
		for j, e := range s.JointsPx {
			if e < 0 {
				continue
			}
			if worst < 0 || e > s.JointsPx[worst] {
				worst = j
			}
			sum += e
			n++
		}
		if len(s.JointsPx) != pose.NumJoints || worst < 0 || math.Abs(sum/float64(n)-s.ErrorPx) > 1e-9 {
			t.Fatalf("sample %d: per-joint px %v do not average to its error %v px", i, s.JointsPx, s.ErrorPx)
		}
		line := regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+%d\s+%s\s+%s\s*$`, i+1, s.Index,
			regexp.QuoteMeta(fmt.Sprintf("%.1f px", s.ErrorPx)), regexp.QuoteMeta(fmt.Sprintf("%s %.1f px", pose.JointNames[worst], s.JointsPx[worst]))))
		if !line.MatchString(out) {
			t.Errorf("sample %d: no %v in\n%s", i, line, out)
		}
		js := sk.Samples[i].JointsPx
		if len(js) != pose.NumJoints || js[worst] == nil || *js[worst] != s.JointsPx[worst] {
			t.Errorf("sample %d: --json joints_px %v, want %v", i, js, s.JointsPx)
		}
	}
	if strings.Contains(out, " mm") {
		t.Errorf("a 2D run's skeletons in mm:\n%s", out)
	}

	// Samples stored before they carried per-joint errors: no JointsPx.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(runs, engine.DBName))
	if err != nil {
		t.Fatal(err)
	}
	var data string
	if err := db.QueryRow(`SELECT data FROM samples WHERE run=?`, id).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var old []map[string]any
	if err := json.Unmarshal([]byte(data), &old); err != nil {
		t.Fatal(err)
	}
	for _, s := range old {
		delete(s, "JointsPx")
	}
	b, _ := json.Marshal(old)
	if _, err := db.Exec(`UPDATE samples SET data=? WHERE run=?`, string(b), id); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, _, code = trainCLI(t, "runs", "skeletons", id, "--runs-dir", runs)
	if code != 0 || !regexp.MustCompile(`(?m)^1\s+\d+\s+`+regexp.QuoteMeta(fmt.Sprintf("%.1f px", samples[0].ErrorPx))+`\s+-\s*$`).MatchString(out) {
		t.Errorf("older samples: exit %d, want their error and worst joint -:\n%s", code, out)
	}
}
