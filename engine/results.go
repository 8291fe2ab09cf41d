package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"poselab/datasets"
	"poselab/datasets/predfile"
	"poselab/pose"
)

// The results table (the seed's Table 1): every pipeline's predictions of
// a split, from its most recent finished chain of stage runs, scored
// against the data set's ground truth. Pipelines with a combine step (E,
// G) are combined here from their stages' outputs, so the table never
// depends on how a chain was run.

// PipelineResult is one row of the results table.
type PipelineResult struct {
	Pipeline string
	Runs     []string // the stage runs that produced it, in stage order
	Split    datasets.Split
	Report   pose.Report
	Preds    []Prediction      // the pipeline's predictions of the split
	Records  []datasets.Record // the split's records (ground truth)
}

// PipelineNames lists the registered pipelines in name order.
func PipelineNames() []string {
	pipesMu.RLock()
	defer pipesMu.RUnlock()
	var names []string
	for n := range pipes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrNoFinishedRuns is PipelineChain's (and so PipelineResult's) error
// for a pipeline that has no run at all: nothing to score, as opposed to
// a chain that exists but cannot be scored, which callers report
// differently.
var ErrNoFinishedRuns = errors.New("no finished runs")

// PipelineChain returns the stage runs (stage order) of the most recently
// finished complete chain of a pipeline, or an error saying why there is
// none (ErrNoFinishedRuns where it has no run).
func (e *Engine) PipelineChain(name string) ([]RunInfo, error) {
	p, err := LookupPipeline(name)
	if err != nil {
		return nil, err
	}
	byID := map[string]RunInfo{}
	var last []RunInfo
	for _, r := range e.Runs() {
		byID[r.Spec.ID] = r
		if r.State == Finished && strings.HasPrefix(r.Spec.Pipeline, name+":") {
			last = append(last, r)
		}
	}
	if len(last) == 0 {
		// A chain that exists but has not finished (stopped, or extended
		// and stopped) is named, to resume: "poselab pipeline run C" would
		// train another from scratch.
		var newest *RunInfo
		for _, r := range byID {
			if strings.HasPrefix(r.Spec.Pipeline, name+":") && (newest == nil || r.Updated.After(newest.Updated)) {
				newest = &r
			}
		}
		if newest != nil {
			return nil, fmt.Errorf("pipeline %s: no finished chain; its newest run, %s (%s), is %s", name, newest.Spec.ID, newest.Spec.Pipeline, newest.State)
		}
		return nil, fmt.Errorf("pipeline %s: %w (poselab pipeline run %s)", name, ErrNoFinishedRuns, name)
	}
	// The stage tags the pipeline's chain has, e.g. G:sh, G:sb, G:ir.
	var tags []string
	for _, s := range p.Stages(last[0].Spec.Preset, Spec{}) {
		tags = append(tags, s.Pipeline)
	}
	sort.Slice(last, func(i, j int) bool { return last[i].Updated.After(last[j].Updated) })
	var why error
	for _, r := range last {
		if r.Spec.Pipeline != tags[len(tags)-1] {
			continue
		}
		chain, err := walkChain(r, byID, tags)
		if err == nil {
			return chain, nil
		}
		if why == nil { // the newest chain's reason: the one just run
			why = err
		}
	}
	if why == nil {
		why = fmt.Errorf("pipeline %s: its last stage (%s) has not finished", name, tags[len(tags)-1])
		// Name the newest such run, so that it can be resumed.
		var newest *RunInfo
		for _, r := range byID {
			if r.Spec.Pipeline == tags[len(tags)-1] && (newest == nil || r.Updated.After(newest.Updated)) {
				newest = &r
			}
		}
		if newest != nil {
			why = fmt.Errorf("pipeline %s: its last stage (%s), run %s, is %s", name, newest.Spec.Pipeline, newest.Spec.ID, newest.State)
		}
	}
	return nil, why
}

