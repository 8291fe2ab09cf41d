package cli

import (
	"strings"
	"testing"

	"poselab/engine"
)

// The workbench's new-run form gives a pipeline a name, epochs, batch,
// learning rate and TF32, and every stage takes them (D and G name
// theirs NAME-sh, NAME-sb: engine.SubmitPipeline); `pipeline run`
// must take the same fields (it had only preset, data, device, seed and
// patience).
func TestPipelineRunTakesTheFormsFields(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := trainCLI(t, "pipeline", "run", "C", "--preset", "test", "--name", "exp", "--epochs", "1",
		"--batch", "32", "--lr", "3e-4", "--runs-dir", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	runs := e.Runs()
	if len(runs) != 1 {
		t.Fatalf("%d runs, want C's one stage", len(runs))
	}
	names := map[string]bool{}
	for _, r := range runs {
		s := r.Spec
		names[s.Name] = true
		if s.Epochs != 1 || s.Batch != 32 || s.Schedule.BaseLR != 3e-4 {
			t.Errorf("%s: epochs %d, batch %d, lr %g; want 1, 32, 3e-4", s.Name, s.Epochs, s.Batch, s.Schedule.BaseLR)
		}
	}
	if !names["exp"] {
		t.Errorf("names %v, want exp", names)
	}
	// The same refusals as train's, in train's words.
	for _, c := range []struct{ args, want string }{
		{"--epochs 0", "--epochs must be a positive number"},
		{"--lr -1", "--lr must be a positive number"},
		{"--tf32", "--tf32 is a CUDA setting"},
	} {
		_, errs, code := trainCLI(t, append([]string{"pipeline", "run", "C", "--preset", "test", "--runs-dir", dir}, strings.Fields(c.args)...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
}

