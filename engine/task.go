package engine

import (
	"fmt"
	"sort"
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

// TaskFactory registers a model kind.
type TaskFactory struct {
	// Preset returns the defaults of a preset ("tiny", "seed", ...):
	// Epochs, Batch, Loss, Schedule (StepsPerEpoch may stay 0: the engine
	// fills it in), DataSize, CkptEverySteps. Fields the user sets
	// (--epochs, --lr, ...) override them.
	Preset func(preset string) (Spec, error)
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
	if f.Preset == nil || f.New == nil {
		panic("engine: task " + model + " needs Preset and New")
	}
	tasks[model] = f
}

// LookupTask returns the factory of a model kind.
func LookupTask(model string) (TaskFactory, error) {
	tasksMu.RLock()
	defer tasksMu.RUnlock()
	f, ok := tasks[model]
	if !ok {
		return TaskFactory{}, fmt.Errorf("unknown model %q (known: %v)", model, taskNames())
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
