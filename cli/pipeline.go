package cli

import (
	"fmt"
	"io"

	"poselab/engine"
)

func init() {
	Register(&Command{Name: "pipeline", Summary: "train a pipeline's chain of runs (C: ground-truth 2D -> SB, D..G)", Run: runPipeline})
}

const pipelineSynopsis = `pipeline run NAME [--preset tiny|seed] [flags]

Queues the chain of runs of pipeline NAME (C = ground-truth 2D -> SB;
D, E, F, G as in the seed report) and follows it like 'poselab train'.`

func runPipeline(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "Usage: poselab "+pipelineSynopsis)
			return nil
		}
		return Usagef("usage: poselab %s", pipelineSynopsis)
	}
	args = args[1:]
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return Usagef("pipeline run: name the pipeline (e.g. C)")
	}
	name := args[0]
	fs := NewFlagSet("pipeline run", pipelineSynopsis, stderr)
	preset := fs.String("preset", "tiny", "preset of every stage: tiny or seed")
	data := fs.String("data", "synth", "data: synth or a data folder")
	device := fs.String("device", "cpu", "device: cpu or cuda")
	seed := fs.Int64("seed", 1, "seed")
	asJSON := fs.Bool("json", false, "print one JSON event per line")
	runsDir := runsDirFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected arguments %q (see --help)", fs.Args())
	}
	p, err := engine.LookupPipeline(name)
	if err != nil {
		return UsageError{err}
	}
	if _, err := engine.NewBackend(*device); err != nil {
		return UsageError{err}
	}
	if *data, err = checkData(*data); err != nil {
		return err
	}
	e, err := engine.Open(engine.Options{RunsDir: *runsDir})
	if err != nil {
		return err
	}
	defer e.Close()
	ids, err := e.SubmitChain(p.Stages(*preset, engine.Spec{Data: *data, Device: *device, Seed: *seed}))
	if err != nil {
		return UsageError{err}
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "pipeline %s: runs %v\n", name, ids)
	}
	return watch(e, ids, *asJSON, stdout, stderr)
}
