package cli

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"poselab/datasets"
	"poselab/engine"
	"poselab/pose"
)

// noisyResult is a pipeline's result on n random labelled records.
func noisyResult(name string, n int, seed uint64) engine.PipelineResult {
	r := rand.New(rand.NewPCG(seed, 7))
	res := engine.PipelineResult{Pipeline: name, Split: datasets.Val}
	var pred, gt []pose.Pose3D
	for i := 0; i < n; i++ {
		var p pose.Pose3D
		for j := range p {
			p[j] = pose.Vec3{800 * (r.Float64() - 0.5), 1600 * (r.Float64() - 0.5), 5000 + 600*(r.Float64()-0.5)}
		}
		cam := pose.H36MIntrinsics[i%4]
		res.Records = append(res.Records, datasets.Record{ID: i, Cam: cam, Joints3D: p, Joints2D: cam.ProjectPose(p), HasLabels: true})
		q := pose.RootRelative(p)
		for j := 1; j < len(q); j++ {
			for c := 0; c < 3; c++ {
				q[j][c] += 60 * r.NormFloat64()
			}
		}
		res.Preds = append(res.Preds, engine.Prediction{ID: i, Has3D: true, Pose3D: q})
		pred, gt = append(pred, q), append(gt, p)
	}
	res.Report = pose.Evaluate(pred, gt, nil)
	return res
}

// Rows of a report may come from chains trained on different data (another
// preset's synthetic size, another data folder): each row's export must
// have a ground-truth file it scores against to the row's own numbers.
func TestExportRowsGroundTruthPerData(t *testing.T) {
	a, c := noisyResult("A", 12, 1), noisyResult("C", 20, 2)
	dir := t.TempDir()
	if err := exportRows(dir, datasets.Val, []engine.PipelineResult{a, c}, io.Discard); err != nil {
		t.Fatal(err)
	}
	sameMetrics(t, "A", metricsOf(t, filepath.Join(dir, "A-val.csv"), filepath.Join(dir, "gt-val.csv")), rowOf(a), 1e-6)
	cgt := filepath.Join(dir, "gt-val-C.csv")
	if _, err := os.Stat(cgt); err != nil {
		t.Fatalf("no ground truth for C's data: %v", err)
	}
	sameMetrics(t, "C", metricsOf(t, filepath.Join(dir, "C-val.csv"), cgt), rowOf(c), 1e-6)
	// Rows on the same data share gt-<split>: no extra files for them.
	dir2 := t.TempDir()
	d := noisyResult("D", 12, 1)
	d.Pipeline = "D"
	if err := exportRows(dir2, datasets.Val, []engine.PipelineResult{a, d}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "gt-val-D.csv")); err == nil {
		t.Errorf("a ground-truth file for D, whose data is A's")
	}
}
