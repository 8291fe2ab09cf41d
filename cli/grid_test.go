package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// train --grid queues one run per combination, named after its values,
// trains them all and ends with their table, best first.
func TestTrainGrid(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", "2", "--grid", "lr=1e-3,3e-3", "--grid", "seed=1,2",
		"--name", "g", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(out, "queued 4 runs") {
		t.Fatalf("output:\n%s", out)
	}
	table := out[strings.Index(out, "grid of 4 runs, best first:"):]
	rows := strings.Split(strings.TrimSpace(table), "\n")[2:]
	if len(rows) != 4 {
		t.Fatalf("table:\n%s", table)
	}
	var names []string
	last := 0.0
	for _, r := range rows {
		f := strings.Fields(r)
		// RUN, "g", SETTING, STATE, EPOCH, BEST, "mm", LAST, "mm"
		if len(f) != 9 || f[3] != "finished" || f[4] != "2/2" {
			t.Fatalf("row %q", r)
		}
		names = append(names, f[2])
		var best float64
		if _, err := fmt.Sscan(f[5], &best); err != nil || best < last {
			t.Fatalf("rows not best first: %q after %.1f", r, last)
		}
		last = best
	}
	for _, want := range []string{"lr=1e-3,seed=1", "lr=1e-3,seed=2", "lr=3e-3,seed=1", "lr=3e-3,seed=2"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Fatalf("no run %s in %v", want, names)
		}
	}
	// Each run has its setting: runs show says so.
	id := strings.Fields(rows[0])[0]
	show, _, _ := trainCLI(t, "runs", "show", id, "--runs-dir", dir)
	want := map[string]string{"lr=1e-3": "lr 0.001", "lr=3e-3": "lr 0.003", "seed=1": "seed 1\n", "seed=2": "seed 2\n"}
	for _, part := range strings.Split(strings.Fields(rows[0])[2], ",") {
		if !strings.Contains(show, want[part]) {
			t.Fatalf("run %s (%s) shows:\n%s", id, part, show)
		}
	}
}

// A grid that cannot train is refused whole, before any run is queued.
func TestTrainGridRefusals(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--grid", "momentum=0.9"}, "KEY one of"},
		{[]string{"--grid", "lr=1e-3,x"}, `lr value "x"`},
		{[]string{"--grid", "lr=1e-3", "--grid", "lr=2e-3"}, "lr is given twice"},
		{[]string{"--grid", "batch=1,1"}, "listed twice"},
		{[]string{"--grid", "lr=1e-3,0.001"}, "listed twice"}, // the same value written two ways: two identical runs
		{[]string{"--grid", "seed=7,07"}, "listed twice"},
		{[]string{"--grid", "lr=1,1.0"}, "listed twice"},
		{[]string{"--grid", "lr=1e-3,2e-3", "--lr", "1e-3"}, "give lr once"},
		{[]string{"--grid", "seed=1,2,3,4,5,6,7,8,9,10,11", "--grid", "batch=1,2,3,4,5,6,7,8,9,10"}, "more than 100 runs"},
	} {
		_, errs, code := trainCLI(t, append(append([]string{"train", "--preset", "test"}, c.args...), "--runs-dir", dir)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		out, _, _ := trainCLI(t, "runs", "ls", "--runs-dir", dir)
		if !strings.Contains(out, "no runs") {
			t.Errorf("refused grids left runs behind:\n%s", out)
		}
	}
}

// Ctrl-C in a grid names every run it stopped and how to go on with it,
// the queued ones that never started too (it named only the run that was
// training), but not a chain link whose earlier run is stopped as well.
func TestResumeHintsNameEveryStoppedRun(t *testing.T) {
	run := func(id string, state engine.State, step int, started bool, after string) engine.RunInfo {
		i := engine.RunInfo{Spec: engine.Spec{ID: id, After: after}, State: state, Step: step}
		if started {
			i.Started = time.Unix(1, 0)
		}
		return i
	}
	var b strings.Builder
	resumeHints(&b, []engine.RunInfo{
		run("g", engine.Finished, 800, true, ""),
		run("g-2", engine.Stopped, 455, true, ""),
		run("g-3", engine.Stopped, 0, false, ""),
		run("c-sb", engine.Stopped, 0, false, "g-2"),
	})
	want := "run g-2 stopped at step 455; continue it with: poselab resume g-2\n" +
		"run g-3 stopped before it started; start it with: poselab resume g-3\n"
	if b.String() != want {
		t.Fatalf("hints:\n%s\nwant:\n%s", b.String(), want)
	}
}

// With --json a grid ends with one "grid" event: its runs, best first, as
// runs ls --json gives them (the table had no JSON counterpart).
func TestTrainGridJSONEndsWithItsRuns(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", "1", "--grid", "lr=1e-3,3e-3", "--json", "--runs-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last struct {
		Event string `json:"event"`
		Runs  []struct {
			ID   string  `json:"id"`
			Name string  `json:"name"`
			Best float64 `json:"best_val_mpjpe_mm"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Event != "grid" || len(last.Runs) != 2 {
		t.Fatalf("last line %s (%v), want the grid event with 2 runs", lines[len(lines)-1], err)
	}
	if r := last.Runs; r[0].Best > r[1].Best || r[0].Name == r[1].Name || !strings.HasPrefix(r[0].Name, "lr=") {
		t.Fatalf("runs %+v, want best first, named by setting", r)
	}
}
