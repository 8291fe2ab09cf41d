package engine

import (
	"archive/zip"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"poselab/checkpoints"
	"poselab/internal/npzfile"
	"poselab/internal/torchfile"
	"poselab/nn"
)

// initSource is what Spec.Init names, read: tensors by their key in the
// source, in its order. Values are converted only for the keys the model
// uses (matchInit), so that a source's integer counters
// (num_batches_tracked) or a classifier the model lacks cost nothing and
// are never an error.
type initSource struct {
	label   string // for messages: the checkpoint or file
	keys    []string
	tensors map[string]srcTensor
}

type srcTensor struct {
	shape  []int
	values func() ([]float32, error)
}

func (s *initSource) add(key string, shape []int, values func() ([]float32, error)) {
	if s.tensors == nil {
		s.tensors = map[string]srcTensor{}
	}
	if _, dup := s.tensors[key]; !dup {
		s.keys = append(s.keys, key)
	}
	s.tensors[key] = srcTensor{shape: shape, values: values}
}

// initFileKinds are the files Spec.Init may name besides a run id.
const initFileKinds = "a run id of this runs directory, or a .npz, .pth, .pt or .ckpt file"

// resolveInit checks Spec.Init at submission and returns it as the spec
// keeps it: a run id as it is, a file as an absolute path (resume,
// eval and other processes may run from another folder).
func (e *Engine) resolveInit(src, model string) (string, error) {
	if info, ok := e.Run(src); ok {
		if info.Spec.Model != model {
			return "", fmt.Errorf("init: run %s is a %s run and this run trains %s: init takes weights of the same model kind (or a file)",
				src, info.Spec.Model, model)
		}
		return src, nil
	}
	st, err := os.Stat(src)
	if errors.Is(err, fs.ErrNotExist) {
		// A run's name (what the workbench lists, the demo's "demo"):
		// said with the run's id, which init takes.
		// Names need not be unique: several runs of that name are all
		// listed, as the commands' "no run" does (the first alone was
		// offered as if it were the one).
		var named []string
		for _, r := range e.Runs() {
			if r.Spec.Name == src && r.Spec.ID != src {
				named = append(named, r.Spec.ID)
			}
		}
		switch {
		case len(named) == 1:
			return "", fmt.Errorf("init %s: no run of that id in %s, but it is the name of run %s: give its id, --init %s", src, e.opt.RunsDir, named[0], named[0])
		case len(named) > 1:
			return "", fmt.Errorf("init %s: no run of that id in %s, but it is the name of runs %s: give one's id", src, e.opt.RunsDir, strings.Join(named, ", "))
		}
		return "", fmt.Errorf("init %s: no run of that id in %s and no such file (want %s)", src, e.opt.RunsDir, initFileKinds)
	}
	if err != nil {
		return "", fmt.Errorf("init: %w", err)
	}
	if st.IsDir() {
		// A run's folder is what `ls runs/` offers: say what to give
		// instead of it.
		if _, err := os.Stat(filepath.Join(src, "config.toml")); err == nil {
			id := filepath.Base(filepath.Clean(src))
			if _, ok := e.Run(id); ok {
				return "", fmt.Errorf("init %s is the folder of run %s: give its id, --init %s", src, id, id)
			}
			return "", fmt.Errorf("init %s is the folder of a run of another runs directory than %s: give one of its checkpoints (%s)",
				src, e.opt.RunsDir, filepath.Join(src, "checkpoints", "best.ckpt"))
		}
		return "", fmt.Errorf("init %s is a folder: want %s", src, initFileKinds)
	}
	if !st.Mode().IsRegular() {
		// a named pipe held the reading of the weights forever
		what := "not a regular file"
		switch t := st.Mode().Type(); {
		case t&fs.ModeNamedPipe != 0:
			what = "a named pipe"
		case t&fs.ModeSocket != 0:
			what = "a socket"
		case t&fs.ModeDevice != 0:
			what = "a device"
		}
		return "", fmt.Errorf("init %s is %s: want %s", src, what, initFileKinds)
	}
	return filepath.Abs(src)
}

