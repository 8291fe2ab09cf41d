package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"

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
	from := fs.String("from", "", "comma-separated runs whose outputs feed this one (e.g. SB on SH's 2D); one still training or queued is waited for, and the first one's data, device and preset are the defaults (the workbench's chain, c)")
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
			return Usagef("--from: no run %q in %s", f, *runsDir)
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

// checkAfter refuses an --after that names no run, or one that nothing
// will finish: the queued run would wait for ever (the engine fails a
// run queued behind a failed one; watch gives up on one behind a stopped
// one), and it is said before a run exists.
func checkAfter(e *engine.Engine, after, runsDir string) error {
	a, ok := e.Run(after)
	switch {
	case !ok:
		return Usagef("--after: no run %q in %s", after, runsDir)
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

// checkData refuses a --data that no loader reads before any run is
// created: the run would otherwise be left behind as a failed one. That
// covers the folder's annotation files (a truncated or malformed one)
// and, for models that read images (imagesFor names them), missing
// images, which would fail the run at the first batch needing one,
// possibly hours in. It returns the folder as an absolute path: the run's
// spec keeps it, and a relative one would name another folder (or none)
// when the run is resumed or evaluated from another working directory.
// The data set it opened, labels read, goes to the engine (openData),
// which would otherwise read them all again.
func checkData(arg pathArg, imagesFor string) (string, datasets.Dataset, error) {
	data := arg.path
	if data == "synth" {
		return data, nil, nil
	}
	abs, d, err := checkFolder(arg)
	if err != nil {
		return "", nil, err
	}
	if err := engine.ReadLabels(d); err != nil {
		return "", nil, UsageError{err}
	}
	if imagesFor != "" {
		if err := engine.CheckImages(d); err != nil {
			return "", nil, Usagef("%v (%s reads the images)", err, imagesFor)
		}
	}
	return abs, d, nil
}

// checkFolder opens a --data folder (not "synth") as a data set; it
// returns the folder as an absolute path.
func checkFolder(arg pathArg) (string, datasets.Dataset, error) {
	data := arg.path
	st, err := os.Stat(data)
	if err != nil {
		return "", nil, Usagef("%s: not \"synth\" and not a readable folder (%v)", arg, err)
	}
	if !st.IsDir() {
		return "", nil, Usagef("%s is a file: want \"synth\" or a data folder", arg)
	}
	abs, err := filepath.Abs(data)
	if err != nil {
		return "", nil, err
	}
	d, err := engine.OpenDataset(engine.Spec{Data: abs})
	if err != nil {
		return "", nil, UsageError{arg.named(err, "data")}
	}
	return abs, d, nil
}

func dataOrSynth(data string) string {
	if data == "" {
		return "synth"
	}
	return data
}

// imageModel is "model M" for a model that reads images (every one but
// SB, which lifts 2D joints), else "".
func imageModel(model string) string {
	if model == "sb" {
		return ""
	}
	return "model " + model
}

// openData opens a run's data, d where the run's is the folder abs that
// checkData read.
func openData(abs string, d datasets.Dataset) func(engine.Spec) (datasets.Dataset, error) {
	return (&checkedData{abs: abs, d: d}).open
}

// checkedData is the data set checkData read, labels and all, for the
// engine to train on instead of reading the folder again; train may
// change it once the engine is open (--from's defaults).
type checkedData struct {
	abs string
	d   datasets.Dataset
}

func (c *checkedData) open(s engine.Spec) (datasets.Dataset, error) {
	if c.d != nil && s.Data == c.abs {
		return c.d, nil
	}
	return engine.OpenDataset(s)
}

// watch follows runs until none of them is active, printing progress (or
// JSON events). SIGINT, SIGTERM and SIGHUP (an SSH session that dropped;
// not under nohup) stop the runs cleanly (with a checkpoint), as does a
// stdout whose reader went away (SIGPIPE).
// It returns an error when a run failed or paused itself.
func watch(e *engine.Engine, ids []string, asJSON bool, stdout, stderr io.Writer) error {
	sig := make(chan os.Signal, 2)
	// SIGPIPE: the reader of stdout went away (train | tee log, and the
	// hang-up ended tee). Go's default kills the process at its next
	// line, which could come before the checkpoint; asked for, the write
	// fails instead and the runs stop here as for a signal (exit 141).
	notifyStop(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer signal.Stop(sig)
	return watchSignals(e, ids, asJSON, stdout, stderr, sig)
}

// exitNow ends the process at once (tests replace it).
var exitNow = os.Exit

// watchSignals is watch with the signals it stops on coming from sig.
func watchSignals(e *engine.Engine, ids []string, asJSON bool, stdout, stderr io.Writer, sig <-chan os.Signal) error {
	hist, live, cancel := e.Subscribe()
	defer cancel()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	p := newPrinter(stdout, asJSON)
	started, ended := map[string]bool{}, map[string]bool{}
	var failure error
	said := map[string]bool{} // runs whose failure is on stderr
	handle := func(ev engine.Event) {
		if !want[ev.Run] {
			return
		}
		if ev.Kind == engine.EvStarted {
			started[ev.Run] = true
		}
		if endsRun(ev, started[ev.Run]) {
			ended[ev.Run] = true
		}
		if !started[ev.Run] && ev.Kind != engine.EvFailed && !(ev.Kind == engine.EvState && !ev.State.To.Active()) {
			return // the first line of a run is its "started" event
		}
		diverged := ev.Kind == engine.EvState && ev.State.To == engine.Paused && strings.HasPrefix(ev.State.Reason, "diverged")
		if p.json || !(ev.Kind == engine.EvFailed || diverged) {
			// The text output's failure and divergence lines go to stderr
			// below, once: printed here too, they said the reason twice.
			p.event(e, ev)
		}
		var f error
		switch {
		case ev.Kind == engine.EvFailed:
			f = fmt.Errorf("run %s failed: %s", ev.Run, ev.State.Reason)
		case ev.Kind == engine.EvState && ev.State.To == engine.Failed && failure == nil:
			f = fmt.Errorf("run %s failed: %s", ev.Run, ev.State.Reason)
		case diverged:
			// Nobody is there to resume it: stop it (keeping the last good
			// checkpoint) and say why.
			f = fmt.Errorf("run %s %s", ev.Run, ev.State.Reason)
			e.Stop(ev.Run)
		}
		if f == nil {
			return
		}
		failure = f
		if p.json {
			// JSON output keeps its event on stdout (the stream's own
			// record), and Main's line on stderr.
			return
		}
		// Said when it happens (a grid goes on training the next runs),
		// on stderr, once (a failed run's state and its failed event say
		// the same); Main then exits 1 without repeating it.
		if !said[ev.Run] {
			said[ev.Run] = true
			p.clearBar()
			fmt.Fprintf(stderr, "%v\n", f)
		}
		failure = Reported{f}
	}
	for _, ev := range hist {
		handle(ev)
	}
	// blocked is a queued run's chain link that is stopped: the run waits
	// for it to finish, and nothing here will start it again (a stage
	// after one that diverged, or `poselab resume` of a later stage).
	blocked := func(info engine.RunInfo) (engine.RunInfo, bool) {
		if info.State != engine.Queued || info.Spec.After == "" {
			return engine.RunInfo{}, false
		}
		a, ok := e.Run(info.Spec.After)
		return a, ok && a.State == engine.Stopped
	}
	// settled says whether every run is over as far as done says, or
	// needs no wait: blocked, or deleted (by another process, once it
	// ended: a grid's finished run while the next trains; it never turns
	// inactive, and waiting for it held train forever).
	settled := func(done func(id string, info engine.RunInfo) bool) bool {
		for _, id := range ids {
			info, ok := e.Run(id)
			if _, b := blocked(info); ok && !b && !done(id, info) {
				return false
			}
		}
		return true
	}
	done := func() bool {
		return settled(func(_ string, info engine.RunInfo) bool { return !info.State.Active() })
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	interrupted := false
	signalled := syscall.SIGINT
	for !done() {
		select {
		case ev, ok := <-live:
			if !ok {
				return errors.New("event stream closed")
			}
			handle(ev)
		case got := <-sig:
			if interrupted {
				if got == syscall.SIGPIPE {
					continue // the reader that went away, again: not the user
				}
				// A step can take minutes (ResNet-50 at 256 px on a CPU),
				// and the stop waits for it: a second signal was ignored
				// for that long. Quitting now is what a killed process
				// does, which the runs survive: each resumes from its last
				// checkpoint (written atomically; the run store is SQLite).
				fmt.Fprintln(stderr, "quitting without waiting for the step: each run resumes from its last checkpoint (or its start, before one)")
				for _, id := range ids {
					if info, ok := e.Run(id); ok && info.State.Active() {
						fmt.Fprintf(stderr, "  poselab resume %s\n", id)
					}
				}
				exitNow(128 + int(signalled))
				return Interrupted{signalled} // exitNow returned: a test's
			}
			interrupted = true
			if s, ok := got.(syscall.Signal); ok {
				signalled = s
			}
			fmt.Fprintln(stderr, "\nstopping: saving a checkpoint after the step in progress (Ctrl-C again quits at once, losing the steps since the last checkpoint)")
			for _, id := range ids {
				e.Stop(id)
			}
		case <-tick.C:
		}
	}
	// Drain what is left: a run's state turns inactive before its last
	// events (its last validation, its end) reach this subscriber, which
	// a loaded machine can delay past any fixed wait. So wait for each
	// run's end event. A blocked queued run has none, and every other run
	// here was submitted or resumed by this engine, whose state changes
	// all publish one: the grace only bounds a wait for one that does not
	// come. (It was 2 s, also for the runs whose end was on its way: a
	// loaded machine could stall the delivery that long, and the last
	// validation went unprinted.)
	endedAll := func() bool { return settled(func(id string, _ engine.RunInfo) bool { return ended[id] }) }
	grace := time.After(30 * time.Second)
	for drained := false; !drained; {
		quiet := time.After(50 * time.Millisecond)
		if !endedAll() {
			quiet = grace
		}
		select {
		case ev := <-live:
			handle(ev)
		case <-quiet:
			drained = true
		}
	}
	p.finish()
	if failure != nil {
		return failure
	}
	for _, id := range ids {
		info, _ := e.Run(id)
		if a, b := blocked(info); b && !interrupted {
			return fmt.Errorf("run %s comes after run %s, which is stopped: resume that one first (poselab resume %s)", id, a.Spec.ID, a.Spec.ID)
		}
	}
	var infos []engine.RunInfo
	for _, id := range ids {
		info, _ := e.Run(id)
		infos = append(infos, info)
		if info.State == engine.Stopped && !interrupted {
			// Stopped from another poselab process (runs stop, the
			// workbench): the model is unfinished, so `train && export`
			// must not go on.
			return fmt.Errorf("run %s stopped at step %d (%s); continue it with: poselab resume %s", id, info.Step, strings.SplitN(info.Reason, ";", 2)[0], id)
		}
	}
	if interrupted {
		if !asJSON {
			resumeHints(stderr, infos)
		}
		return Interrupted{signalled}
	}
	return nil
}

// resumeHints says how to go on with each run an interrupt stopped: every
// run of a grid, the ones stopped before they started too (only the
// first was named, and `resume` takes one run), but not a chain link whose
// earlier run is stopped as well (resuming that one names the next).
func resumeHints(w io.Writer, infos []engine.RunInfo) {
	stopped := map[string]bool{}
	for _, i := range infos {
		stopped[i.Spec.ID] = i.State == engine.Stopped
	}
	for _, i := range infos {
		switch {
		case !stopped[i.Spec.ID] || stopped[i.Spec.After]:
		case i.Started.IsZero():
			fmt.Fprintf(w, "run %s stopped before it started; start it with: poselab resume %s\n", i.Spec.ID, i.Spec.ID)
		default:
			fmt.Fprintf(w, "run %s stopped at step %d; continue it with: poselab resume %s\n", i.Spec.ID, i.Step, i.Spec.ID)
		}
	}
}

// endsRun says whether ev is the last event of a run this process
// trains. A finished run's state event comes before its finished event
// (the result, and an early stop's reason: the run's last lines), with
// the log file's write between them: taken for the end, the drain's 50 ms
// could return without those lines. So is a failed state of a run that
// trained; one that never started (a chain link after a failed stage)
// gets no failed event: its state is its end, or pipeline run would
// wait out the drain's grace (30 s) before it exits.
func endsRun(ev engine.Event, started bool) bool {
	switch ev.Kind {
	case engine.EvFinished, engine.EvFailed:
		return true
	case engine.EvState:
		to := ev.State.To
		return !to.Active() && to != engine.Finished && (to != engine.Failed || !started)
	}
	return false
}

// pace says how long the run took: its steps, the ones this process
// trained (after a resume, fewer) in this session's wall time, and the
// training steps' own pace, which leaves validation out.
func pace(r *engine.Result) string {
	done := fmt.Sprintf("%d steps in %.1f s", r.Steps, r.Seconds)
	if r.SessionSteps != r.Steps { // resumed (fewer), or rewound after a divergence (more)
		done = fmt.Sprintf("%d steps; this session trained %d in %.1f s", r.Steps, r.SessionSteps, r.Seconds)
	}
	return fmt.Sprintf("%s (training at %.0f samples/s)", done, r.SamplesPerSec)
}

// printer renders events as a progress bar, plain lines or JSON lines.
type printer struct {
	w        io.Writer
	json     bool
	tty      bool
	barShown bool
	lastLine time.Time
	mem      string // the newest resource event's memory, " · RSS 310 MiB / RAM 15.5 GiB"
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	p := &printer{w: w, json: asJSON}
	if f, ok := w.(*os.File); ok && !asJSON {
		p.tty = isatty.IsTerminal(f.Fd())
	}
	return p
}

func (p *printer) finish() {
	if p.barShown {
		fmt.Fprintln(p.w)
		p.barShown = false
	}
}

func (p *printer) line(format string, a ...any) {
	p.clearBar()
	fmt.Fprintf(p.w, format+"\n", a...)
}

// clearBar erases the progress bar, so that the next line (here or on
// stderr, the same terminal) starts at the left.
func (p *printer) clearBar() {
	if p.barShown {
		fmt.Fprint(p.w, "\r\033[K")
		p.barShown = false
	}
}

// pct shows a fraction (0..1, as JSON and the run store keep 3DPCK, AUC
// and PCKh) to people as a percentage, "87.3 %".
func pct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", 100*x)
}

// etaText is " ETA 4m26s", or nothing while the run has no pace yet (its
// first step: the engine says 0).
func etaText(seconds float64) string {
	if !(seconds > 0) {
		return ""
	}
	return fmt.Sprintf(" ETA %v", (time.Duration(seconds) * time.Second).Round(time.Second))
}

func mm(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.1f mm", x)
}

func (p *printer) event(e *engine.Engine, ev engine.Event) {
	if p.json {
		if ev.Kind == engine.EvLog {
			return
		}
		m := flatten(ev)
		if ev.Kind == engine.EvStarted {
			info, _ := e.Run(ev.Run)
			m["device"], m["total_steps"], m["steps_per_epoch"] = info.Device, info.TotalSteps, info.StepsPerEpoch
			m["baseline_mpjpe_mm"], m["step"], m["epoch"] = clean(info.BaselineMPJPE), info.Step, info.Epoch
			m["baseline_px"] = clean(info.BaselinePx) // 2D models (SH); null for 3D ones
		}
		b, err := json.Marshal(m)
		if err == nil {
			fmt.Fprintln(p.w, string(b))
		}
		return
	}
	switch ev.Kind {
	case engine.EvStarted:
		info, _ := e.Run(ev.Run)
		base := ""
		if b := info.BaselineMPJPE; !math.IsNaN(b) && !math.IsInf(b, 0) {
			base = ", baseline (mean pose) " + mm(b)
		} else if b := info.BaselinePx; b > 0 && !math.IsInf(b, 0) { // 2D models (SH): in px
			base = ", baseline (fixed mean 2D pose) " + valText(b, true)
		}
		name := ""
		if n := ev.Spec.Name; n != "" && n != ev.Run {
			name = " (" + n + ")"
		}
		p.line("run %s%s: %s preset %s on %s, %s x %d steps (batch %d), data %s%s",
			ev.Run, name, ev.Spec.Model, ev.Spec.Preset, info.Device, plural(ev.Spec.Epochs, "epoch"), info.StepsPerEpoch, ev.Spec.Batch,
			ev.Spec.DataLabel(), base)
	case engine.EvStep:
		s := ev.Step
		eta := etaText(s.ETASeconds)
		if p.tty {
			const width = 30
			frac := float64(s.Step) / math.Max(1, float64(s.TotalSteps))
			n := int(frac * width)
			fmt.Fprintf(p.w, "\r\033[K[%s%s] %3.0f%% step %d/%d epoch %d loss %.4f lr %.2e %.0f samples/s%s%s",
				strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, s.Step, s.TotalSteps, s.Epoch+1, s.Loss, s.LR, s.SamplesPerSec, eta, p.mem)
			p.barShown = true
		} else if time.Since(p.lastLine) > 10*time.Second {
			p.lastLine = time.Now()
			p.line("step %d/%d loss %.4f lr %.2e %.0f samples/s%s%s", s.Step, s.TotalSteps, s.Loss, s.LR, s.SamplesPerSec, eta, p.mem)
		}
	case engine.EvResource:
		if t := memText(ev.Res); t != "" {
			p.mem = " · " + t
		}
	case engine.EvEpoch:
		x := ev.Epoch
		best := ""
		if x.Best {
			best = " (best)"
		}
		if !x.Validated() {
			p.line("epoch %d step %d: train loss %.4f, not validated (the data has no validation split)", x.Epoch+1, x.Step, x.TrainLoss)
			break
		}
		if x.Pixel > 0 && !(x.MPJPE > 0) { // a 2D model: pixels and PCKh
			p.line("epoch %d step %d: train loss %.4g, val 2D error %.1f px%s, PCKh@0.5 %s", x.Epoch+1, x.Step, x.TrainLoss, x.Pixel, best, pct(x.PCKh))
			break
		}
		p.line("epoch %d step %d: train loss %.4f, val MPJPE %s%s, P-MPJPE %s, 3DPCK@150 %s", x.Epoch+1, x.Step, x.TrainLoss, mm(x.MPJPE), best, mm(x.PMPJPE), pct(x.PCK150))
	case engine.EvState:
		switch ev.State.To {
		case engine.Running, engine.Queued, engine.Finished, engine.Failed:
			// running is obvious from the bar; finished and failed have their own lines
		default:
			r := ""
			if ev.State.Reason != "" {
				r = ": " + ev.State.Reason
			}
			p.line("run %s %s%s", ev.Run, ev.State.To, r)
		}
	case engine.EvFinished:
		if ev.State != nil && ev.State.Reason != "" { // it ended early (Spec.Patience)
			p.line("run %s %s", ev.Run, ev.State.Reason)
		}
		r := ev.Result
		if r.ValPx > 0 {
			p.line("run %s finished: val 2D error %.1f px, best %.1f px, fixed-mean baseline %.1f px; %s",
				ev.Run, r.ValPx, r.BestValPx, r.BaselinePx, pace(r))
			break
		}
		p.line("run %s finished: val MPJPE %s, best %s, mean-pose baseline %s; %s",
			ev.Run, mm(r.ValMPJPE), mm(r.BestValMPJPE), mm(r.BaselineMPJPE), pace(r))
	case engine.EvFailed:
		p.line("run %s failed: %s", ev.Run, ev.State.Reason)
	case engine.EvLog:
		if strings.HasPrefix(ev.Log, engine.InitLogPrefix) { // what --init loaded, under the started line
			p.line("%s", ev.Log)
		}
	}
}

// flatten turns an event into one flat JSON object: "event", "run",
// "time" and the fields of its payload; NaN and Inf become null.
func flatten(ev engine.Event) map[string]any {
	m := map[string]any{"event": string(ev.Kind), "run": ev.Run, "seq": ev.Seq, "time": ev.Time.UTC().Format(time.RFC3339Nano)}
	merge := func(v any) {
		if v == nil || reflect.ValueOf(v).IsNil() {
			return
		}
		for k, x := range toMap(v) {
			m[k] = x
		}
	}
	switch ev.Kind {
	case engine.EvStarted:
		if ev.Spec != nil {
			m["spec"] = toMap(ev.Spec)
			m["model"], m["preset"] = ev.Spec.Model, ev.Spec.Preset
		}
	case engine.EvStep:
		merge(ev.Step)
	case engine.EvEpoch:
		if ev.Epoch != nil {
			for k, x := range epochMap(*ev.Epoch) {
				m[k] = x
			}
		}
	case engine.EvCheckpoint:
		merge(ev.Ckpt)
	case engine.EvState:
		merge(ev.State)
	case engine.EvFinished, engine.EvFailed:
		merge(ev.State)
		merge(ev.Result)
	case engine.EvResource:
		if r := ev.Res; r != nil {
			resourceMap(m, r)
		}
	}
	return m
}

// resourceMap adds a resource event's numbers with their units in the
// keys, as the workbench's resource line shows them: the memory counted
// (mem_kind "rss": the process's resident set of the machine's RAM;
// "device": the GPU's memory of its total), a total the backend cannot
// tell as null, and the GPU's utilisation only where the device reports
// it (the engine's 0 is "not reported", as the workbench reads it).
func resourceMap(m map[string]any, r *engine.Resource) {
	kind := r.MemKind
	if kind == "" { // events of older stores: device memory
		kind = engine.MemDevice
	}
	m["device"], m["mem_kind"], m["mem_used_bytes"] = r.Device, kind, r.MemUsedBytes
	m["mem_total_bytes"] = nil
	if r.MemTotalBytes > 0 {
		m["mem_total_bytes"] = r.MemTotalBytes
	}
	if r.GPUUtil > 0 {
		m["gpu_util_pct"] = r.GPUUtil
	}
	m["samples_per_s"] = clean(r.SamplesPerSec)
}

// toMap marshals a struct through JSON with NaN/Inf replaced by null.
// epochMap is an epoch as --json prints it, with "validated": on data
// without a validation split its metrics are 0, which the text says is
// no validation and JSON gave as a score of 0 mm.
func epochMap(ep engine.EpochInfo) map[string]any {
	m := toMap(ep)
	m["validated"] = ep.Validated()
	return m
}

func toMap(v any) map[string]any {
	out := map[string]any{}
	rv := reflect.Indirect(reflect.ValueOf(v))
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")
		if tag[0] == "-" || !f.IsExported() {
			continue
		}
		name := tag[0]
		if name == "" {
			name = f.Name
		}
		fv := rv.Field(i)
		if len(tag) > 1 && tag[1] == "omitempty" && fv.IsZero() {
			continue
		}
		out[name] = clean(fv.Interface())
	}
	return out
}

func clean(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case []float64:
		o := make([]any, len(x))
		for i := range x {
			o[i] = clean(x[i])
		}
		return o
	case map[string]float64:
		o := map[string]any{}
		for k, y := range x {
			o[k] = clean(y)
		}
		return o
	case engine.Schedule:
		return toMap(x)
	}
	return v
}

// memText is a resource event's memory with its units and what it counts:
// a GPU's memory of its total, or a CPU run's resident set (RSS) of the
// machine's RAM, as the workbench's resource line says it.
func memText(res *engine.Resource) string {
	if res == nil || res.MemUsedBytes <= 0 {
		return ""
	}
	used, total := bytesText(res.MemUsedBytes), bytesText(res.MemTotalBytes)
	switch {
	case res.MemKind == engine.MemHost && res.MemTotalBytes > 0:
		return "RSS " + used + " / RAM " + total
	case res.MemKind == engine.MemHost:
		return "RSS " + used
	case res.MemTotalBytes > 0:
		return "mem " + used + " / " + total
	}
	return "mem " + used
}

// bytesText writes a size in MiB, or GiB from 1 GiB on.
func bytesText(n int64) string {
	const k = 1024.0
	if float64(n) >= k*k*k {
		return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(k*k))
}
