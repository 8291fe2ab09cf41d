package cli

import (
	"io"
)

func init() {
	Register(&Command{Name: "resume", Summary: "continue a stopped or killed run from its last checkpoint", Run: runResume})
}

func runResume(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("resume", "resume RUN [--json] [--runs-dir DIR]", stderr)
	asJSON := fs.Bool("json", false, "print one JSON event per line")
	runsDir := runsDirFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return Usagef("resume takes exactly one run ID (see 'poselab runs ls')")
	}
	id := pos[0]
	e, err := openRun(*runsDir, id)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := e.Resume(id); err != nil {
		return UsageError{err}
	}
	return watch(e, []string{id}, *asJSON, stdout, stderr)
}
