package cli

import (
	"os"
	"path/filepath"

	"poselab/datasets"
	"poselab/engine"
)

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
