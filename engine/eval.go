package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"poselab/checkpoints"
	"poselab/datasets"
	"poselab/datasets/mpii"
	"poselab/datasets/predfile"
	"poselab/internal/atomicfile"
	"poselab/nn"
)

// Model is a trained run loaded for prediction: its task with the saved
// task state and a compiled program with the saved weights.
type Model struct {
	Spec Spec
	Task Task
	Prog nn.Program
	From CkptRef // the checkpoint it came from
}

// CkptRef names the checkpoint that predictions or exported weights came
// from: a run's best (its last when it has no best yet).
type CkptRef struct {
	Path  string // the file, <run>/checkpoints/best.ckpt or last.ckpt
	Step  int    // training steps done when it was written
	Epoch int    // epochs done then: a best checkpoint's is the epoch that scored best, counted from 1
	Pos   int    // batches of the next epoch done as well: a checkpoint written mid-epoch (a stop, --ckpt-every)
}

func ckptRef(path string, c *checkpoints.Checkpoint) CkptRef {
	return CkptRef{Path: path, Step: c.Step, Epoch: c.Epoch, Pos: c.Pos}
}

// Label names the checkpoint for messages, with epochs counted from 1 as
// people read them: "best.ckpt: epoch 3, step 120"; one written mid-epoch
// says so, "last.ckpt: step 130, in epoch 4".
func (r CkptRef) Label() string {
	name := filepath.Base(r.Path)
	if r.Pos > 0 || r.Epoch == 0 {
		return fmt.Sprintf("%s: step %d, in epoch %d", name, r.Step, r.Epoch+1)
	}
	return fmt.Sprintf("%s: epoch %d, step %d", name, r.Epoch, r.Step)
}

// Close frees the program.
func (m *Model) Close() error { return m.Prog.Close() }

// LoadModel rebuilds a run's model from its `best` checkpoint (or `last`
// when it has no best yet).
func (e *Engine) LoadModel(id string) (*Model, error) {
	info, ok := e.Run(id)
	if !ok {
		return nil, fmt.Errorf("no run %q", id)
	}
	spec := info.Spec
	path, c, err := e.loadBestCkpt(id)
	if err != nil {
		return nil, err
	}
	f, err := LookupTask(spec.Model)
	if err != nil {
		return nil, err
	}
	data, err := e.dataset(spec)
	if err != nil {
		return nil, err
	}
	env := TaskEnv{Spec: spec, Data: data}
	for _, from := range spec.From {
		ro, err := readCheckedOutputs(e.st.runDir(from), data)
		if err != nil {
			return nil, fmt.Errorf("from run %s: %w", from, err)
		}
		env.From = append(env.From, ro)
	}
	task, err := f.New(env)
	if err != nil {
		return nil, err
	}
	g := task.Graph()
	if err := c.Matches(spec.Model, configHash(spec), g); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := task.SetState(c.Task); err != nil {
		return nil, err
	}
	backend, err := e.opt.NewBackend(spec.Device)
	if err != nil {
		return nil, err
	}
	prog, err := backend.Compile(g, nn.Options{Batch: spec.Batch, Seed: spec.Seed, Adam: nn.DefaultAdam, TF32: spec.TF32})
	if err != nil {
		return nil, err
	}
	if err := prog.SetState(c.State); err != nil {
		prog.Close()
		return nil, err
	}
	return &Model{Spec: spec, Task: task, Prog: prog, From: ckptRef(path, c)}, nil
}

// loadBestCkpt loads a run's `best` checkpoint, or its `last` when it has
// no best yet.
func (e *Engine) loadBestCkpt(id string) (string, *checkpoints.Checkpoint, error) {
	dir := e.st.runDir(id)
	path := CkptPath(dir, "best")
	if _, err := os.Stat(path); err != nil {
		path = CkptPath(dir, "last")
		if _, err := os.Stat(path); err != nil {
			return "", nil, fmt.Errorf("run %s has no checkpoint yet", id)
		}
	}
	c, err := checkpoints.Load(path)
	if err != nil {
		return "", nil, err
	}
	return path, c, nil
}

// ErrNoInputs is why a split cannot be predicted: the run's task has no
// input for any of its samples (SB on ground-truth 2D and the test split,
// which holds the 2D back; a data folder without that split's file).
var ErrNoInputs = errors.New("no inputs for it")

// Predict returns the model's predictions of every sample of a split.
func (m *Model) Predict(split datasets.Split) ([]Prediction, error) {
	if m.Task.Len(split) == 0 {
		return nil, fmt.Errorf("run %s cannot predict the %s split (%w)", m.Spec.ID, split, ErrNoInputs)
	}
	return predictSplit(m.Task, m.Prog, split, m.Spec.Batch, m.Spec.Seed)
}

// Evaluate predicts a labelled split and scores it.
func (e *Engine) Evaluate(id string, split datasets.Split) (EpochInfo, error) {
	m, err := e.LoadModel(id)
	if err != nil {
		return EpochInfo{}, err
	}
	defer m.Close()
	preds, err := m.Predict(split)
	if err != nil {
		return EpochInfo{}, err
	}
	return m.Task.Evaluate(split, preds)
}

// ParseSplit checks a split name.
func ParseSplit(s string) (datasets.Split, error) {
	switch datasets.Split(s) {
	case datasets.Train, datasets.Val, datasets.Test:
		return datasets.Split(s), nil
	}
	return "", fmt.Errorf("unknown split %q (train, val, test)", s)
}

