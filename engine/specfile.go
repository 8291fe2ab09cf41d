package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/pelletier/go-toml/v2"
)

// ReadSpecFile reads a run configuration written by hand or copied from a
// run's config.toml, for starting a new run from it. Unlike the run store's
// reading of its own files, a key it does not know is an error that names
// it: a misspelt "epoch" or "base-lr" would otherwise train the preset's
// numbers without a word. The run-specific fields (id, pipeline stage,
// chain link) are cleared: the file describes what to train, not which run.
// Its paths (data, init) are returned as written: a relative one is the
// caller's to read from the file's folder (cli's train does).
func ReadSpecFile(path string) (Spec, error) {
	var spec Spec
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		// "read DIR: is a directory" said what failed, not what to give
		return spec, fmt.Errorf("config %s is a folder: want a TOML file (a run's config.toml works too)", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		// "config: open X: no such file or directory": the cause
		// without the os call, after the file as given
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return spec, fmt.Errorf("config %s: cannot read it: %w", path, pe.Err)
		}
		return spec, fmt.Errorf("config %s: %w", path, err)
	}
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			return spec, fmt.Errorf("config %s: unknown keys:\n%s", path, strict.String())
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return spec, fmt.Errorf("config %s line %d column %d: %v", path, row, col, de)
		}
		return spec, fmt.Errorf("config %s: %w", path, err)
	}
	if spec.Name == spec.ID { // a run's own file names the run by its ID
		spec.Name = ""
	}
	spec.ID, spec.Pipeline, spec.After = "", "", ""
	// Filled in from the data when the run starts.
	spec.Schedule.StepsPerEpoch = 0
	return spec, nil
}
