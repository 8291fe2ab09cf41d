package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	for _, sub := range []string{"h36m/annot", "mpii/annot"} {
		if st, err := os.Stat(filepath.Join(path, sub)); err == nil && st.IsDir() {
			d, err := eth.Open(path)
			return d, true, err
		}
	}
	return nil, false, nil
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
	return nil, fmt.Errorf("data %q: no loader recognises this folder (want \"synth\" or a folder in a supported format)", spec.Data)
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