// openInit reads the source of Spec.Init for a run of model kind model.
func (e *Engine) openInit(src, model string) (*initSource, error) {
	if info, ok := e.Run(src); ok {
		if info.Spec.Model != model {
			return nil, fmt.Errorf("init: run %s is a %s run and this run trains %s", src, info.Spec.Model, model)
		}
		path, c, err := e.loadBestCkpt(src) // as eval and export pick it: best, else last
		if err != nil {
			return nil, fmt.Errorf("init: %w", err)
		}
		label := fmt.Sprintf("%s (step %d)", path, c.Step)
		s, err := ckptSource(label, c, model)
		if err != nil {
			return nil, fmt.Errorf("init %s: %w", label, err)
		}
		return s, nil
	}
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("init %s: no run of that id in %s and no such file (want %s)", src, e.opt.RunsDir, initFileKinds)
	}
	// A file this user may not read: each reader below said it its own
	// way, the .pth one as "not a PyTorch state_dict".
	f, oerr := os.Open(src)
	if oerr != nil {
		var pe *fs.PathError
		if errors.As(oerr, &pe) {
			oerr = pe.Err
		}
		return nil, fmt.Errorf("init %s: cannot read it: %w", src, oerr)
	}
	f.Close()
	var s *initSource
	var err error
	switch ext := strings.ToLower(filepath.Ext(src)); ext {
	case ".npz":
		s, err = npzSource(src)
	case ".pth", ".pt":
		s, err = torchSource(src)
	case ".ckpt":
		var c *checkpoints.Checkpoint
		if c, err = checkpoints.Load(src); err == nil {
			s, err = ckptSource(src, c, model)
		} else {
			// below, "init X: " names the file; Load's error names it
			// too ("init X: checkpoint X: not a poselab checkpoint")
			err = errors.New(strings.TrimPrefix(err.Error(), "checkpoint "+src+": "))
		}
	default:
		return nil, fmt.Errorf("init %s: want %s", src, initFileKinds)
	}
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", src, err)
	}
	return s, nil
}

// ckptSource offers a poselab checkpoint's weights and BatchNorm
// statistics under poselab's names (its Adam moments, schedule and task
// state stay behind: init is not resume).
func ckptSource(label string, c *checkpoints.Checkpoint, model string) (*initSource, error) {
	if c.Model != model {
		// openInit names the checkpoint ("init X: init X: the checkpoint
		// is of a sh model" said it twice)
		return nil, fmt.Errorf("the checkpoint is of a %s model, this run trains %s", c.Model, model)
	}
	s := &initSource{label: label}
	for _, m := range []map[string]*nn.Tensor{c.State.Params, c.State.Buffers} {
		for _, name := range slices.Sorted(maps.Keys(m)) {
			t := m[name]
			s.add(name, t.Shape, func() ([]float32, error) { return t.Data, nil })
		}
	}
	return s, nil
}

func npzSource(path string) (*initSource, error) {
	entries, err := npzfile.ReadNPZ(path)
	if errors.Is(err, zip.ErrFormat) {
		// a text file or anything else named .npz: "npz X: zip: not a
		// valid zip file" said the path twice and not what an .npz is
		return nil, errors.New("not an .npz file (numpy.savez's zip of .npy arrays): it is not a zip archive")
	}
	if err != nil { // openInit names the file; ReadNPZ's error names it too
		return nil, errors.New(strings.TrimPrefix(err.Error(), "npz "+path+": "))
	}
	s := &initSource{label: path}
	for _, a := range entries {
		s.add(a.Name, a.Shape, a.Float32)
	}
	return s, nil
}

// torchSource reads a torch.save'd state_dict (internal/torchfile).
func torchSource(path string) (*initSource, error) {
	ts, err := torchfile.Load(path)
	if err != nil {
		return nil, fmt.Errorf("not a PyTorch state_dict (torch.save of a dict of tensors): %w", err)
	}
	s := &initSource{label: path}
	for _, t := range ts {
		s.add(t.Name, t.Shape, t.Float32)
	}
	return s, nil
}

// checkInit resolves s.Init (see resolveInit) and reads and matches it
// against the network of s as the export builds it from a spec alone; a
// model kind the export does not know is matched when the run starts.
func (e *Engine) checkInit(s *Spec) error {
	src, err := e.resolveInit(s.Init, s.Model)
	if err != nil {
		return err
	}
	s.Init = src
	is, err := e.openInit(src, s.Model)
	if err != nil {
		return err
	}
	build, ok := weightNets[s.Model]
	if !ok {
		return nil
	}
	g, _, err := build(*s)
	if err != nil {
		return err
	}
	_, err = matchInit(s.Model, g, is)
	return err
}
