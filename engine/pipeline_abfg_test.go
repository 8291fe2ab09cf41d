package engine

import (
	"strings"
	"testing"

	"poselab/datasets"
	"poselab/pose"
)

func TestPipelinesABFGStages(t *testing.T) {
	base := Spec{Data: "synth", Device: "cpu", Seed: 3, Name: "exp"}
	want := map[string][]string{"A": {"A:baseline"}, "B": {"B:baseline"}, "F": {"F:ir"}, "G": {"G:sh", "G:sb", "G:ir"}}
	for name, stages := range want {
		p, err := LookupPipeline(name)
		if err != nil {
			t.Fatal(err)
		}
		specs := p.Stages("tiny", base)
		if len(specs) != len(stages) {
			t.Fatalf("%s: %d stages", name, len(specs))
		}
		for i, s := range specs {
			if s.Pipeline != stages[i] || s.Preset != "tiny" || s.Data != "synth" || s.Seed != 3 || !strings.HasPrefix(s.Name, "exp-") {
				t.Errorf("%s stage %d: %+v", name, i, s)
			}
		}
	}
	a, _ := LookupPipeline("A")
	b, _ := LookupPipeline("B")
	if a.Stages("tiny", base)[0].Augment || !b.Stages("tiny", base)[0].Augment {
		t.Error("A must train without and B with augmentation")
	}
	g, _ := LookupPipeline("G")
	s := g.Stages("seed", base)
	if s[1].After != "@0" || len(s[1].From) != 1 || s[1].From[0] != "@0" || s[2].After != "@1" || s[0].After != "" || len(s[2].From) != 0 {
		t.Errorf("G chain: %+v", s)
	}
	if g.Combine == nil {
		t.Error("G has no combine step")
	}
}

// G's combination of the ground-truth 2D with the ground-truth depth is
// the ground truth (undistorted cameras), whatever the IR and SB stages'
// own 3D says; IR's extra MPII predictions are ignored.
func TestCombineG(t *testing.T) {
	d := newIRFakeData(5)
	recs := d.recs[datasets.Val]
	ir := &Outputs{Split: datasets.Val}
	sb := &Outputs{Split: datasets.Val}
	for i, r := range recs {
		var wrong pose.Pose3D
		wrong[3] = pose.Vec3{500, 500, 0} // IR's own 3D must not leak in
		ir.Preds = append(ir.Preds, Prediction{ID: i, Has2D: true, Pose2D: r.Joints2D, Has3D: true, Pose3D: wrong})
		sbPose := pose.RootRelative(r.Joints3D)
		for j := range sbPose {
			sbPose[j][0] += 300 // SB's x, y must not leak in either
		}
		sb.Preds = append(sb.Preds, Prediction{ID: i, Has3D: true, Pose3D: sbPose})
	}
	ir.Preds = append(ir.Preds, Prediction{ID: len(recs), Has2D: true}) // an MPII person
	stages := []RunOutputs{{}, {Splits: map[datasets.Split]*Outputs{datasets.Val: sb}}, {Splits: map[datasets.Split]*Outputs{datasets.Val: ir}}}
	preds, err := combineG(datasets.Val, stages, recs)
	if err != nil {
		t.Fatal(err)
	}
	var pred, gt []pose.Pose3D
	for i, p := range preds {
		pred, gt = append(pred, p.Pose3D), append(gt, recs[i].Joints3D)
		if p.Pose3D[pose.Hip] != (pose.Vec3{}) {
			t.Errorf("prediction %d is not root-relative", i)
		}
	}
	if e := pose.MPJPE(pred, gt); e > 1e-6 {
		t.Errorf("combined ground truth is %.6f mm off", e)
	}
	if _, err := combineG(datasets.Test, stages, recs); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing test outputs: %v", err)
	}
	sb.Preds = sb.Preds[:2]
	if _, err := combineG(datasets.Val, stages, recs); err == nil {
		t.Error("too few depth predictions accepted")
	}
	if _, err := combineG(datasets.Val, stages[:2], recs); err == nil {
		t.Error("two stages accepted")
	}
}
