package cli

import (
	"strings"
	"testing"
	"time"

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

// `train --after RUN` queues behind a run that another process (here an
// engine standing for the workbench) trains: it starts only once that
// one has finished, as the workbench's queue would start it.
func TestTrainAfterQueuesBehindAnotherProcesssRun(t *testing.T) {
	dir := t.TempDir()
	wb, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	first, err := wb.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 4})
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--epochs", "1", "--after", first, "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	if !strings.Contains(out, "queued after "+first) {
		t.Errorf("train does not say what the run waits for:\n%s", out)
	}
	wb.Close()
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var a, b engine.RunInfo
	for _, r := range e.Runs() {
		if r.Spec.ID == first {
			a = r
		} else {
			b = r
		}
	}
	if a.State != engine.Finished || b.State != engine.Finished || b.Spec.After != first {
		t.Fatalf("first %s, second %s after %q", a.State, b.State, b.Spec.After)
	}
	if steps, _ := e.Steps(first); len(steps) == 0 || fromSeconds(steps[len(steps)-1].Time).After(b.Started) {
		t.Errorf("the queued run started at %v, before the first one's last step", b.Started)
	}
	// A run nothing will finish is refused before a run exists.
	for _, c := range []struct{ after, want string }{{"nope", "--after: no run"}} {
		if _, errs, code := trainCLI(t, "train", "--preset", "test", "--after", c.after, "--runs-dir", dir); code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("--after %s: exit %d, %q", c.after, code, errs)
		}
	}
}

func fromSeconds(s float64) time.Time { return time.Unix(0, int64(s*1e9)) }