// walkChain follows After (or the first From) back from the last stage.
func walkChain(last RunInfo, byID map[string]RunInfo, tags []string) ([]RunInfo, error) {
	chain := []RunInfo{last}
	for len(chain) < len(tags) {
		cur := chain[len(chain)-1].Spec
		prev := cur.After
		if prev == "" && len(cur.From) > 0 {
			prev = cur.From[0]
		}
		r, ok := byID[prev]
		if prev == "" || !ok {
			return nil, fmt.Errorf("run %s (%s): its earlier stage %q is missing", cur.ID, cur.Pipeline, prev)
		}
		if r.State != Finished {
			return nil, fmt.Errorf("run %s (%s) is %s", r.Spec.ID, r.Spec.Pipeline, r.State)
		}
		chain = append(chain, r)
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	for i, r := range chain {
		if r.Spec.Pipeline != tags[i] {
			return nil, fmt.Errorf("run %s is stage %s, want %s", r.Spec.ID, r.Spec.Pipeline, tags[i])
		}
	}
	return chain, nil
}

// PipelinePredictions returns a pipeline's predictions of a split (its
// last stage's outputs, or its combine step applied to all stages'),
// with the chain of runs and the split's records.
func (e *Engine) PipelinePredictions(name string, split datasets.Split) ([]Prediction, []RunInfo, []datasets.Record, error) {
	p, err := LookupPipeline(name)
	if err != nil {
		return nil, nil, nil, err
	}
	chain, err := e.PipelineChain(name)
	if err != nil {
		return nil, nil, nil, err
	}
	lastSpec := chain[len(chain)-1].Spec
	data, err := e.dataset(lastSpec)
	if err != nil {
		return nil, nil, nil, err
	}
	recs, err := data.Records(split)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s records: %w", split, err)
	}
	outs := make([]RunOutputs, len(chain))
	for i, r := range chain {
		if outs[i], err = readCheckedOutputs(e.RunDir(r.Spec.ID), data); err != nil {
			return nil, nil, nil, err
		}
	}
	var preds []Prediction
	if p.Combine != nil {
		if preds, err = p.Combine(split, outs, recs); err != nil {
			return nil, nil, nil, err
		}
	} else {
		o := outs[len(outs)-1].Splits[split]
		if o == nil {
			return nil, nil, nil, fmt.Errorf("pipeline %s: run %s has no %s outputs", name, lastSpec.ID, split)
		}
		preds = o.Preds
	}
	if len(preds) > len(recs) {
		preds = preds[:len(recs)] // MPII people appended to a training split
	}
	if len(preds) != len(recs) {
		return nil, nil, nil, fmt.Errorf("pipeline %s: %d predictions of %s for %d records", name, len(preds), split, len(recs))
	}
	return preds, chain, recs, nil
}

// PipelineResult scores a pipeline on a labelled split.
func (e *Engine) PipelineResult(name string, split datasets.Split) (PipelineResult, error) {
	preds, chain, recs, err := e.PipelinePredictions(name, split)
	if err != nil {
		return PipelineResult{}, err
	}
	pred, gt, actions, err := scorable(preds, recs)
	if err != nil {
		return PipelineResult{}, fmt.Errorf("pipeline %s: %w", name, err)
	}
	res := PipelineResult{Pipeline: name, Split: split, Report: pose.Evaluate(pred, gt, actions), Preds: preds, Records: recs}
	for _, r := range chain {
		res.Runs = append(res.Runs, r.Spec.ID)
	}
	return res, nil
}

// scorable pairs 3D predictions with the records' ground truth.
func scorable(preds []Prediction, recs []datasets.Record) (pred, gt []pose.Pose3D, actions []string, err error) {
	for i, p := range preds {
		if !recs[i].HasLabels {
			return nil, nil, nil, fmt.Errorf("split has no labels (record %d)", i)
		}
		if !p.Has3D {
			return nil, nil, nil, fmt.Errorf("prediction %d has no 3D pose", i)
		}
		if notFinite3D(p.Pose3D) {
			return nil, nil, nil, fmt.Errorf("prediction %d is not finite", i)
		}
		pred, gt, actions = append(pred, p.Pose3D), append(gt, recs[i].Joints3D), append(actions, recs[i].Action)
	}
	if len(pred) == 0 {
		return nil, nil, nil, fmt.Errorf("no predictions to score")
	}
	return pred, gt, actions, nil
}

// ExportPredictions writes predictions as a prediction file (csv, json or
// npz by extension; mm, camera space, root-relative, Ids in split order).
func ExportPredictions(path string, preds []Prediction) error {
	rows := make([]predfile.Row, len(preds))
	for i, p := range preds {
		if !p.Has3D {
			return fmt.Errorf("export %s: prediction %d has no 3D pose", filepath.Base(path), p.ID)
		}
		rows[i] = predfile.Row{ID: p.ID, Joints: p.Pose3D}
		if p.Has2D {
			q := p.Pose2D
			rows[i].Joints2D = &q
		}
	}
	return predfile.Write(path, rows)
}

// ExportGroundTruth writes a split's labelled records as a prediction file
// (root-relative camera-space poses with their 2D), the reference that
// `poselab metrics` scores exports against.
func ExportGroundTruth(path string, recs []datasets.Record) error {
	rows := make([]predfile.Row, 0, len(recs))
	for i, r := range recs {
		if !r.HasLabels {
			return fmt.Errorf("export %s: record %d has no labels", filepath.Base(path), i)
		}
		q := r.Joints2D
		rows = append(rows, predfile.Row{ID: i, Joints: pose.RootRelative(r.Joints3D), Joints2D: &q})
	}
	return predfile.Write(path, rows)
}
