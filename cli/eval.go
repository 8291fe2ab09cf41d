package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"poselab/datasets"
	"poselab/engine"
	"poselab/pose"
)

func init() {
	Register(&Command{Name: "eval", Summary: "score a run's best checkpoint (else its last) on a split (MPJPE, P-MPJPE, PCK, AUC)", Run: runEval})
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("eval", "eval --run ID [--split val|test] [--json]", stderr)
	id := fs.String("run", "", "run ID")
	split := fs.String("split", "val", "split: train, val or test (test needs labels)")
	asJSON := fs.Bool("json", false, "print one JSON object (the keys of 'poselab metrics --json'; a 2D model's: n, error_px, pckh50, per_joint_px)")
	runsDir := runsDirFlag(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return Usagef("--run is required")
	}
	sp, err := engine.ParseSplit(*split)
	if err != nil {
		return UsageError{err}
	}
	e, err := openRun(*runsDir, *id)
	if err != nil {
		return err
	}
	defer e.Close()
	ep, n, ref, err := evalRun(e, *id, sp)
	from := "from " + ref.Label()
	if err != nil {
		r, _ := e.Run(*id)
		return evalError(err, *id, r.Spec.Model, sp)
	}
	if !(ep.MPJPE > 0) && ep.Pixel > 0 {
		// A 2D model (SH): its numbers are pixels and PCKh; the 3D ones
		// are zero and printed "MPJPE 0.00 mm", a perfect score.
		return print2DEval(stdout, *id, sp, n, ref, ep, *asJSON)
	}
	if *asJSON {
		b, _ := json.Marshal(withCkpt(Metrics3DJSON{N: n, MPJPE: ep.MPJPE, PMPJPE: ep.PMPJPE, NMPJPE: ep.NMPJPE, PCK150: ep.PCK150, AUC: ep.AUC, PerJointMM: ep.PerJoint}, ref))
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "run %s, %s split, %d samples, %s\n", *id, sp, n, from)
	// Percentages for people; --json keeps fractions (README).
	fmt.Fprintf(stdout, "  MPJPE     %8.2f mm\n  P-MPJPE   %8.2f mm\n  N-MPJPE   %8.2f mm\n  3DPCK@150 %8.1f %%\n  AUC       %8.1f %%\n",
		ep.MPJPE, ep.PMPJPE, ep.NMPJPE, 100*ep.PCK150, 100*ep.AUC)
	fmt.Fprintln(stdout, "per joint (mm):")
	for j, v := range ep.PerJoint {
		fmt.Fprintf(stdout, "  %-10s %7.1f\n", pose.JointNames[j], v)
	}
	if len(ep.PerAction) > 0 {
		fmt.Fprintln(stdout, "per action (MPJPE, mm):")
		var acts []string
		for a := range ep.PerAction {
			acts = append(acts, a)
		}
		sort.Strings(acts)
		for _, a := range acts {
			fmt.Fprintf(stdout, "  %-14s %7.1f\n", a, ep.PerAction[a])
		}
	}
	return nil
}

// Eval2DJSON is eval --json for a 2D model.
type Eval2DJSON struct {
	N          int       `json:"n"`
	ErrorPx    float64   `json:"error_px"`
	PCKh50     float64   `json:"pckh50"`
	PerJointPx []float64 `json:"per_joint_px"`
}

func print2DEval(w io.Writer, id string, sp datasets.Split, n int, ref engine.CkptRef, ep engine.EpochInfo, asJSON bool) error {
	if asJSON {
		return writeJSON(w, withCkpt(Eval2DJSON{N: n, ErrorPx: ep.Pixel, PCKh50: ep.PCKh, PerJointPx: ep.PerJointPx}, ref))
	}
	fmt.Fprintf(w, "run %s, %s split, %d samples (2D model), from %s\n", id, sp, n, ref.Label())
	fmt.Fprintf(w, "  2D error  %8.2f px\n  PCKh@0.5  %8.1f %%\n", ep.Pixel, 100*ep.PCKh)
	if len(ep.PerJointPx) == pose.NumJoints {
		fmt.Fprintln(w, "per joint (px):")
		for j, v := range ep.PerJointPx {
			fmt.Fprintf(w, "  %-10s %7.1f\n", pose.JointNames[j], v)
		}
	}
	return nil
}

// evalRun scores a run's model on a split; from is the checkpoint it
// came from ("from best.ckpt: epoch 3, step 120"): the best, not the newest, which
// the numbers of a run still training do not match.
func evalRun(e *engine.Engine, id string, sp datasets.Split) (ep engine.EpochInfo, n int, from engine.CkptRef, err error) {
	m, err := e.LoadModel(id)
	if err != nil {
		return engine.EpochInfo{}, 0, from, err
	}
	defer m.Close()
	from = m.From
	preds, err := m.Predict(sp)
	if err != nil {
		return engine.EpochInfo{}, 0, from, err
	}
	ep, err = m.Task.Evaluate(sp, preds)
	return ep, len(preds), from, err
}

// withCkpt is eval's JSON (metrics --json's keys) with the checkpoint
// that scored, as its text line and export --json name it: checkpoint,
// epoch (epochs done), step.
func withCkpt(v any, ref engine.CkptRef) map[string]any {
	m := toMap(v)
	m["checkpoint"], m["epoch"], m["step"] = ref.Path, ref.Epoch, ref.Step
	return m
}

// openRun opens the engine on a runs folder that must hold run id (the
// caller closes it); a missing run is a usage error.
func openRun(runsDir, id string) (*engine.Engine, error) {
	if err := existingRunsDir(runsDir); err != nil {
		return nil, err
	}
	e, err := engine.Open(engine.Options{RunsDir: runsDir})
	if err != nil {
		return nil, err
	}
	if _, ok := e.Run(id); !ok {
		err := noRun(e, "", id, runsDir)
		e.Close()
		return nil, err
	}
	return e, nil
}

// existingRunsDir refuses a runs folder that does not exist for commands
// that only read runs: opening the engine on it would create it (and its
// database), so a mistyped --runs-dir left a stray folder and said
// "no runs".
func existingRunsDir(runsDir string) error {
	if st, err := os.Stat(runsDir); err != nil || !st.IsDir() {
		return Usagef("runs directory %q does not exist", runsDir)
	}
	return nil
}

// evalError says what to do with a split that has no labels: it said
// "evaluate: this split has no labels", naming neither the split nor
// what writes its predictions. An SH run's are 2D joints, which export
// writes as JSON (it once refused them) and which feed a 3D model.
func evalError(err error, id, model string, sp datasets.Split) error {
	if errors.Is(err, engine.ErrNoLabels) {
		if engine.Exports2D(model) {
			return fmt.Errorf("the %s split has no labels to score run %s against: write its 2D predictions instead (poselab export --run %s --split %s), or feed them to a 3D model (poselab train --model sb --from %s)", sp, id, id, sp, id)
		}
		return fmt.Errorf("the %s split has no labels to score run %s against: write its predictions instead (poselab export --run %s --split %s --out FILE)", sp, id, id, sp)
	}
	return err
}
