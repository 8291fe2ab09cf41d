package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"poselab/datasets"
	"poselab/engine"
)

func init() {
	Register(&Command{Name: "pipeline", Summary: "train a pipeline's chain of runs (A..G; C: ground-truth 2D -> SB)", Run: runPipeline})
}

const pipelineSynopsis = `pipeline run NAME [--preset tiny|seed|test] [flags]

Queues the chain of runs of pipeline NAME (A..G as in the seed report;
C = ground-truth 2D -> SB) and follows it like 'poselab train'.`

// pipelinePresetsText lists each pipeline's presets (those all its stages
// have) as the engine registered them: "A tiny|seed|test; ...".
func pipelinePresetsText() string {
	var parts []string
	for _, n := range engine.PipelineNames() {
		parts = append(parts, n+" "+strings.Join(engine.PipelinePresets(n), "|"))
	}
	return strings.Join(parts, "; ")
}

func runPipeline(args []string, stdout, stderr io.Writer) error {
	// The flag set comes first so that every way of asking for help
	// (`pipeline --help`, `pipeline run --help`) lists the flags.
	fs := NewFlagSet("pipeline run", pipelineSynopsis, stderr)
	preset := fs.String("preset", "tiny", "preset of every stage (test: seconds, for trying things), one all its stages have: "+pipelinePresetsText())
	data := fs.String("data", "synth", "data: synth or a data folder")
	device := fs.String("device", "cpu", "device: cpu or cuda")
	seed := fs.Int64("seed", 1, "seed")
	patience := fs.Int("patience", 0, "end each stage, finished, once its validation has not improved for N epochs (default: train every epoch)")
	// The workbench's new-run form gives a pipeline every field it gives
	// a single run (Init excepted): each stage takes them.
	name := fs.String("name", "", "a name for the runs, as the new-run form names them: NAME-<model> for each stage (NAME-sh, NAME-sb; A, B and F's one run NAME-baseline, NAME-ir), pipeline C's one run NAME")
	epochs := fs.Int("epochs", 0, "epochs of every stage (default: each stage's preset's)")
	batch := fs.Int("batch", 0, "batch size of every stage (default: each stage's preset's)")
	lr := fs.Float64("lr", 0, "base learning rate of every stage (default: each stage's preset's)")
	tf32 := fs.Bool("tf32", false, "CUDA: allow TF32 matrix math")
	after := fs.String("after", "", "queue the chain behind RUN: its first stage starts once RUN has finished (as train --after)")
	asJSON := fs.Bool("json", false, "print one JSON event per line")
	runsDir := runsDirFlag(fs)
	isHelp := func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }
	if len(args) > 0 && isHelp(args[0]) || len(args) > 1 && args[0] == "run" && isHelp(args[1]) {
		fs.Usage()
		return nil
	}
	if len(args) == 0 || args[0] != "run" {
		return Usagef("usage: poselab %s", pipelineSynopsis)
	}
	args = args[1:]
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return Usagef("pipeline run: name the pipeline (e.g. C)")
	}
	pipe := args[0]
	for _, a := range args[1:] {
		if a == "--" {
			break
		}
		if f := strings.TrimLeft(a, "-"); a != f && (f == "init" || strings.HasPrefix(f, "init=")) {
			// README promises a refusal that says why, not "flag
			// provided but not defined" and the flag list.
			return Usagef("pipelines refuse --init: their stages are different models; fine-tune one stage's model on its own (poselab train --model MODEL --init SRC)")
		}
	}
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if *patience < 0 {
		return Usagef("--patience must be 0 (train every epoch) or more epochs, got %d", *patience)
	}
	set := flagsSet(fs)
	if err := checkCounts(set, map[string]int{"epochs": *epochs, "batch": *batch}); err != nil {
		return err
	}
	if err := checkLR(*lr, set); err != nil {
		return err
	}
	if *tf32 && *device != "cuda" { // train's words
		return Usagef("--tf32 is a CUDA setting: it needs --device cuda")
	}
	p, err := engine.LookupPipeline(pipe)
	if err != nil {
		return UsageError{err}
	}
	if ok := engine.PipelinePresets(pipe); !slices.Contains(ok, *preset) {
		return Usagef("pipeline %s has no preset %q (the presets all its stages have: %s)", pipe, *preset, strings.Join(ok, ", "))
	}
	if _, err := engine.NewBackend(*device); err != nil {
		return UsageError{err}
	}
	images := ""
	for _, s := range p.Stages(*preset, engine.Spec{}) {
		if images = imageModel(s.Model); images != "" {
			images = "pipeline " + pipe + "'s " + images
			break
		}
	}
	var data0 datasets.Dataset
	if *data, data0, err = checkData(flagPath("data", *data), images); err != nil {
		return err
	}
	e, err := engine.Open(engine.Options{RunsDir: *runsDir, OpenData: openData(*data, data0)})
	if err != nil {
		return err
	}
	defer e.Close()
	base := engine.Spec{Name: *name, Data: *data, Device: *device, Seed: *seed, Patience: *patience,
		Epochs: *epochs, Batch: *batch, TF32: *tf32}
	base.Schedule.BaseLR = *lr
	stages := p.Stages(*preset, base)
	if *after != "" {
		if err := checkAfter(e, *after, *runsDir); err != nil {
			return err
		}
		stages[0].After = *after // the later stages come after the earlier ones
	}
	ids, err := e.SubmitChain(stages)
	if err != nil {
		return UsageError{err}
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "pipeline %s: runs %v\n", pipe, ids)
		queuedAfter(stdout, e, ids[0])
	}
	return watch(e, ids, *asJSON, stdout, stderr)
}
