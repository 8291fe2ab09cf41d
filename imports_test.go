package main

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// importRule forbids packages under from (the package or its
// subpackages) to depend, directly or not, on packages under any of to.
type importRule struct {
	from string
	to   []string
	why  string
}

// importRules are the architecture's layers: data flows datasets ->
// engine -> events -> run store and viewers; the TUI never computes and
// the engine never draws.
var importRules = []importRule{
	{"poselab/pose", []string{"poselab/"}, "the domain package imports nothing of ours"},
	{"poselab/models", []string{"poselab/datasets", "poselab/tui"}, "models know networks, not data or viewers"},
	{"poselab/checkpoints", []string{"poselab/engine"}, "checkpoints are a file format under the engine"},
	{"poselab/engine", []string{"poselab/tui", "poselab/cli", "charm.land/", "github.com/charmbracelet/"}, "the engine never draws"},
	{"poselab/datasets", []string{"poselab/engine", "poselab/models", "poselab/tui", "poselab/cli"}, "data flows into the engine, not back"},
	{"poselab/nn", []string{"poselab/engine", "poselab/models", "poselab/datasets", "poselab/tui", "poselab/cli"}, "the tensor layer sits under everything"},
}

func under(pkg, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(pkg, prefix)
	}
	return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

// TestImportRules checks every package's (non-test) dependencies against
// importRules, from `go list -deps`' view of the module.
func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", "./...")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	checked := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		pkg, deps := f[0], f[1:]
		for _, r := range importRules {
			if !under(pkg, r.from) {
				continue
			}
			checked[r.from] = true
			for _, d := range deps {
				for _, bad := range r.to {
					// A package's own subpackages are its business
					// (pose may not import poselab/, but poselab/pose/x
					// is still pose).
					if under(d, bad) && !under(d, r.from) {
						t.Errorf("%s depends on %s: %s", pkg, d, r.why)
					}
				}
			}
		}
	}
	for _, r := range importRules {
		if !checked[r.from] {
			t.Errorf("rule for %s matched no package: renamed?", r.from)
		}
	}
}
