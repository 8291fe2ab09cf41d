package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"poselab/datasets"
	"poselab/nn"
)

// Task adapts one model kind ("sb", "sh", "ir", "baseline") to the engine.
// The engine owns the loop (data order, steps, schedule, checkpoints,
// events); the task owns everything model specific: the graph, turning
// records (and outputs of earlier runs) into batches, turning program
// outputs into predictions, and scoring them.
//
// A task is built once per run by its TaskFactory.New and is then used from
// the run's training goroutine only.
type Task interface {
	// Graph is the model to compile (built from the run's Spec).
	Graph() *nn.Graph
	// Len is the number of samples of a split the task trains or predicts
	// on (0 when the split is not available, e.g. test without inputs).
	Len(split datasets.Split) int
	// Batch fills the inputs (and, for train and val, the targets) of the
	// samples idx of split. len(idx) is the program's batch size. When
	// train is true the batch may be augmented; any randomness must derive
	// from (seed, step) only, so that a resumed run repeats it exactly.
	Batch(split datasets.Split, idx []int, train bool, seed int64, step int) (nn.Batch, error)
	// Decode turns Predict's outputs for samples idx into predictions: 3D in
	// mm, camera space, root-relative, and/or 2D in pixels of the original
	// image.
	Decode(split datasets.Split, idx []int, out map[string]*nn.Tensor) ([]Prediction, error)
	// Evaluate scores predictions of a labelled split (ordered by ID). It
	// fills the metric fields of EpochInfo (MPJPE ... PerAction for 3D
	// tasks, Pixel/PCKh/PerJointPx for 2D ones) and a few Samples for the
	// skeleton views; the engine fills Epoch, Step, losses and Best. The
	// engine keeps the `best` checkpoint by the lowest MPJPE, or by the
	// lowest Pixel error when MPJPE is 0 (2D-only tasks).
	Evaluate(split datasets.Split, preds []Prediction) (EpochInfo, error)
	// BaselineMPJPE is the mean-pose baseline on the validation split (mm):
	// predicting the training set's mean root-relative pose for every
	// sample. NaN when it does not apply.
	BaselineMPJPE() float64
	// State is the task's own learned state saved with every checkpoint
	// (e.g. the Simple Baseline's normalisation statistics), as named
	// tensors. SetState restores it when a run resumes or is evaluated.
	State() map[string]*nn.Tensor
	SetState(map[string]*nn.Tensor) error
}

// TaskEnv is what a TaskFactory gets to build a task for a run.
type TaskEnv struct {
	Spec Spec
	Data datasets.Dataset
	// From holds the outputs of the runs named in Spec.From, in that order
	// (each with its train, val and test predictions where the run wrote
	// them). E.g. the Simple Baseline of pipeline D reads SH's 2D here.
	From []RunOutputs
}

// Preset is a named set of a model's training defaults: Epochs, Batch,
// Loss, Schedule (StepsPerEpoch may stay 0: the engine fills it in),
// DataSize, CkptEvery. Fields the user sets (--epochs, --lr, ...)
// override them.
type Preset struct {
	Name     string
	Defaults func() Spec // a fresh Spec each call (its schedule's slices are the caller's)
}

// TaskFactory registers a model kind.
type TaskFactory struct {
	// Presets are the model's presets, in the order viewers offer them;
	// they are the only source of which presets a model has (the
	// workbench's form, train --help and the engine's refusals read them).
	Presets []Preset
	// New builds the task of a run. It may read all records it needs from
	// env.Data now; it must not depend on anything but env.
	New func(env TaskEnv) (Task, error)
	// Pixels marks a 2D model, scored by its mean joint error in pixels
	// (EpochInfo.Pixel) rather than MPJPE in mm: viewers label a run's
	// validation with it before the run has one.
	Pixels bool
}

var (
	tasksMu sync.RWMutex
	tasks   = map[string]TaskFactory{}
)

