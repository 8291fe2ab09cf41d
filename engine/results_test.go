package engine

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"poselab/datasets"
	"poselab/datasets/predfile"
	"poselab/pose"
)

// resultsFixture writes finished (and unfinished) pipeline chains with
// hand-made outputs into a runs directory and opens an engine on it.
type resultsFixture struct {
	t    *testing.T
	dir  string
	st   *store
	data *irFakeData
}

func newResultsFixture(t *testing.T) *resultsFixture {
	dir := t.TempDir()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &resultsFixture{t: t, dir: dir, st: st, data: newIRFakeData(6)}
}

// addRun stores a run with outputs of the val and test splits made by f.
func (fx *resultsFixture) addRun(id, model, tag string, state State, after string, f func(i int, r datasets.Record) Prediction) {
	spec := Spec{ID: id, Model: model, Preset: "tiny", Pipeline: tag, Data: "synth", After: after}
	if after != "" && model == "sb" {
		spec.From = []string{after}
	}
	if err := fx.st.createRun(RunInfo{Spec: spec, State: state}); err != nil {
		fx.t.Fatal(err)
	}
	for _, sp := range []datasets.Split{datasets.Val, datasets.Test} {
		o := &Outputs{Run: id, Model: model, Split: sp}
		for i, r := range fx.data.recs[sp] {
			p := f(i, r)
			p.ID = i
			o.Preds = append(o.Preds, p)
		}
		if err := WriteOutputs(fx.st.runDir(id), o); err != nil {
			fx.t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond) // distinct update times
}

func (fx *resultsFixture) open() *Engine {
	fx.st.close()
	e, err := Open(Options{RunsDir: fx.dir, OpenData: func(Spec) (datasets.Dataset, error) { return fx.data, nil }})
	if err != nil {
		fx.t.Fatal(err)
	}
	fx.t.Cleanup(func() { e.Close() })
	return e
}

// shifted is the ground truth with every non-root joint moved by dx mm.
func shifted(r datasets.Record, dx float64) pose.Pose3D {
	p := pose.RootRelative(r.Joints3D)
	for j := 1; j < len(p); j++ {
		p[j][0] += dx
	}
	return p
}

func TestPipelineResults(t *testing.T) {
	fx := newResultsFixture(t)
	// An older F chain (20 mm off) and a newer one (10 mm off): the report
	// takes the newer.
	fx.addRun("ir-old", "ir", "F:ir", Finished, "", func(i int, r datasets.Record) Prediction {
		return Prediction{Has3D: true, Pose3D: shifted(r, 20)}
	})
	fx.addRun("ir-new", "ir", "F:ir", Finished, "", func(i int, r datasets.Record) Prediction {
		return Prediction{Has3D: true, Pose3D: shifted(r, 10)}
	})
	// G: SH (2D, ignored by G), SB (depth 30 mm too far for every joint
	// but the root), IR (exact 2D).
	fx.addRun("sh-g", "sh", "G:sh", Finished, "", func(i int, r datasets.Record) Prediction {
		return Prediction{Has2D: true, Pose2D: r.Joints2D}
	})
	fx.addRun("sb-g", "sb", "G:sb", Finished, "sh-g", func(i int, r datasets.Record) Prediction {
		p := pose.RootRelative(r.Joints3D)
		for j := 1; j < len(p); j++ {
			p[j][2] += 30
		}
		return Prediction{Has3D: true, Pose3D: p}
	})
	fx.addRun("ir-g", "ir", "G:ir", Finished, "sb-g", func(i int, r datasets.Record) Prediction {
		return Prediction{Has2D: true, Pose2D: r.Joints2D, Has3D: true, Pose3D: shifted(r, 500)}
	})
	// A newer G whose IR stage is still running must not replace it.
	fx.addRun("ir-g2", "ir", "G:ir", Running, "sb-g", func(i int, r datasets.Record) Prediction { return Prediction{} })
	// A: a chain whose only run failed has no row.
	fx.addRun("bl-a", "baseline", "A:baseline", Failed, "", func(i int, r datasets.Record) Prediction { return Prediction{} })
	e := fx.open()
	recs := fx.data.recs[datasets.Val]

	f, err := e.PipelineResult("F", datasets.Val)
	if err != nil {
		t.Fatal(err)
	}
	if want := 10.0 * 16 / 17; math.Abs(f.Report.MPJPE-want) > 1e-9 || len(f.Runs) != 1 || f.Runs[0] != "ir-new" {
		t.Errorf("F: %.4f mm from %v, want %.4f from ir-new", f.Report.MPJPE, f.Runs, want)
	}
	g, err := e.PipelineResult("G", datasets.Val)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Runs) != 3 || g.Runs[0] != "sh-g" || g.Runs[1] != "sb-g" || g.Runs[2] != "ir-g" {
		t.Errorf("G runs %v", g.Runs)
	}
	// Expected: exact pixels lifted at depth + 30 mm, root-aligned.
	var pred, gt []pose.Pose3D
	for _, r := range recs {
		rel := pose.RootRelative(r.Joints3D)
		var z [pose.NumJoints]float64
		for j := range z {
			z[j] = rel[j][2]
			if j > 0 {
				z[j] += 30
			}
		}
		cam := r.Cam
		pred, gt = append(pred, pose.LiftWithRootDepth(&cam, r.Joints2D, z, r.Joints3D[pose.Hip][2])), append(gt, r.Joints3D)
	}
	want := pose.MPJPE(pred, gt)
	if math.Abs(g.Report.MPJPE-want) > 1e-9 || want < 20 {
		t.Errorf("G: %.4f mm, want %.4f (depth error 30 mm and the x, y it implies)", g.Report.MPJPE, want)
	}
	if _, err := e.PipelineResult("A", datasets.Val); err == nil {
		t.Error("A got a row from a failed run")
	}
	if _, err := e.PipelineResult("F", datasets.Test); err == nil {
		t.Error("the unlabelled test split was scored")
	}
	if preds, _, _, err := e.PipelinePredictions("G", datasets.Test); err != nil || len(preds) != len(fx.data.recs[datasets.Test]) {
		t.Errorf("G test predictions: %d, %v", len(preds), err)
	}

	// Exports read back through the loaders and score the same; the
	// ground-truth export scores the exported predictions identically.
	dir := t.TempDir()
	for _, ext := range []string{"csv", "json", "npz"} {
		pp, gp := filepath.Join(dir, "G-val."+ext), filepath.Join(dir, "gt-val."+ext)
		if err := ExportPredictions(pp, g.Preds); err != nil {
			t.Fatal(err)
		}
		if err := ExportGroundTruth(gp, recs); err != nil {
			t.Fatal(err)
		}
		pr, err := predfile.Read(pp)
		if err != nil {
			t.Fatal(err)
		}
		gr, err := predfile.Read(gp)
		if err != nil {
			t.Fatal(err)
		}
		if len(pr) != len(recs) || len(gr) != len(recs) {
			t.Fatalf("%s: %d and %d rows for %d records", ext, len(pr), len(gr), len(recs))
		}
		var p, q []pose.Pose3D
		for i := range pr {
			if pr[i].ID != i || gr[i].ID != i {
				t.Fatalf("%s: row %d has ids %d, %d", ext, i, pr[i].ID, gr[i].ID)
			}
			p, q = append(p, pr[i].Joints), append(q, gr[i].Joints)
		}
		got := pose.Evaluate(p, q, nil)
		tol := 1e-6
		if ext == "npz" {
			tol = 2e-3 // float32 storage
		}
		for _, c := range [][2]float64{{got.MPJPE, g.Report.MPJPE}, {got.PMPJPE, g.Report.PMPJPE}, {got.AUC, g.Report.AUC}, {got.PCK150, g.Report.PCK150}} {
			if math.Abs(c[0]-c[1]) > tol {
				t.Errorf("%s export scores %v, the report %v", ext, got, g.Report)
				break
			}
		}
	}
	if err := ExportPredictions(filepath.Join(dir, "x.csv"), []Prediction{{ID: 0, Has2D: true}}); err == nil {
		t.Error("a 2D-only prediction was exported as 3D")
	}
}
