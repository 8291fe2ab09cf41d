package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"poselab/datasets"
	"poselab/internal/atomicfile"
	"poselab/pose"
)

// Prediction is one sample's prediction, as run outputs store it.
type Prediction struct {
	ID     int         `json:"id"` // index within its split (datasets.Record.ID)
	Has3D  bool        `json:"has3d"`
	Pose3D pose.Pose3D `json:"joints"` // mm, camera space, root-relative (root at 0)
	Has2D  bool        `json:"has2d"`
	Pose2D pose.Pose2D `json:"joints2d"` // px of the original image
}

// Outputs are a run's predictions for one split, ordered by ID. When a run
// finishes the engine writes them for every split the task can predict to
// runs/<id>/outputs/<split>.json, so that later runs (Spec.From) and
// pipelines can consume them.
type Outputs struct {
	Run   string         `json:"run"`
	Model string         `json:"model"`
	Split datasets.Split `json:"split"`
	Data  string         `json:"data_digest,omitempty"` // datasets.Digest of the split's records
	Preds []Prediction   `json:"predictions"`
}

// CheckData reports outputs made on other data than recs (a changed
// synthetic set, another data folder, size or seed): pairing them would
// score predictions against the wrong labels.
func (o *Outputs) CheckData(recs []datasets.Record) error {
	if o.Data == "" {
		return nil // written before digests existed
	}
	if d := datasets.Digest(recs); d != o.Data {
		return fmt.Errorf("run %s's %s outputs were made on different data (digest %s, now %s): train that run again on this data", o.Run, o.Split, o.Data, d)
	}
	return nil
}

// RunOutputs are a finished run's outputs by split (a split is missing when
// the run could not predict it).
type RunOutputs struct {
	Run    string
	Model  string
	Splits map[datasets.Split]*Outputs
}

// OutputsPath is where a run's outputs of a split live.
func OutputsPath(runDir string, split datasets.Split) string {
	return filepath.Join(runDir, "outputs", string(split)+".json")
}

// WriteOutputs stores o atomically under runDir/outputs.
func WriteOutputs(runDir string, o *Outputs) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	return atomicfile.Write(OutputsPath(runDir, o.Split), b)
}

// ReadOutputs loads a run's outputs of one split.
func ReadOutputs(runDir string, split datasets.Split) (*Outputs, error) {
	b, err := os.ReadFile(OutputsPath(runDir, split))
	if err != nil {
		return nil, fmt.Errorf("run outputs: %w", err)
	}
	var o Outputs
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, fmt.Errorf("run outputs %s: %w", OutputsPath(runDir, split), err)
	}
	for i, p := range o.Preds {
		if p.ID != i {
			return nil, fmt.Errorf("run outputs %s: prediction %d has id %d (want ids 0..n-1 in order)", OutputsPath(runDir, split), i, p.ID)
		}
	}
	return &o, nil
}

// ReadRunOutputs loads every split a run wrote.
func ReadRunOutputs(runDir string) (RunOutputs, error) {
	ro := RunOutputs{Splits: map[datasets.Split]*Outputs{}}
	for _, s := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		if _, err := os.Stat(OutputsPath(runDir, s)); err != nil {
			continue
		}
		o, err := ReadOutputs(runDir, s)
		if err != nil {
			return ro, err
		}
		ro.Run, ro.Model = o.Run, o.Model
		ro.Splits[s] = o
	}
	if len(ro.Splits) == 0 {
		return ro, fmt.Errorf("run %s has no outputs (did it finish?)", filepath.Base(runDir))
	}
	return ro, nil
}

// readCheckedOutputs is ReadRunOutputs that also checks every split's
// outputs against data's records of that split.
func readCheckedOutputs(runDir string, data datasets.Dataset) (RunOutputs, error) {
	ro, err := ReadRunOutputs(runDir)
	if err != nil {
		return ro, err
	}
	for split, o := range ro.Splits {
		recs, err := data.Records(split)
		if err != nil {
			return ro, fmt.Errorf("%s records: %w", split, err)
		}
		if err := o.CheckData(recs); err != nil {
			return ro, err
		}
	}
	return ro, nil
}
