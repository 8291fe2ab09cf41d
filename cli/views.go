package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"poselab/engine"
	"poselab/pose"
)

// The workbench's views, headless: `runs curves`, `runs joints` and
// `runs skeletons` print the numbers the Curves, Joints and Skeleton views
// draw (`runs log` is the Log view), from the same engine calls, so that
// a script (or a user without a terminal) sees what the workbench shows.

// curveRow is one training step: its loss and learning rate, or, for a
// step still to come, the rate the run's schedule will use (planned).
type curveRow struct {
	Step    int      `json:"step"` // steps done, as step events count them (1 = the first)
	Epoch   int      `json:"epoch"`
	Loss    *float64 `json:"loss"` // null for a planned step
	LR      float64  `json:"lr"`
	Planned bool     `json:"planned,omitempty"`
	// Time the step ended (RFC 3339, as train --json's events): the
	// workbench's x axis as elapsed or wall-clock time. Absent when
	// planned or not stored.
	Time string `json:"time,omitempty"`
}

// showCurves prints a run's training steps, every `every`-th one (and the
// last), and the learning rate of the steps still to come as its schedule
// gives it: the Curves view's loss and learning-rate charts.
func showCurves(w io.Writer, e *engine.Engine, r engine.RunInfo, every int, asJSON bool) error {
	id := r.Spec.ID
	steps, err := e.Steps(id)
	if err != nil {
		return err
	}
	sched, _ := e.Schedule(id)
	if every < 1 {
		every = 1
	}
	perEpoch := max(r.StepsPerEpoch, sched.StepsPerEpoch, 1)
	var rows []curveRow
	done := 0
	for i, p := range steps {
		done = p.Step + 1
		if done%every != 0 && i != len(steps)-1 && i != 0 {
			continue
		}
		loss := p.Loss
		c := curveRow{Step: done, Epoch: p.Epoch, Loss: &loss, LR: p.LR}
		if p.Time > 0 {
			c.Time = time.Unix(0, int64(p.Time*1e9)).UTC().Format(time.RFC3339Nano)
		}
		rows = append(rows, c)
	}
	// The future, from the schedule itself (step s runs with LR(s-1)), as
	// the learning-rate chart draws it dotted.
	for s := done + 1; s <= r.TotalSteps; s++ {
		if s%every != 0 && s != r.TotalSteps && s != done+1 {
			continue
		}
		rows = append(rows, curveRow{Step: s, Epoch: (s - 1) / perEpoch, LR: sched.LR(s - 1), Planned: true})
	}
	if asJSON {
		out := map[string]any{"run": id, "total_steps": r.TotalSteps, "steps_done": done, "schedule": toMap(sched), "steps": rows}
		b, err := json.Marshal(out)
		if err != nil { // a NaN loss (a run that diverged)
			for i := range rows {
				if rows[i].Loss != nil && (math.IsNaN(*rows[i].Loss) || math.IsInf(*rows[i].Loss, 0)) {
					rows[i].Loss = nil
				}
			}
			b, _ = json.Marshal(out)
		}
		fmt.Fprintln(w, string(b))
		return nil
	}
	kind := sched.Kind
	if kind == "" {
		kind = "constant"
	}
	fmt.Fprintf(w, "%s: %s of %s done; schedule %s, base lr %g", runTitle(r.Spec), plural(done, "step"), stepsTotal(r.TotalSteps), kind, sched.BaseLR)
	if every > 1 {
		fmt.Fprintf(w, "; every %d steps", every)
	}
	fmt.Fprintln(w)
	if len(rows) == 0 {
		fmt.Fprintln(w, "  no steps yet (the total comes from the data when the run starts)")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tEPOCH\tLOSS\tLR\t")
	for _, c := range rows {
		loss := "planned"
		if c.Loss != nil {
			loss = fmt.Sprintf("%.4f", *c.Loss)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%.3e\t\n", c.Step, c.Epoch+1, loss, c.LR)
	}
	return tw.Flush()
}

func stepsTotal(n int) string {
	if n == 0 {
		return "? (not started)"
	}
	return fmt.Sprint(n)
}

// lastAndBest are a run's newest validation and its best one (the last
// epoch flagged best), as the Joints view compares them; nil where none.
func lastAndBest(eps []engine.EpochInfo) (last, best *engine.EpochInfo) {
	if len(eps) == 0 {
		return nil, nil
	}
	last = &eps[len(eps)-1]
	for i := len(eps) - 1; i >= 0; i-- {
		if eps[i].Best {
			return last, &eps[i]
		}
	}
	return last, nil
}

// showJoints prints the per-joint error of a run's newest validation and
// of its best epoch (the checkpoint eval, export and report use), in
// skeleton order or worst first (the Joints view's o), and the
// per-action table beside it.
func showJoints(w io.Writer, e *engine.Engine, r engine.RunInfo, byError, asJSON bool) error {
	eps, err := e.Epochs(r.Spec.ID)
	if err != nil {
		return err
	}
	last, best := lastAndBest(eps)
	unit := "mm"
	var lastV, bestV []float64
	if last != nil {
		lastV = last.PerJoint
		if best != nil {
			bestV = best.PerJoint
		}
		if len(lastV) == 0 && len(last.PerJointPx) > 0 { // a 2D model: pixels
			unit, lastV, bestV = "px", last.PerJointPx, nil
			if best != nil {
				bestV = best.PerJointPx
			}
		}
	}
	order := make([]int, len(lastV))
	for i := range order {
		order[i] = i
	}
	if byError {
		sort.SliceStable(order, func(a, b int) bool { return lastV[order[a]] > lastV[order[b]] })
	}
	cell := func(v []float64, j int) any {
		if j < len(v) {
			return clean(v[j])
		}
		return nil
	}
	var actions []string
	if last != nil {
		for a := range last.PerAction {
			actions = append(actions, a)
		}
		sort.Strings(actions)
	}
	if asJSON {
		joints := []any{}
		for _, j := range order {
			joints = append(joints, map[string]any{"joint": pose.JointNames[j], "last": cell(lastV, j), "best": cell(bestV, j)})
		}
		acts := []any{}
		for _, a := range actions {
			m := map[string]any{"action": a, "last": clean(last.PerAction[a]), "best": nil}
			if best != nil {
				if v, ok := best.PerAction[a]; ok {
					m["best"] = clean(v)
				}
			}
			acts = append(acts, m)
		}
		out := map[string]any{"run": r.Spec.ID, "unit": unit, "last_epoch": nil, "best_epoch": nil, "joints": joints, "actions": acts}
		out["validated"] = last != nil && last.Validated() // false: nothing to list (data without a validation split, or none yet)
		if last != nil {
			out["last_epoch"] = last.Epoch
		}
		if best != nil {
			out["best_epoch"] = best.Epoch
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(w, string(b))
		return nil
	}
	if last == nil {
		fmt.Fprintf(w, "%s: no validation yet\n", runTitle(r.Spec))
		return nil
	}
	if !last.Validated() {
		fmt.Fprintf(w, "%s: epoch %d not validated: the data has no validation split\n", runTitle(r.Spec), last.Epoch+1)
		return nil
	}
	if len(lastV) == 0 {
		fmt.Fprintf(w, "%s: this model reports no per-joint error\n", runTitle(r.Spec))
		return nil
	}
	head := fmt.Sprintf("%s: per-joint error (%s), last epoch %d", runTitle(r.Spec), unit, last.Epoch+1)
	bestHead := "BEST"
	if best != nil {
		head += fmt.Sprintf(", best epoch %d", best.Epoch+1)
		bestHead = fmt.Sprintf("BEST (EPOCH %d)", best.Epoch+1)
	}
	if byError {
		head += ", worst first"
	}
	fmt.Fprintln(w, head)
	num := func(v []float64, j int) string {
		if j < len(v) && !math.IsNaN(v[j]) && !math.IsInf(v[j], 0) {
			return fmt.Sprintf("%.1f", v[j])
		}
		return "-"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "JOINT\tLAST\t%s\t\n", bestHead)
	for _, j := range order {
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", pose.JointNames[j], num(lastV, j), num(bestV, j))
	}
	if len(actions) > 0 {
		fmt.Fprintf(tw, "\t\t\t\nACTION\tLAST\t%s\t\n", bestHead)
		for _, a := range actions {
			b := "-"
			if best != nil {
				if v, ok := best.PerAction[a]; ok {
					b = fmt.Sprintf("%.1f", v)
				}
			}
			fmt.Fprintf(tw, "%s\t%.1f\t%s\t\n", a, last.PerAction[a], b)
		}
	}
	return tw.Flush()
}

// showSkeletons prints the skeleton samples of a run's newest stored
// validation: ground truth and prediction of each (mm, camera space,
// root-relative, H36M joint order; a 2D model's in crop pixels) and the
// sample's own error, as the Skeleton view draws them.
func showSkeletons(w io.Writer, e *engine.Engine, r engine.RunInfo, asJSON bool) error {
	samples, epoch, err := e.Samples(r.Spec.ID)
	if err != nil {
		return err
	}
	type sampleJSON struct {
		Index   int          `json:"index"` // the validation sample's index in its split
		ErrorMM *float64     `json:"error_mm,omitempty"`
		ErrorPx *float64     `json:"error_px,omitempty"`
		GT      [][3]float64 `json:"gt_mm,omitempty"`
		Pred    [][3]float64 `json:"pred_mm,omitempty"`
		GT2D    []pose.Vec2  `json:"gt_px,omitempty"`
		Pred2D  []pose.Vec2  `json:"pred_px,omitempty"`
		// Each joint's error, in the joints' order: mm for a 3D sample,
		// original-image px for a 2D one (null: a joint it has no label
		// for); absent for a sample stored before samples carried them.
		JointsMM []float64  `json:"joints_mm,omitempty"`
		JointsPx []*float64 `json:"joints_px,omitempty"`
	}
	out := make([]sampleJSON, 0, len(samples))
	for _, s := range samples {
		// The errors are the engine's (ErrorPx in original-image pixels,
		// as the epoch's val_px); 0 is unknown.
		o := sampleJSON{Index: s.Index}
		if s.Is2D() { // a 2D model's sample: crop pixels
			o.GT2D, o.Pred2D = s.GT2D, s.Pred2D
			if s.ErrorPx > 0 {
				o.ErrorPx = &s.ErrorPx
			}
			if len(s.JointsPx) == pose.NumJoints {
				o.JointsPx = make([]*float64, pose.NumJoints)
				for j := range s.JointsPx {
					if s.JointsPx[j] >= 0 { // engine.NoJointError: unlabelled
						o.JointsPx[j] = &s.JointsPx[j]
					}
				}
			}
		} else {
			o.GT, o.Pred = s.GT[:], s.Pred[:]
			if s.ErrorMM > 0 {
				o.ErrorMM = &s.ErrorMM
			}
			if len(s.JointsMM) == pose.NumJoints {
				o.JointsMM = s.JointsMM
			}
		}
		out = append(out, o)
	}
	if asJSON {
		m := map[string]any{"run": r.Spec.ID, "epoch": nil, "joints": pose.JointNames, "samples": out}
		if len(samples) > 0 {
			m["epoch"] = epoch
		}
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, string(b))
		return nil
	}
	if len(samples) == 0 {
		fmt.Fprintf(w, "%s: no skeleton samples stored yet (they come with its validations)\n", runTitle(r.Spec))
		return nil
	}
	fmt.Fprintf(w, "%s: %s of epoch %d's validation (--json: every joint of ground truth, prediction and error)\n", runTitle(r.Spec), plural(len(samples), "sample"), epoch+1)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SAMPLE\tVALIDATION #\tERROR\tWORST JOINT\t")
	for i, o := range out {
		errText, worst := "-", "-"
		switch {
		case o.ErrorMM != nil:
			errText = fmt.Sprintf("%.1f mm", *o.ErrorMM)
		case o.ErrorPx != nil:
			errText = fmt.Sprintf("%.1f px", *o.ErrorPx)
		}
		// The engine's per-joint errors, in the sample's unit; "-" for a
		// sample stored before it carried them.
		if k, e, unit, ok := samples[i].WorstJoint(); ok {
			worst = fmt.Sprintf("%s %.1f %s", pose.JointNames[k], e, unit)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t\n", i+1, o.Index, errText, worst)
	}
	return tw.Flush()
}

// sortByBest orders runs as the workbench's b does (engine.SortBestFirst):
// best validation first, 3D models (mm) before 2D ones (px), runs without
// one last.
func sortByBest(e *engine.Engine, runs []engine.RunInfo) {
	engine.SortBestFirst(runs, func(r engine.RunInfo) (float64, bool) { return r.BestValMPJPE, is2D(e, r.Spec.ID) })
}

// sortWord checks --sort for a runs subcommand (onlyRunsFlags has refused
// it on the others).
func sortWord(sub, v string) (string, error) {
	allowed := map[string][]string{"ls": {"start", "best"}, "joints": {"skeleton", "error"}}
	ok := allowed[sub]
	if v == "" {
		if len(ok) > 0 {
			return ok[0], nil
		}
		return "", nil
	}
	for _, a := range ok {
		if v == a {
			return v, nil
		}
	}
	return "", Usagef("runs %s --sort: %s, got %q", sub, strings.Join(ok, " or "), v)
}
