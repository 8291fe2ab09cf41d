package engine

import (
	"fmt"

	"poselab/datasets"
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

// combineE builds pipeline E's predictions of a split: for every record,
// SH's 2D (stage 0) with SB's root-relative depth (stage 1) lifted at the
// record's ground-truth root depth, root-relative.
func combineE(split datasets.Split, stages []RunOutputs, recs []datasets.Record) ([]Prediction, error) {
	if len(stages) != 2 {
		return nil, fmt.Errorf("pipeline E: want the outputs of 2 stages (SH, SB), got %d", len(stages))
	}
	return combineXYWithDepth("E", split, stages[0].Splits[split], stages[1].Splits[split], recs)
}
