package engine

import (
	"fmt"

	"poselab/datasets"
	"poselab/pose"
)

// Pipelines A, B, F and G of the seed report (Table 1):
//
//	A = image baseline (ResNet + fully connected, x, y, z), no augmentation.
//	B = A with random flip and rotation augmentation (Spec.Augment).
//	F = Integral Regression (x, y, z): its 2D back-projected with the
//	    ground-truth root depth plus its own depth relative to the root.
//	G = IR (x, y) + [SH -> SB] (z): IR's pixels with the Simple Baseline's
//	    root-relative depth (SB trained on SH's 2D), lifted at the
//	    ground-truth root depth through the camera intrinsics (the seed's
//	    best single-view result, 60.82 mm).
//
// G trains its own SH and SB stages rather than reusing pipeline D's runs:
// a pipeline is then one self-contained chain that resumes stage by stage
// and whose report row names exactly the runs that produced it.

func init() {
	RegisterPipeline("A", func(preset string, base Spec) []Spec { return []Spec{baselineStage("A", preset, base, false)} })
	RegisterPipeline("B", func(preset string, base Spec) []Spec { return []Spec{baselineStage("B", preset, base, true)} })
	RegisterPipeline("F", func(preset string, base Spec) []Spec { return []Spec{irStage("F", preset, base)} })
	RegisterPipeline("G", gStages)
	RegisterCombine("G", combineG)
}

func baselineStage(name, preset string, base Spec, augment bool) Spec {
	s := stageOf(base, name, "baseline", preset)
	s.Augment = augment
	return s
}

func irStage(name, preset string, base Spec) Spec { return stageOf(base, name, "ir", preset) }

// stageOf is base as a stage of pipeline name training model.
func stageOf(base Spec, name, model, preset string) Spec {
	s := base
	s.Model, s.Preset, s.Pipeline = model, preset, name+":"+model
	s.From, s.After, s.Augment = nil, "", false
	if base.Name != "" {
		s.Name = base.Name + "-" + model
	}
	return s
}

// gStages: SH, then SB on SH's outputs, then IR; the chain runs one stage
// after the other (After) so that G's stages never compete for the CPU.
func gStages(preset string, base Spec) []Spec {
	sh := stageOf(base, "G", "sh", preset)
	sb := stageOf(base, "G", "sb", preset)
	sb.From, sb.After = []string{"@0"}, "@0"
	ir := irStage("G", preset, base)
	ir.After = "@1"
	return []Spec{sh, sb, ir}
}

// fallbackRootDepthMM back-projects records without a root position (a
// test split without labels): subjects stand 4-6 m from the cameras.
const fallbackRootDepthMM = 5000

// combineG: stages are [SH, SB, IR]; x, y from IR, z from SB.
func combineG(split datasets.Split, stages []RunOutputs, recs []datasets.Record) ([]Prediction, error) {
	if len(stages) != 3 {
		return nil, fmt.Errorf("pipeline G: want the outputs of 3 stages (SH, SB, IR), got %d", len(stages))
	}
	return combineXYWithDepth("G", split, stages[2].Splits[split], stages[1].Splits[split], recs)
}

// combineXYWithDepth lifts, for every record of a split, the 2D of xy's
// predictions (px of the original image) with the root-relative depth of
// z's 3D predictions at the record's root depth, through the camera's
// pinhole intrinsics, and root-aligns. Extra predictions beyond the
// records (MPII people in IR's training outputs) are ignored.
func combineXYWithDepth(name string, split datasets.Split, xy, z *Outputs, recs []datasets.Record) ([]Prediction, error) {
	if xy == nil || z == nil {
		return nil, fmt.Errorf("pipeline %s: %s outputs missing (2D stage %v, depth stage %v)", name, split, xy != nil, z != nil)
	}
	if len(xy.Preds) < len(recs) || len(z.Preds) < len(recs) {
		return nil, fmt.Errorf("pipeline %s: %s has %d records but the 2D stage predicted %d and the depth stage %d",
			name, split, len(recs), len(xy.Preds), len(z.Preds))
	}
	out := make([]Prediction, len(recs))
	for i := range recs {
		p2, p3 := xy.Preds[i], z.Preds[i]
		if p2.ID != i || p3.ID != i || !p2.Has2D || !p3.Has3D {
			return nil, fmt.Errorf("pipeline %s: %s record %d: 2D prediction %d (has 2D %v), depth prediction %d (has 3D %v)",
				name, split, i, p2.ID, p2.Has2D, p3.ID, p3.Has3D)
		}
		rel := pose.RootRelative(p3.Pose3D)
		var depth [pose.NumJoints]float64
		for j := range depth {
			depth[j] = rel[j][2]
		}
		root := recs[i].Joints3D[pose.Hip][2]
		if !(root > 0) {
			root = fallbackRootDepthMM
		}
		cam := recs[i].Cam
		out[i] = Prediction{ID: i, Has2D: true, Pose2D: p2.Pose2D, Has3D: true,
			Pose3D: pose.RootRelative(pose.LiftWithRootDepth(&cam, p2.Pose2D, depth, root))}
	}
	return out, nil
}
