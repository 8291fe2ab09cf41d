package engine

import (
	"fmt"

	"poselab/datasets"
	"poselab/pose"
)

// Pipelines D and E: a Stacked Hourglass finds the 2D joints in the image,
// then a Simple Baseline trained on SH's predictions for the training set
// lifts them to 3D.
//
//	D = SH -> SB (x, y, z): the Simple Baseline's 3D pose as it is.
//	E = SH (x, y) + SB (z): SH's pixels back-projected with the ground-truth
//	    root depth plus SB's depth relative to the root, through the
//	    camera's intrinsics (the seed's evaluation path and its best
//	    two-model result, 64.02 mm against D's 72.54 mm).

func init() {
	RegisterPipeline("D", func(preset string, base Spec) []Spec { return shSBStages("D", preset, base) })
	RegisterPipeline("E", func(preset string, base Spec) []Spec { return shSBStages("E", preset, base) })
	RegisterCombine("E", combineE)
}

// shSBStages is the two-stage chain: SH, then SB reading SH's outputs
// (From) once SH has finished (After).
func shSBStages(name, preset string, base Spec) []Spec {
	sh := base
	sh.Model, sh.Preset, sh.Pipeline = "sh", preset, name+":sh"
	sh.From, sh.After = nil, ""
	sb := base
	sb.Model, sb.Preset, sb.Pipeline = "sb", preset, name+":sb"
	sb.From, sb.After = []string{"@0"}, "@0"
	if base.Name != "" {
		sh.Name, sb.Name = base.Name+"-sh", base.Name+"-sb"
	}
	return []Spec{sh, sb}
}

// eFallbackRootDepthMM back-projects records that carry no root position
// (a test split without labels): subjects stand 4-6 m from the cameras.
const eFallbackRootDepthMM = 5000

// combineE builds pipeline E's predictions of a split: for every record,
// SH's 2D (stage 0) with SB's root-relative depth (stage 1) lifted at the
// record's ground-truth root depth, root-relative.
func combineE(split datasets.Split, stages []RunOutputs, recs []datasets.Record) ([]Prediction, error) {
	if len(stages) != 2 {
		return nil, fmt.Errorf("pipeline E: want the outputs of 2 stages (SH, SB), got %d", len(stages))
	}
	sh, sb := stages[0].Splits[split], stages[1].Splits[split]
	if sh == nil || sb == nil {
		return nil, fmt.Errorf("pipeline E: %s outputs missing (SH %v, SB %v)", split, sh != nil, sb != nil)
	}
	if len(sh.Preds) < len(recs) || len(sb.Preds) < len(recs) {
		return nil, fmt.Errorf("pipeline E: %s has %d records but SH predicted %d and SB %d", split, len(recs), len(sh.Preds), len(sb.Preds))
	}
	out := make([]Prediction, len(recs))
	for i := range recs {
		p2, p3 := sh.Preds[i], sb.Preds[i]
		if p2.ID != i || p3.ID != i || !p2.Has2D || !p3.Has3D {
			return nil, fmt.Errorf("pipeline E: %s record %d: SH prediction %d (2D %v), SB prediction %d (3D %v)", split, i, p2.ID, p2.Has2D, p3.ID, p3.Has3D)
		}
		rel := pose.RootRelative(p3.Pose3D)
		var z [pose.NumJoints]float64
		for j := range z {
			z[j] = rel[j][2]
		}
		root := recs[i].Joints3D[pose.Hip][2]
		if !(root > 0) {
			root = eFallbackRootDepthMM
		}
		cam := recs[i].Cam
		out[i] = Prediction{ID: i, Has2D: true, Pose2D: p2.Pose2D, Has3D: true,
			Pose3D: pose.RootRelative(pose.LiftWithRootDepth(&cam, p2.Pose2D, z, root))}
	}
	return out, nil
}
