package cli

import (
	"fmt"
	"io"

	"poselab/engine"
)

func init() {
	Register(&Command{Name: "export", Summary: "write a run's predictions (submission CSV, JSON or npz)", Run: runExport})
}

const exportSynopsis = `export --run ID [--split test] --format csv|json|npz --out FILE

Predicts a split with the run's best checkpoint (its last when it has no
best yet) and writes the 3D poses: mm, camera space, root-relative (the
root joint at 0), H36M joint order, Ids in split order. CSV is the
submission layout Id,Hip_x,Hip_y,Hip_z,...,RWrist_z.`

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("export", exportSynopsis, stderr)
	id := fs.String("run", "", "run ID")
	split := fs.String("split", "test", "split: train, val or test")
	format := fs.String("format", "", "csv, json or npz (default: from --out's extension)")
	out := fs.String("out", "", "output file")
	runsDir := runsDirFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected arguments %q (see --help)", fs.Args())
	}
	if *id == "" || *out == "" {
		return Usagef("--run and --out are required (see --help)")
	}
	if _, err := engine.ParseSplit(*split); err != nil {
		return UsageError{err}
	}
	switch *format {
	case "", "csv", "json", "npz":
	default:
		return Usagef("--format must be csv, json or npz, got %q", *format)
	}
	e, err := openRun(*runsDir, *id)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Export(*id, *split, *format, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%s split of run %s)\n", *out, *split, *id)
	return nil
}