// ExportPath is where an export of a run goes when no file is named
// (the workbench's export form left empty, `poselab export` without
// --out, or with --weights default): the run's folder (runDir),
// predictions_<split>.<format>, or weights.npz for format "weights".
func ExportPath(runDir, split, format string) string {
	if format == "weights" {
		return filepath.Join(runDir, "weights.npz")
	}
	return filepath.Join(runDir, "predictions_"+split+"."+format)
}

// Exports2D tells whether a model's predictions are 2D joints only (the
// Stacked Hourglass): they export as JSON in the MPII prediction layout
// (ExportPredictions), not in the 3D submission formats.
func Exports2D(model string) bool { return model == "sh" }

// H36MExportPath is where the export of a 2D model puts the Human3.6M
// records' predictions when the split also has MPII people, whose file
// (path) is the one metrics --2d scores against the MPII annotations:
// predictions_val.json -> predictions_val_h36m.json.
func H36MExportPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "_h36m" + ext
}

// ExportFile is one file an export wrote.
type ExportFile struct {
	Path string
	What string // "predictions", "MPII people", "Human3.6M records"
	N    int    // entries (samples, people or records)
}

// ExportInfo says what ExportPredictions wrote, and from which checkpoint.
type ExportInfo struct {
	From  CkptRef
	Files []ExportFile
}

// Export writes a run's predictions of a split to path (ExportPredictions),
// or with format "weights" its network and card (ExportWeights), and says
// which checkpoint predicted and what files it wrote.
func (e *Engine) Export(id, split, format, path string) (ExportInfo, error) {
	if format == "weights" { // the network itself, for PyTorch (split unused)
		wi, err := e.ExportWeights(id, path)
		if err != nil {
			return ExportInfo{From: wi.From}, err
		}
		return ExportInfo{From: wi.From, Files: []ExportFile{
			{Path: path, What: "weights", N: wi.Tensors}, {Path: wi.Card, What: "card"}}}, nil
	}
	return e.ExportPredictions(id, split, format, path)
}

// ExportPredictions writes a run's predictions of a split.
//
// 3D models: to path as csv, json or npz (the submission layout: Id,
// Hip_x ... RWrist_z, mm, camera space, root-relative, Ids in split
// order).
//
// 2D models (Exports2D): json only, in the MPII prediction layout that
// metrics --2d reads ({"image", "joints" [16][2]}, MPII joint order,
// pixels of the original image, 1-based as MPII's files). path gets the
// split's MPII people in their annotation file's order, the file to score
// against that split's MPII JSON (valid.json for val); the Human3.6M
// records, when the split has both, go to H36MExportPath(path) (to path
// when the split has no MPII people, as test).
//
// An empty format follows the file extension; a format that contradicts
// the extension is an error. It returns the checkpoint that predicted:
// the files have no place to say so (a list of rows; the submission's
// arrays).
func (e *Engine) ExportPredictions(id, split, format, path string) (ExportInfo, error) {
	sp, err := ParseSplit(split)
	if err != nil {
		return ExportInfo{}, err
	}
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if format == "" {
		format = ext
	}
	switch format {
	case "csv", "json", "npz":
	default:
		return ExportInfo{}, fmt.Errorf("unknown export format %q (csv, json, npz)", format)
	}
	if ext != format {
		return ExportInfo{}, fmt.Errorf("export: format %s but the file %s ends in %q", format, path, filepath.Ext(path))
	}
	if info, ok := e.Run(id); ok && Exports2D(info.Spec.Model) && format != "json" {
		return ExportInfo{}, fmt.Errorf("export: run %s predicts 2D joints (model %s): json only (the MPII prediction layout metrics --2d reads), not %s", id, info.Spec.Model, format)
	}
	m, err := e.LoadModel(id)
	if err != nil {
		return ExportInfo{}, err
	}
	defer m.Close()
	preds, err := m.Predict(sp)
	if err != nil {
		return ExportInfo{}, err
	}
	if sh, ok := m.Task.(*shTask); ok {
		files, err := export2D(sh, sp, preds, path)
		return ExportInfo{From: m.From, Files: files}, err
	}
	rows := make([]predfile.Row, len(preds))
	for i, p := range preds {
		if !p.Has3D {
			return ExportInfo{}, fmt.Errorf("export: run %s predicts no 3D pose (model %s)", id, m.Spec.Model)
		}
		rows[i] = predfile.Row{ID: p.ID, Joints: p.Pose3D}
		if p.Has2D {
			q := p.Pose2D
			rows[i].Joints2D = &q
		}
	}
	if err := predfile.Write(path, rows); err != nil {
		return ExportInfo{}, err
	}
	return ExportInfo{From: m.From, Files: []ExportFile{{Path: path, What: "predictions", N: len(rows)}}}, nil
}

// export2D writes a 2D model's predictions (see ExportPredictions).
func export2D(t *shTask, split datasets.Split, preds []Prediction, path string) ([]ExportFile, error) {
	people, records, err := t.export2D(split, preds)
	if err != nil {
		return nil, err
	}
	type part struct {
		path, what string
		preds      []mpii.Prediction
	}
	var parts []part
	switch {
	case len(people) > 0 && len(records) > 0:
		parts = []part{{path, "MPII people", people}, {H36MExportPath(path), "Human3.6M records", records}}
	case len(people) > 0:
		parts = []part{{path, "MPII people", people}}
	default:
		parts = []part{{path, "Human3.6M records", records}}
	}
	var files []ExportFile
	for _, p := range parts {
		b, err := mpii.MarshalPredictions(p.preds)
		if err != nil {
			return files, fmt.Errorf("%s: %w", p.path, err)
		}
		if err := atomicfile.Write(p.path, b); err != nil {
			return files, err
		}
		files = append(files, ExportFile{Path: p.path, What: p.what, N: len(p.preds)})
	}
	return files, nil
}
