package cli

import (
	"fmt"
	"io"

	"poselab/engine"
)

func init() {
	Register(&Command{Name: "resume", Summary: "continue a stopped or killed run from its last checkpoint, or extend an ended one (--epochs)", Run: runResume})
}

func runResume(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("resume", `resume RUN [--epochs N] [--patience N] [--json] [--runs-dir DIR]

Continues a stopped, failed or killed run from its last checkpoint. With
--epochs (or --patience) it also extends a run that has ended, finished
included: a run that was still improving, or that patience ended too
soon, trains on to N epochs, with its config.toml saying so.`, stderr)
	asJSON := fs.Bool("json", false, "print one JSON event per line")
	epochs := fs.Int("epochs", 0, "train on to this many epochs in all (more than it has trained)")
	patience := fs.Int("patience", -1, "its new patience in epochs (0: train every epoch; default: keep)")
	runsDir := runsDirFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return Usagef("resume takes exactly one run ID (see 'poselab runs ls')")
	}
	id := pos[0]
	// The flags first: the data check below may read labels for seconds.
	set := flagsSet(fs)
	if set["epochs"] && *epochs <= 0 {
		return Usagef("--epochs must be a positive number, got %d", *epochs)
	}
	if set["patience"] && *patience < 0 {
		return Usagef("--patience must be 0 (train every epoch) or more epochs, got %d", *patience)
	}
	e, err := openRun(*runsDir, id)
	if err != nil {
		return err
	}
	defer func() {
		if e != nil {
			e.Close()
		}
	}()
	info, _ := e.Run(id)
	if info.State == engine.Finished && !set["epochs"] && !set["patience"] {
		// Said before the data check: with --epochs it is checked anyway.
		// A data folder gone is said too (the folder alone, no labels
		// read): resume --epochs N would refuse on it.
		if err := runDataErr(info); err != nil {
			return Usagef("run %s finished its %s: give it more with poselab resume %s --epochs N once its data is back (%v)", id, plural(info.Epoch, "epoch"), id, err)
		}
		return Usagef("run %s finished its %s: give it more with poselab resume %s --epochs N", id, plural(info.Epoch, "epoch"), id)
	}
	if info.Foreign {
		// Resuming means training here; the engine would pass the resume
		// on to that process, and Ctrl-C here would stop the run there.
		return fmt.Errorf("run %s is trained by %s: follow it with poselab runs watch %s (runs pause|resume|stop steer it)", id, info.Owner(), id)
	} else if info.Spec.Data != "" && info.Spec.Data != "synth" {
		// As train checks it: a data folder gone or broken since failed
		// the run here, an extended finished one included (it dropped out
		// of the report, its config.toml saying the epochs it never had).
		_, d, err := checkData(pathArg{key: "data", given: info.Spec.Data, path: info.Spec.Data}, imageModel(info.Spec.Model))
		if err != nil {
			return fmt.Errorf("run %s: %w", id, err)
		}
		// Reopened with the data set read above, which the run trains on.
		e.Close()
		if e, err = engine.Open(engine.Options{RunsDir: *runsDir, OpenData: openData(info.Spec.Data, d)}); err != nil {
			e = nil // closed above, and the defer must not close it again
			return err
		}
	}
	if set["epochs"] || set["patience"] {
		if err := e.Extend(id, *epochs, *patience); err != nil {
			return UsageError{err}
		}
	} else if err := e.Resume(id); err != nil {
		return UsageError{err}
	}
	err = watch(e, []string{id}, *asJSON, stdout, stderr)
	if err == nil && !*asJSON {
		// A chain interrupted or failed in the middle: its later stages were
		// stopped (or failed) before they started and stay so until resumed
		// themselves.
		for _, r := range e.Runs() {
			if r.Spec.After == id && (r.State == engine.Stopped || r.State == engine.Failed) {
				fmt.Fprintf(stderr, "run %s comes after it and is %s: continue the chain with: poselab resume %s\n", r.Spec.ID, r.State, r.Spec.ID)
			}
		}
	}
	return err
}

// runDataErr is what resume says of a run whose data folder is gone or
// holds no data set (the folder alone: its labels are read when the run
// trains), for the refusals that point to resume --epochs N.
func runDataErr(info engine.RunInfo) error {
	if d := info.Spec.Data; d != "" && d != "synth" {
		if _, _, err := checkFolder(pathArg{key: "data", given: d, path: d}); err != nil {
			return err
		}
	}
	return nil
}
