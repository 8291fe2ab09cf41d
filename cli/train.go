package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"poselab/datasets"
	"poselab/datasets/synth"
	"poselab/engine"
)

func init() {
	Register(&Command{Name: "train", Summary: "train a model headless (progress bar or --json events)", Run: runTrain})
}

const trainSynopsis = `train --model sb --preset tiny|seed|test [flags]

Trains one model run in the runs directory (./runs, --runs-dir or
$POSELAB_RUNS). On a terminal it shows a progress bar (samples/s, ETA),
otherwise plain lines; --json prints one JSON object per line with an
"event" field (started, step, epoch, checkpoint, state, finished, failed;
a --grid ends with a grid event: its runs, best first).
Ctrl-C stops the run cleanly with a checkpoint (exit status 130; 143
for SIGTERM, 129 for a hang-up, which nohup ignores, 141 when the
reader of its output went away); continue it with 'poselab resume RUN'.

--init starts from existing weights instead of the seeded init: a run id
of the runs directory (same model), or a .npz, .pth/.pt (a PyTorch
state_dict; torchvision ResNet keys fill IR's and the baseline's
backbone) or .ckpt file. Optimiser, schedule and step start fresh.`

// modelPresetsText lists each model's presets as the engine registered
// them: "baseline tiny|seed|test; ir tiny|seed|test; sb ...".
func modelPresetsText() string {
	var parts []string
	for _, m := range engine.Models() {
		parts = append(parts, m+" "+strings.Join(engine.ModelPresets(m), "|"))
	}
	return strings.Join(parts, "; ")
}

