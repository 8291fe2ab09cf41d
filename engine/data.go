package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"poselab/datasets"
	"poselab/datasets/eth"
	"poselab/datasets/synth"
)

// SynthSeed fixes the synthetic data set: every run sees the same data,
// whatever its training seed.
const SynthSeed = 1

// DataLoader opens a data folder in one real format; ok=false means "not
// my format".
type DataLoader func(path string) (d datasets.Dataset, ok bool, err error)

var (
	loadersMu sync.RWMutex
	loaders   = []DataLoader{openETH}
)

// openETH reads a folder in the ETH Machine Perception 2021 layout (the
// seed's data: h36m/annot/*.pkl, mpii/annot/*.json).
func openETH(path string) (datasets.Dataset, bool, error) {
	ok, err := ethLayout(path)
	if err != nil {
		return nil, true, err
	}
	if !ok {
		return nil, false, nil
	}
	d, err := eth.Open(path)
	return d, true, err
}

// ethLayout says whether path has the ETH layout's h36m/annot or
// mpii/annot folder; a folder this user may not read is an error, as
// "no loader recognises this folder" sent users looking for a format
// problem.
func ethLayout(path string) (bool, error) {
	for _, sub := range []string{"h36m/annot", "mpii/annot"} {
		st, err := os.Stat(filepath.Join(path, sub))
		if err == nil && st.IsDir() {
			return true, nil
		}
		if errors.Is(err, fs.ErrPermission) {
			return false, fmt.Errorf("data %q: cannot read it: %w", path, err)
		}
	}
	return false, nil
}

func isETHFolder(path string) bool {
	ok, _ := ethLayout(path)
	return ok
}

// ethHint says where the ETH-layout folder is when path is a folder inside
// one (its h36m or annot folder: the usual mistake) or holds one; "" when
// neither.
func ethHint(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	for up, dir := 0, abs; up < 2; up++ {
		dir = filepath.Dir(dir)
		if isETHFolder(dir) {
			return fmt.Sprintf(": it is inside one, give its top folder (--data %s)", dir)
		}
	}
	ents, _ := os.ReadDir(path)
	npz := ""
	for _, e := range ents {
		// A symlink too: data sets are often linked in from another disk.
		// Only folders and links are looked into (a folder of images
		// would cost a stat per file).
		dirOrLink := e.IsDir() || e.Type()&fs.ModeSymlink != 0
		if sub := filepath.Join(path, e.Name()); dirOrLink && isETHFolder(sub) {
			return fmt.Sprintf(": its subfolder %s is one (--data %s)", e.Name(), sub)
		}
		if strings.EqualFold(filepath.Ext(e.Name()), ".npz") && npz == "" {
			npz = e.Name()
		}
	}
	if npz != "" { // datasets/h36m reads them, but no data folder is made of them
		return fmt.Sprintf(": it holds %s, an MMPose or VideoPose3D file, which --data does not train on", npz)
	}
	return ""
}

// RegisterDataLoader adds a loader for data folders (ETH pickles, ...).
func RegisterDataLoader(l DataLoader) {
	loadersMu.Lock()
	defer loadersMu.Unlock()
	loaders = append(loaders, l)
}

// OpenDataset opens a run's data: "synth" (the embedded synthetic set of
// Spec.DataSize) or a folder in a format a registered loader reads.
func OpenDataset(spec Spec) (datasets.Dataset, error) {
	if spec.Data == "" || spec.Data == "synth" {
		size := spec.DataSize
		if size == "" {
			size = "tiny"
		}
		return synth.New(synth.Size(size), SynthSeed)
	}
	if _, err := os.Stat(spec.Data); err != nil {
		return nil, fmt.Errorf("data %q: %w", spec.Data, err)
	}
	loadersMu.RLock()
	ls := append([]DataLoader(nil), loaders...)
	loadersMu.RUnlock()
	for _, l := range ls {
		d, ok, err := l(spec.Data)
		if ok {
			return d, err
		}
	}
	return nil, fmt.Errorf("data %q: not a data folder: want \"synth\" or a folder in the ETH Machine Perception 2021 layout, with h36m/annot/{train,val,test}.pkl and/or mpii/annot/{train,valid}.json%s", spec.Data, ethHint(spec.Data))
}

// dataset opens (once) and caches a run's data set: several runs of one
// engine (a pipeline's stages) share it.
func (e *Engine) dataset(spec Spec) (datasets.Dataset, error) {
	key := spec.Data + "|" + spec.DataSize
	e.dataMu.Lock()
	defer e.dataMu.Unlock()
	if d, ok := e.data[key]; ok {
		return d, nil
	}
	d, err := e.opt.OpenData(spec)
	if err != nil {
		return nil, err
	}
	e.data[key] = d
	return d, nil
}

// splitRecords returns the records of a split that a data folder may lack
// (val, test): a split without its file gives none. A file that is there
// but does not read is an error: skipped, a truncated val.pkl trained the
// image models without validation, their epochs showing 0.0 mm.
func splitRecords(d datasets.Dataset, sp datasets.Split) ([]datasets.Record, error) {
	r, err := d.Records(sp)
	if sp != datasets.Train && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return r, err
}

// ReadLabels reads every annotation file of a data set that its runs will
// read (train, and val and test where present; MPII's too), so that a
// command can refuse a file that does not read before it creates a run
// that would fail on it. The data set keeps what it read: a run given
// this data set does not read the files again.
func ReadLabels(d datasets.Dataset) error {
	for _, sp := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		if _, err := splitRecords(d, sp); err != nil {
			return err
		}
		if _, err := d.MPII(sp); err != nil {
			return err
		}
	}
	return nil
}

// CheckImages says which labelled images of a data set folder are missing
// (only the file's presence: decoding every image would take minutes);
// nil for data sets without image files. A missing image otherwise fails
// an image model's run at the first batch that needs it, hours in.
func CheckImages(d datasets.Dataset) error {
	if c, ok := d.(interface{ CheckImages() error }); ok {
		return c.CheckImages()
	}
	return nil
}
