package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"poselab/datasets"
	"poselab/engine"
	"poselab/pose"
)

func init() {
	Register(&Command{Name: "eval", Summary: "score a run's best checkpoint on a split (MPJPE, P-MPJPE, PCK, AUC)", Run: runEval})
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("eval", "eval --run ID [--split val|test] [--json]", stderr)
	id := fs.String("run", "", "run ID")
	split := fs.String("split", "val", "split: train, val or test (test needs labels)")
	asJSON := fs.Bool("json", false, "print one JSON object (the keys of 'poselab metrics --json')")
	runsDir := runsDirFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected arguments %q (see --help)", fs.Args())
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
	ep, n, err := evalRun(e, *id, sp)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.Marshal(Metrics3DJSON{N: n, MPJPE: ep.MPJPE, PMPJPE: ep.PMPJPE, NMPJPE: ep.NMPJPE, PCK150: ep.PCK150, AUC: ep.AUC, PerJointMM: ep.PerJoint})
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "run %s, %s split, %d samples\n", *id, sp, n)
	fmt.Fprintf(stdout, "  MPJPE     %8.2f mm\n  P-MPJPE   %8.2f mm\n  N-MPJPE   %8.2f mm\n  3DPCK@150 %8.3f\n  AUC       %8.3f\n",
		ep.MPJPE, ep.PMPJPE, ep.NMPJPE, ep.PCK150, ep.AUC)
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

func evalRun(e *engine.Engine, id string, sp datasets.Split) (engine.EpochInfo, int, error) {
	m, err := e.LoadModel(id)
	if err != nil {
		return engine.EpochInfo{}, 0, err
	}
	defer m.Close()
	preds, err := m.Predict(sp)
	if err != nil {
		return engine.EpochInfo{}, 0, err
	}
	ep, err := m.Task.Evaluate(sp, preds)
	return ep, len(preds), err
}

// openRun opens the engine on a runs folder that must hold run id (the
// caller closes it); a missing run is a usage error.
func openRun(runsDir, id string) (*engine.Engine, error) {
	e, err := engine.Open(engine.Options{RunsDir: runsDir})
	if err != nil {
		return nil, err
	}
	if _, ok := e.Run(id); !ok {
		e.Close()
		return nil, Usagef("no run %q in %s", id, runsDir)
	}
	return e, nil
}