// runsDirFlag adds --runs-dir; the default comes from $POSELAB_RUNS.
func runsDirFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("POSELAB_RUNS")
	if def == "" {
		def = "runs"
	}
	return fs.String("runs-dir", def, "runs directory: $POSELAB_RUNS if set, else ./runs")
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("train", trainSynopsis, stderr)
	model := fs.String("model", "sb", "model: "+strings.Join(engine.Models(), ", "))
	preset := fs.String("preset", "tiny", "preset of the model (test: seconds, for trying things): "+modelPresetsText())
	data := fs.String("data", "synth", "data: synth or a data folder")
	size := fs.String("data-size", "", "synthetic data size: tiny, small, seed (default: the preset's)")
	device := fs.String("device", "cpu", "device: cpu or cuda")
	epochs := fs.Int("epochs", 0, "epochs (default: the preset's)")
	seed := fs.Int64("seed", 1, "seed of weights, data order and dropout")
	lr := fs.Float64("lr", 0, "base learning rate (default: the preset's)")
	batch := fs.Int("batch", 0, "batch size (default: the preset's)")
	loss := fs.String("loss", "", "loss: l1 or mse (default: the preset's)")
	from := fs.String("from", "", "comma-separated runs whose outputs feed this one (SB only: it lifts an SH or IR run's 2D); one still training or queued is waited for, and the first one's data, device and preset are the defaults (the workbench's chain, c)")
	after := fs.String("after", "", "queue the run (each run of a --grid) behind RUN: it starts once RUN has finished, also one another poselab process trains or holds queued (the workbench's)")
	name := fs.String("name", "", "a name for the run")
	ckpt := fs.Int("ckpt-every", 0, "also checkpoint every N steps (default: the preset's)")
	patience := fs.Int("patience", 0, "end the run, finished, once validation has not improved for N epochs (default: train every epoch)")
	tf32 := fs.Bool("tf32", false, "CUDA: allow TF32 matrix math")
	asJSON := fs.Bool("json", false, "print one JSON event per line")
	initFrom := fs.String("init", "", "start from existing weights: a run id of the runs directory (same model; its best checkpoint), or a .npz, .pth/.pt or .ckpt file")
	var grid gridFlag
	fs.Var(&grid, "grid", "KEY=V1,V2,...: queue one run per combination (keys: lr, batch, epochs, seed, loss, patience; repeat for more keys); train ends with their table, best first (--json: a last event, grid)")
	config := fs.String("config", "", "start from a run configuration (TOML, as a run's config.toml: schedule and all); flags given as well override it")
	runsDir := runsDirFlag(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	set := flagsSet(fs)
	if err := checkCounts(set, map[string]int{"epochs": *epochs, "batch": *batch, "ckpt-every": *ckpt}); err != nil {
		return err
	}
	for _, a := range grid {
		if set[a.key] { // the grid keys are the flags' names
			return Usagef("--%s and --grid %s=...: give %s once", a.key, a.key, a.key)
		}
	}
	if *patience < 0 {
		return Usagef("--patience must be 0 (train every epoch) or more epochs, got %d", *patience)
	}
	if err := checkLR(*lr, set); err != nil {
		return err
	}
	// CPU math is float32 throughout: it would be ignored. (With --config
	// the device may come from the file, with --from from the run it
	// follows: checked once they are read.)
	if *tf32 && *device != "cuda" && *config == "" && (*from == "" || set["device"]) {
		return Usagef("--tf32 is a CUDA setting: it needs --device cuda")
	}
	if *loss != "" && *loss != "l1" && *loss != "mse" {
		return Usagef("--loss must be l1 or mse, got %q", *loss)
	}
	spec := engine.Spec{Model: *model, Preset: *preset, Data: *data, DataSize: *size, Device: *device, Epochs: *epochs,
		Seed: *seed, Batch: *batch, Loss: *loss, Name: *name, CkptEvery: *ckpt, TF32: *tf32, Patience: *patience, Init: *initFrom}
	spec.Schedule.BaseLR = *lr
	if *from != "" {
		spec.From = strings.Split(*from, ",")
	}
	spec.After = *after
	dataArg, initArg := flagPath("data", *data), flagPath("init", *initFrom)
	if *config != "" {
		file, err := engine.ReadSpecFile(*config)
		if err != nil {
			return UsageError{err}
		}
		spec = overrideSpec(file, spec, set)
		// The file's paths are read from its folder (pathArg); the
		// flags' from the working directory. The data is "synth" or a
		// folder; init may be a run id, looked up once the runs
		// directory is open.
		if !set["data"] && spec.Data != "synth" {
			dataArg = configPath(*config, "data", spec.Data)
			spec.Data = dataArg.path
		}
		if !set["init"] {
			initArg = configPath(*config, "init", spec.Init)
		}
		*device, *data, *size, *tf32 = spec.Device, spec.Data, spec.DataSize, spec.TF32
		// The file's rate has --lr's limit (the engine checks only that
		// it is positive): base_lr = 30 for 3e-1 trained, diverging.
		if lr := spec.Schedule.BaseLR; !set["lr"] && lr > engine.MaxBaseLR {
			return Usagef("base_lr = %v in %s: want a learning rate in (0, %g], as --lr", lr, *config, float64(engine.MaxBaseLR))
		}
		if spec.TF32 && spec.Device != "cuda" {
			return Usagef("tf32 is a CUDA setting: it needs device cuda")
		}
	}
	early := spec
	if len(spec.From) > 0 && !set["device"] && *config == "" {
		early.TF32 = false // the device is --from's run's: checked with it below
	}
	if _, err := engine.Prepare(early); err != nil {
		return UsageError{err}
	}
	if _, err := engine.NewBackend(*device); err != nil {
		return UsageError{err}
	}
	var err error
	var data0 datasets.Dataset
	if spec.Data, data0, err = checkData(dataArg, imageModel(spec.Model)); err != nil {
		return err
	}
	if *size != "" {
		switch {
		case *data == "synth":
			if _, err := synth.SizeCounts(synth.Size(*size)); err != nil {
				return UsageError{err}
			}
		case set["data-size"]:
			return Usagef("--data-size is the size of the synthetic data; --data %s is a folder", *data)
		}
		// else the size came with --config: every run's config.toml keeps
		// the preset's size beside its data folder, where it means nothing
	}
	checked := &checkedData{abs: spec.Data, d: data0}
	e, err := engine.Open(engine.Options{RunsDir: *runsDir, OpenData: checked.open})
	if err != nil {
		return err
	}
	defer e.Close()
	for _, f := range spec.From {
		_, ok := e.Run(f)
		if !ok {
			return noRun(e, "--from: ", f, *runsDir)
		}
		// One that will not finish and has no outputs (a run writes
		// them when it finishes): the run was created and failed at its
		// start ("has no outputs (did it finish?)"). The engine's check,
		// the workbench's chain (c) has it too.
		if err := e.CanChain(f); err != nil {
			return fromError(err, spec.After)
		}
	}
	if len(spec.From) > 0 && *config == "" {
		// As the workbench's chain (c) fills its form from the run it
		// follows: its data, device and preset unless given (trained on
		// other data, its outputs do not match this run's samples).
		src, _ := e.Run(spec.From[0])
		if !set["data"] && !set["data-size"] {
			spec.Data, spec.DataSize = dataOrSynth(src.Spec.Data), src.Spec.DataSize
			if spec.Data != "synth" && spec.Data != checked.abs {
				// The source's folder, checked as --data is: gone or
				// broken since, the run would fail at its start.
				arg := pathArg{key: "--from " + src.Spec.ID + "'s data", given: spec.Data, path: spec.Data}
				if checked.abs, checked.d, err = checkData(arg, imageModel(spec.Model)); err != nil {
					return err
				}
				spec.Data = checked.abs
			}
		}
		if !set["preset"] {
			// SH's seed-n1 and seed-n8 are SH's alone: said so, not as
			// an unknown preset the user never gave.
			if ps := engine.ModelPresets(spec.Model); ps != nil && !slices.Contains(ps, src.Spec.Preset) {
				return Usagef("--from %s trained with preset %s, which model %s does not have: give --preset (its presets: %s)", src.Spec.ID, src.Spec.Preset, spec.Model, strings.Join(ps, ", "))
			}
			spec.Preset = src.Spec.Preset
		}
		if !set["device"] && src.Spec.Device != spec.Device {
			spec.Device = src.Spec.Device
			if _, err := engine.NewBackend(spec.Device); err != nil {
				return UsageError{fmt.Errorf("--from %s trained on %s: %w (--device cpu trains here)", src.Spec.ID, spec.Device, err)}
			}
		}
		if spec.TF32 && spec.Device != "cuda" {
			return Usagef("--tf32 is a CUDA setting: it needs --device cuda (--from %s trained on %s)", src.Spec.ID, spec.Device)
		}
	}
	// The synthetic set's size, where --data-size is left out: the
	// preset's.
	this, err := engine.Prepare(spec)
	if err != nil {
		return UsageError{err}
	}
	if spec.After != "" {
		if err := checkAfter(e, spec.After, *runsDir); err != nil {
			return err
		}
	}
	// Its outputs are predictions for its data's samples: on other data
	// (--data or --data-size given, or --from's runs on different data)
	// the run was created and failed on the digests' mismatch; queued
	// --after a run that does not wait for a --from run still to finish,
	// it started before its input existed. Submit refuses both; asked
	// first, the refusal names the flags.
	if err := e.CheckFrom(this); err != nil {
		return fromError(err, spec.After)
	}
	if _, isRun := e.Run(spec.Init); spec.Init != "" && !isRun {
		spec.Init = initArg.path // a file: a configuration file's from its folder
	}
	if len(grid) == 0 {
		id, err := e.Submit(spec)
		if err != nil {
			return UsageError{initArg.named(err, "init")}
		}
		if !*asJSON {
			queuedAfter(stdout, e, id)
		}
		return watch(e, []string{id}, *asJSON, stdout, stderr)
	}
	specs, err := grid.expand(spec)
	if err != nil {
		return UsageError{err}
	}
	for _, s := range specs { // all checked before any is queued
		if _, err := engine.Prepare(s); err != nil {
			return Usagef("--grid %s: %v", s.Name, err)
		}
	}
	var ids []string
	for _, s := range specs {
		id, err := e.Submit(s)
		if err != nil {
			return UsageError{initArg.named(err, "init")}
		}
		ids = append(ids, id)
	}
	if !*asJSON {
		fmt.Fprintf(stdout, "queued %s, trained one after another: %s\n", plural(len(ids), "run"), strings.Join(ids, " "))
		queuedAfter(stdout, e, ids[0])
	}
	werr := watch(e, ids, *asJSON, stdout, stderr)
	if *asJSON {
		gridJSON(stdout, e, ids)
	} else {
		gridTable(stdout, e, ids)
	}
	return werr
}

