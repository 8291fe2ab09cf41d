package cli

import (
	"strings"
	"testing"
)

// Commands take run IDs, but the workbench and runs ls show names too
// (the demo's is "demo"): a name given for an ID is answered with the
// run's ID, where "no run "demo"" left the user to look it up.
func TestARunsNameGivenForItsIDNamesTheID(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCLI("train", "--runs-dir", dir, "--model", "sb", "--preset", "test", "--epochs", "1", "--name", "demo")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, errs)
	}
	id := strings.Fields(strings.TrimPrefix(out, "run "))[0]
	if !strings.HasPrefix(id, "sb-") {
		t.Fatalf("no run id in %q", out)
	}
	for _, args := range [][]string{
		{"runs", "show", "demo"},
		{"eval", "--run", "demo"},
		{"export", "--run", "demo", "--split", "val"},
		{"resume", "demo"},
		{"train", "--model", "sb", "--preset", "test", "--after", "demo"},
	} {
		code, _, errs := runCLI(append(args, "--runs-dir", dir)...)
		if code != 2 || !strings.Contains(errs, `"demo"`) || !strings.Contains(errs, "the name of run "+id) {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
	if code, _, errs := runCLI("runs", "show", "--runs-dir", dir, "nosuch"); code != 2 || !strings.Contains(errs, `no run "nosuch"`) {
		t.Errorf("unknown id: exit %d, %q", code, errs)
	}
}