// RegisterTask adds a model kind; call it from an init function in the
// model's own file (engine/task_sb.go, engine/task_sh.go, ...).
func RegisterTask(model string, f TaskFactory) {
	tasksMu.Lock()
	defer tasksMu.Unlock()
	if _, dup := tasks[model]; dup {
		panic("engine: duplicate task " + model)
	}
	if len(f.Presets) == 0 || f.New == nil {
		panic("engine: task " + model + " needs Presets and New")
	}
	for _, p := range f.Presets {
		if p.Name == "" || p.Defaults == nil {
			panic("engine: task " + model + " has a preset without a name or defaults")
		}
	}
	tasks[model] = f
}

// ModelPresets lists a model kind's presets in the order its registration
// gives them; nil for an unknown model.
func ModelPresets(model string) []string {
	tasksMu.RLock()
	defer tasksMu.RUnlock()
	var names []string
	for _, p := range tasks[model].Presets {
		names = append(names, p.Name)
	}
	return names
}

// PipelinePresets lists the presets every stage of a pipeline has (one
// preset applies to all its stages), in its first stage's order; nil for
// an unknown pipeline.
func PipelinePresets(name string) []string {
	p, err := LookupPipeline(name)
	if err != nil {
		return nil
	}
	stages := p.Stages("", Spec{})
	if len(stages) == 0 {
		return nil
	}
	var out []string
	for _, pr := range ModelPresets(stages[0].Model) {
		all := true
		for _, s := range stages[1:] {
			all = all && slices.Contains(ModelPresets(s.Model), pr)
		}
		if all {
			out = append(out, pr)
		}
	}
	return out
}

// presetDefaults returns the defaults of a model's preset, or an error
// that names the presets it has.
func presetDefaults(model, preset string) (Spec, error) {
	f, err := LookupTask(model)
	if err != nil {
		return Spec{}, err
	}
	for _, p := range f.Presets {
		if p.Name == preset {
			return p.Defaults(), nil
		}
	}
	return Spec{}, fmt.Errorf("model %s has no preset %q (its presets: %s)", model, preset, strings.Join(ModelPresets(model), ", "))
}

// LookupTask returns the factory of a model kind.
func LookupTask(model string) (TaskFactory, error) {
	tasksMu.RLock()
	defer tasksMu.RUnlock()
	f, ok := tasks[model]
	if !ok {
		return TaskFactory{}, fmt.Errorf("unknown model %q (known: %s)", model, strings.Join(taskNames(), ", "))
	}
	return f, nil
}

// ValUnit is the unit of a model kind's validation error: "px" for a 2D
// model (SH), "mm" for the others and for an unknown kind.
func ValUnit(model string) string {
	tasksMu.RLock()
	defer tasksMu.RUnlock()
	if tasks[model].Pixels {
		return "px"
	}
	return "mm"
}

// ValIn2D says whether a run's validation errors are a 2D model's (px):
// the newest scored epoch has Pixel set and no MPJPE. In a run store
// written before it kept pixel numbers, a 2D epoch reads as MPJPE 0 without
// the per-joint errors every 3D evaluation has; so does an epoch not
// validated (data without a validation split), of any model: where no
// epoch was scored, the model's registration says (Pixels). The runs list,
// runs ls and a grid's table label and order runs by it.
func ValIn2D(model string, eps []EpochInfo) bool {
	if len(eps) == 0 {
		return false
	}
	for i := len(eps) - 1; i >= 0; i-- {
		if last := eps[i]; last.Validated() {
			return !(last.MPJPE > 0) && last.Pixel > 0
		}
	}
	last := eps[len(eps)-1]
	return ValUnit(model) == "px" && last.MPJPE == 0 && len(last.PerJoint) == 0
}

// Models lists the registered model kinds.
func Models() []string {
	tasksMu.RLock()
	defer tasksMu.RUnlock()
	return taskNames()
}

func taskNames() []string {
	var names []string
	for n := range tasks {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// FlipTester is an optional extension of Task for test-time flip
// averaging (the SH task implements it): whoever predicts a split for
// validation or outputs also runs the program on FlipBatch's mirrored
// crops and decodes both results with DecodeFlip instead of Decode.
type FlipTester interface {
	FlipBatch(split datasets.Split, idx []int) (nn.Batch, error)
	DecodeFlip(split datasets.Split, idx []int, out, outFlip map[string]*nn.Tensor) ([]Prediction, error)
}