// flagsSet names the flags given on the command line.
func flagsSet(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// checkCounts refuses a negative count, and 0 given explicitly: 0
// stands for "the preset's" only while the flag is left out, and an
// explicit --epochs 0 or --batch 0 would otherwise train the preset's
// numbers without a word.
func checkCounts(set map[string]bool, counts map[string]int) error {
	for _, name := range []string{"epochs", "batch", "ckpt-every"} { // a fixed order: one message for one command line
		if v, ok := counts[name]; ok && (v < 0 || (v == 0 && set[name])) {
			return Usagef("--%s must be a positive number, got %d (leave it out for the preset's)", name, v)
		}
	}
	return nil
}

// checkLR refuses a learning rate that is not a positive number (0
// while --lr is left out: the preset's), or one over the limit the
// new-run form's field has (engine.MaxBaseLR).
func checkLR(lr float64, set map[string]bool) error {
	if lr < 0 || (lr == 0 && set["lr"]) || math.IsNaN(lr) || math.IsInf(lr, 0) {
		return Usagef("--lr must be a positive number, got %v", lr)
	}
	if lr > engine.MaxBaseLR {
		return Usagef("--lr must be a learning rate in (0, %g], as the new-run form's, got %v", float64(engine.MaxBaseLR), lr)
	}
	return nil
}

// noRun refuses an id that names no run (prefix: the flag that gave it).
// Commands take run IDs, but the workbench and runs ls show names too
// (the demo's is "demo"): a name is answered with its runs' IDs, where
// "no run "demo"" left the user to find them.
func noRun(e *engine.Engine, prefix, id, runsDir string) error {
	var named []string
	for _, r := range e.Runs() {
		if r.Spec.Name == id {
			named = append(named, r.Spec.ID)
		}
	}
	switch {
	case len(named) == 1:
		return Usagef("%sno run with the ID %q in %s: it is the name of run %s (give its ID)", prefix, id, runsDir, named[0])
	case len(named) > 1:
		return Usagef("%sno run with the ID %q in %s: it is the name of runs %s (give one's ID)", prefix, id, runsDir, strings.Join(named, ", "))
	}
	return Usagef("%sno run %q in %s", prefix, id, runsDir)
}

// checkAfter refuses an --after that names no run, or one that nothing
// will finish: the queued run would wait for ever (the engine fails a
// run queued behind a failed one; watch gives up on one behind a stopped
// one), and it is said before a run exists.
func checkAfter(e *engine.Engine, after, runsDir string) error {
	a, ok := e.Run(after)
	switch {
	case !ok:
		return noRun(e, "--after: ", after, runsDir)
	case a.State == engine.Failed:
		return Usagef("--after: run %s failed; a run queued behind it would never start", after)
	case a.State == engine.Stopped:
		return Usagef("--after: run %s is stopped; a run queued behind it would wait for ever: resume it first (poselab resume %s)", after, after)
	}
	return nil
}

// resumeHint tells how to go on with a stopped run.
func resumeHint(r engine.RunInfo) string {
	if r.State == engine.Stopped {
		return fmt.Sprintf(": resume it first (poselab resume %s)", r.Spec.ID)
	}
	return ""
}

// fromError words the engine's refusal of a --from run (CanChain,
// CheckFrom) with the flags that would change it.
func fromError(err error, after string) error {
	var ce *engine.ChainError
	if !errors.As(err, &ce) {
		return UsageError{err}
	}
	r, f := ce.Source, ce.Source.Spec.ID
	switch ce.Problem {
	case engine.ChainNoOutputs:
		return Usagef("--from %s: that run is %s and has no outputs (a run writes them when it finishes)%s", f, stateText(r), resumeHint(r))
	case engine.ChainOtherData:
		give := "--data " + ce.FromData
		if strings.HasPrefix(ce.FromData, "synth/") { // both synthetic, of other sizes
			give = "--data-size " + r.Spec.DataSize
		}
		return Usagef("--from %s: that run was trained on data %s, this one would be on %s (give %s)", f, ce.FromData, ce.ToData, give)
	case engine.ChainNotWaited:
		return Usagef("--after %s: run %s, whose outputs feed this one (--from), is %s and would not be waited for: leave --after out (the run waits for %s) or queue after a run that comes after it", after, f, stateText(r), f)
	}
	return UsageError{err}
}

// queuedAfter says, under train's first line, which run a queued run
// waits for: without it, train printed nothing until that one finished.
func queuedAfter(w io.Writer, e *engine.Engine, id string) {
	info, ok := e.Run(id)
	if !ok || info.State != engine.Queued || info.Spec.After == "" {
		return
	}
	if a, ok := e.Run(info.Spec.After); ok && a.State != engine.Finished {
		fmt.Fprintf(w, "run %s queued after %s, which is %s: it starts once that one has finished\n", id, a.Spec.ID, stateText(a))
	}
}

// overrideSpec is the configuration file's spec with the fields of the
// flags given on the command line (set) taken from flags instead.
func overrideSpec(file, flags engine.Spec, set map[string]bool) engine.Spec {
	s := file
	for name, apply := range map[string]func(){
		"model": func() { s.Model = flags.Model }, "preset": func() { s.Preset = flags.Preset },
		"data": func() { s.Data = flags.Data }, "data-size": func() { s.DataSize = flags.DataSize },
		"device": func() { s.Device = flags.Device }, "epochs": func() { s.Epochs = flags.Epochs },
		"seed": func() { s.Seed = flags.Seed }, "lr": func() { s.Schedule.BaseLR = flags.Schedule.BaseLR },
		"batch": func() { s.Batch = flags.Batch }, "loss": func() { s.Loss = flags.Loss },
		"from": func() { s.From = flags.From }, "name": func() { s.Name = flags.Name },
		"after":      func() { s.After = flags.After },
		"ckpt-every": func() { s.CkptEvery = flags.CkptEvery }, "tf32": func() { s.TF32 = flags.TF32 },
		"patience": func() { s.Patience = flags.Patience },
		"init":     func() { s.Init = flags.Init },
	} {
		if set[name] {
			apply()
		}
	}
	if s.Data == "" {
		s.Data = "synth"
	}
	if s.Device == "" {
		s.Device = "cpu"
	}
	return s
}
