package engine

import (
	"math"
	"testing"

	"poselab/datasets"
	"poselab/pose"
)

func TestPipelinesDEChainSHThenSB(t *testing.T) {
	for _, name := range []string{"D", "E"} {
		p, err := LookupPipeline(name)
		if err != nil {
			t.Fatal(err)
		}
		st := p.Stages("tiny", Spec{Name: "x", Data: "synth", Device: "cpu", Seed: 4, From: []string{"junk"}, After: "junk"})
		if len(st) != 2 || st[0].Model != "sh" || st[1].Model != "sb" {
			t.Fatalf("%s: stages %+v", name, st)
		}
		if st[0].From != nil || st[0].After != "" || len(st[1].From) != 1 || st[1].From[0] != "@0" || st[1].After != "@0" {
			t.Errorf("%s: SB must read and wait for SH: %+v", name, st)
		}
		for _, s := range st {
			if s.Preset != "tiny" || s.Seed != 4 || s.Data != "synth" || s.Pipeline != name+":"+s.Model {
				t.Errorf("%s: stage %+v", name, s)
			}
		}
		if (p.Combine != nil) != (name == "E") {
			t.Errorf("%s: combine %v", name, p.Combine != nil)
		}
	}
}

// E with SH's 2D equal to the exact (pinhole) projection and SB's depth
// equal to the truth reconstructs the truth, whatever SB says about x, y.
func TestCombineEUsesSHPixelsAndSBDepth(t *testing.T) {
	cam := pose.H36MIntrinsics[1]
	var recs []datasets.Record
	var sh, sb []Prediction
	for i := 0; i < 3; i++ {
		var g pose.Pose3D
		for j := range g {
			g[j] = pose.Vec3{float64(50*j - 400 + 7*i), float64(30*j - 500), 4500 + float64(20*j+100*i)}
		}
		recs = append(recs, datasets.Record{ID: i, Cam: cam, Joints3D: g, HasLabels: true})
		var uv pose.Pose2D
		for j := range g {
			uv[j] = cam.ProjectPinhole(g[j])
		}
		rel := pose.RootRelative(g)
		for j := range rel {
			rel[j][0], rel[j][1] = 1e4, -1e4 // SB's x and y are not used
		}
		sh = append(sh, Prediction{ID: i, Has2D: true, Pose2D: uv})
		sb = append(sb, Prediction{ID: i, Has3D: true, Pose3D: rel})
	}
	sh = append(sh, Prediction{ID: 3, Has2D: true}) // an MPII person after the records
	stages := []RunOutputs{
		{Splits: map[datasets.Split]*Outputs{datasets.Val: {Preds: sh}}},
		{Splits: map[datasets.Split]*Outputs{datasets.Val: {Preds: sb}}},
	}
	out, err := combineE(datasets.Val, stages, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d predictions for 3 records", len(out))
	}
	var pred, gt []pose.Pose3D
	for i, p := range out {
		if !p.Has3D || !p.Has2D || p.ID != i || p.Pose3D[pose.Hip] != (pose.Vec3{}) {
			t.Fatalf("prediction %+v", p)
		}
		pred, gt = append(pred, p.Pose3D), append(gt, recs[i].Joints3D)
	}
	if e := pose.MPJPE(pred, gt); e > 1e-9 || math.IsNaN(e) {
		t.Fatalf("MPJPE %.3g mm, want 0", e)
	}
	if _, err := combineE(datasets.Test, stages, recs); err == nil {
		t.Error("missing split accepted")
	}
	if _, err := combineE(datasets.Val, stages[:1], recs); err == nil {
		t.Error("one stage accepted")
	}
	stages[1].Splits[datasets.Val].Preds[1].Has3D = false
	if _, err := combineE(datasets.Val, stages, recs); err == nil {
		t.Error("SB prediction without 3D accepted")
	}
}
