package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"poselab/engine"
	"poselab/engine/cpu"
	"poselab/engine/cuda"
	"poselab/nn"
	"poselab/pose"
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
	for _, r := range runs[:1] {
		s := r.Spec
		names[s.Name] = true
		if s.Epochs != 1 || s.Batch != 32 || s.Schedule.BaseLR != 3e-4 {
			t.Errorf("%s: epochs %d, batch %d, lr %g; want 1, 32, 3e-4", s.Name, s.Epochs, s.Batch, s.Schedule.BaseLR)
		}
	}
	if !names["exp"] {
		t.Errorf("names %v, want exp", names)
	}
	// --after queues the chain as train --after queues a run.
	first := runs[0].Spec.ID
	if _, errs, code := trainCLI(t, "pipeline", "run", "C", "--preset", "test", "--epochs", "1", "--after", first, "--runs-dir", dir); code != 0 {
		t.Fatalf("--after: exit %d: %s", code, errs)
	}
	var ls []struct{ Spec engine.Spec }
	runsJSON(t, &ls, "ls", "--runs-dir", dir)
	if len(ls) != 2 || ls[1].Spec.After != first {
		t.Errorf("runs %+v, want the second after %s", ls, first)
	}
	if _, errs, code := trainCLI(t, "pipeline", "run", "C", "--preset", "test", "--after", "nope", "--runs-dir", dir); code != 2 || !strings.Contains(errs, "--after: no run") {
		t.Errorf("--after nope: exit %d, %q", code, errs)
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

// runsJSON runs a runs subcommand with --json and decodes its output.
func runsJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out, errs, code := trainCLI(t, append(append([]string{"runs"}, args...), "--json")...)
	if code != 0 {
		t.Fatalf("runs %v: exit %d: %s", args, code, errs)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("runs %v: %v\n%s", args, err, out)
	}
}

// The numbers of the workbench's Curves, Joints and Skeleton views, which
// no command printed: the per-joint error of the best epoch (runs show
// gave the last epoch's only) and per action, the skeleton samples, and
// every step's loss and learning rate.
func TestRunsViewsPrintTheWorkbenchsNumbers(t *testing.T) {
	dir := t.TempDir()
	for _, epochs := range []string{"1", "2"} { // the second run validates better (same seed, more epochs)
		if _, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", epochs, "--runs-dir", dir); code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
	}
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	runs := e.Runs()
	id := runs[1].Spec.ID
	eps, _ := e.Epochs(id)
	best := -1
	for i, ep := range eps {
		if ep.Best {
			best = i
		}
	}
	var joints struct {
		Unit      string `json:"unit"`
		BestEpoch *int   `json:"best_epoch"`
		Joints    []struct {
			Joint      string
			Last, Best float64
		}
		Actions []struct {
			Action     string
			Last, Best float64
		}
	}
	runsJSON(t, &joints, "joints", id, "--runs-dir", dir)
	if best < 0 || joints.BestEpoch == nil || *joints.BestEpoch != eps[best].Epoch || joints.Unit != "mm" || len(joints.Joints) != 17 || len(joints.Actions) == 0 {
		t.Fatalf("runs joints --json: %+v (best epoch %d)", joints, best)
	}
	for j, r := range joints.Joints {
		if r.Joint != pose.JointNames[j] || r.Best != eps[best].PerJoint[j] || r.Last != eps[len(eps)-1].PerJoint[j] {
			t.Errorf("joint %d: %+v, want %s best %v", j, r, pose.JointNames[j], eps[best].PerJoint[j])
		}
	}
	if a := joints.Actions[0]; a.Best != eps[best].PerAction[a.Action] {
		t.Errorf("action %+v, want best %v", a, eps[best].PerAction[a.Action])
	}
	out, _, _ := trainCLI(t, "runs", "joints", id, "--sort", "error", "--runs-dir", dir)
	if !strings.Contains(out, "worst first") || !strings.Contains(out, "ACTION") {
		t.Errorf("runs joints --sort error:\n%s", out)
	}

	samples, epoch, _ := e.Samples(id)
	var sk struct {
		Epoch   int
		Samples []struct {
			Index   int
			ErrorMM float64      `json:"error_mm"`
			GT      [][3]float64 `json:"gt_mm"`
			Pred    [][3]float64 `json:"pred_mm"`
		}
	}
	runsJSON(t, &sk, "skeletons", id, "--runs-dir", dir)
	if len(samples) == 0 || len(sk.Samples) != len(samples) || sk.Epoch != epoch {
		t.Fatalf("runs skeletons --json: %d samples of epoch %d, want %d of %d", len(sk.Samples), sk.Epoch, len(samples), epoch)
	}
	for i, s := range sk.Samples {
		if s.Index != samples[i].Index || len(s.GT) != 17 || s.GT[5] != samples[i].GT[5] || s.Pred[5] != samples[i].Pred[5] || !(s.ErrorMM > 0) || s.ErrorMM != samples[i].ErrorMM {
			t.Errorf("sample %d: %+v", i, s)
		}
	}

	steps, _ := e.Steps(id)
	var cv struct {
		Steps []struct {
			Step    int
			Loss    *float64
			LR      float64
			Planned bool
			Time    string
		}
	}
	runsJSON(t, &cv, "curves", id, "--runs-dir", dir)
	if len(cv.Steps) != len(steps) || cv.Steps[0].Step != 1 || *cv.Steps[3].Loss != steps[3].Loss || cv.Steps[3].LR != steps[3].LR {
		t.Fatalf("runs curves --json: %d steps, want %d", len(cv.Steps), len(steps))
	}
	if at, err := time.Parse(time.RFC3339Nano, cv.Steps[3].Time); err != nil || math.Abs(float64(at.UnixNano())/1e9-steps[3].Time) > 1e-3 {
		t.Errorf("step 4's time %q (%v), want %v", cv.Steps[3].Time, err, steps[3].Time)
	}

	// b: best validation first (the second run), not by start.
	var ls []struct{ ID string }
	runsJSON(t, &ls, "ls", "--sort", "best", "--runs-dir", dir)
	if len(ls) != 2 || ls[0].ID != id {
		t.Errorf("runs ls --sort best: %+v, want %s first", ls, id)
	}
	if _, errs, code := trainCLI(t, "runs", "ls", "--sort", "error", "--runs-dir", dir); code != 2 || !strings.Contains(errs, "start or best") {
		t.Errorf("runs ls --sort error: exit %d, %q", code, errs)
	}
}

// runs curves gives the steps still to come the rate the run's schedule
// will use, as the learning-rate chart draws its future dotted.
func TestRunsCurvesPlansTheScheduleAhead(t *testing.T) {
	dir := t.TempDir()
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sched := engine.Schedule{Kind: "exp", BaseLR: 1e-3, Gamma: 0.5, DecaySteps: 10}
	id, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 1000, Schedule: sched})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for i, _ := e.Run(id); i.Step < 5; i, _ = e.Run(id) {
		if time.Now().After(deadline) {
			t.Fatalf("run is %s at step %d", i.State, i.Step)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.Stop(id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Wait(id, time.Minute); err != nil {
		t.Fatal(err)
	}
	info, _ := e.Run(id)
	e.Close()
	var cv struct {
		TotalSteps int `json:"total_steps"`
		StepsDone  int `json:"steps_done"`
		Steps      []struct {
			Step    int
			Loss    *float64
			LR      float64
			Planned bool
		}
	}
	runsJSON(t, &cv, "curves", id, "--every", "100", "--runs-dir", dir)
	last := cv.Steps[len(cv.Steps)-1]
	if cv.TotalSteps != info.TotalSteps || last.Step != info.TotalSteps || !last.Planned || last.Loss != nil {
		t.Fatalf("total %d, last row %+v; want the run's %d steps, planned", cv.TotalSteps, last, info.TotalSteps)
	}
	for _, r := range cv.Steps {
		if want := sched.LR(r.Step - 1); r.Planned && r.LR != want {
			t.Errorf("step %d: lr %g, want the schedule's %g", r.Step, r.LR, want)
		}
		if r.Planned != (r.Step > cv.StepsDone) {
			t.Errorf("step %d (done %d): planned %v", r.Step, cv.StepsDone, r.Planned)
		}
	}
}

// export without --out writes where the workbench's e writes with its
// File field left empty: the run's folder, predictions_<split>.<format>
// (csv by default, as the form's); it required --out.
func TestExportWithoutOutWritesWhereTheWorkbenchDoes(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", "1", "--runs-dir", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var ls []struct{ ID string }
	runsJSON(t, &ls, "ls", "--runs-dir", dir)
	id := ls[0].ID
	for _, c := range []struct {
		args []string
		file string
	}{
		{[]string{"--split", "val"}, "predictions_val.csv"},
		{[]string{"--split", "val", "--format", "json"}, "predictions_val.json"},
	} {
		out, errs, code := trainCLI(t, append([]string{"export", "--run", id, "--runs-dir", dir}, c.args...)...)
		want := filepath.Join(dir, id, c.file)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("export %v: exit %d: %s%s", c.args, code, out, errs)
		}
		if st, err := os.Stat(want); err != nil || st.Size() == 0 {
			t.Errorf("export %v: %s not written (%v)", c.args, want, err)
		}
	}
	// --json for machines, as eval has: what was written where.
	var got struct{ Run, Split, Format, Path string }
	out, errs, code := trainCLI(t, "export", "--run", id, "--split", "val", "--format", "npz", "--json", "--runs-dir", dir)
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Path != filepath.Join(dir, id, "predictions_val.npz") || got.Format != "npz" {
		t.Errorf("export --json: exit %d: %s%s", code, out, errs)
	}
	var w struct {
		Path, Card string
		Tensors    int
	}
	wpath := filepath.Join(t.TempDir(), "w.npz")
	out, errs, code = trainCLI(t, "export", "--run", id, "--weights", wpath, "--json", "--runs-dir", dir)
	if code != 0 || json.Unmarshal([]byte(out), &w) != nil || w.Path != wpath || w.Card == "" || w.Tensors == 0 {
		t.Errorf("export --weights --json: exit %d: %s%s", code, out, errs)
	}
}

// runs pause, stop and resume of a run that has ended refuse in the words
// the workbench's p, s and r show (the engine's): they said "run X is
// finished: no poselab process trains it" where p said "run X is
// finished, not running", and r's extend had no hint.
func TestRunsSteerOfAnEndedRunSaysWhatTheWorkbenchSays(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", "1", "--runs-dir", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	id := e.Runs()[0].Spec.ID
	pauseErr, stopErr := e.Pause(id), e.Stop(id)
	e.Close()
	if pauseErr == nil || stopErr == nil {
		t.Fatalf("the engine pauses (%v) or stops (%v) a finished run", pauseErr, stopErr)
	}
	for _, c := range []struct{ sub, want string }{
		{"pause", pauseErr.Error()},
		{"stop", stopErr.Error()},
		{"resume", "poselab resume " + id + " --epochs N"},
	} {
		_, errs, code := trainCLI(t, "runs", c.sub, id, "--runs-dir", dir)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("runs %s: exit %d, %q; want %q", c.sub, code, errs, c.want)
		}
	}
}

// The new-run form takes a learning rate up to engine.MaxBaseLR; --lr
// (train, pipeline run, a grid's lr) took any (a run at 50 trained to
// 20 m MPJPE).
func TestLRFlagsHaveTheFormsLimit(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"train", "--preset", "test", "--lr", "50"},
		{"train", "--preset", "test", "--grid", "lr=1e-3,50"},
		{"pipeline", "run", "C", "--preset", "test", "--lr", "50"},
	} {
		_, errs, code := trainCLI(t, append(args, "--runs-dir", dir)...)
		if code != 2 || !strings.Contains(errs, "(0, 10]") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
}

// runs pause, stop, rm and log took --json and printed text; a script
// steering runs gets one JSON line per run (the run as runs ls --json
// gives it, with the action), and the log's lines as a JSON list.
func TestRunsSteeringAndLogPrintJSON(t *testing.T) {
	dir := t.TempDir()
	wb, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	id, err := wb.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for i, _ := wb.Run(id); i.State != engine.Running; i, _ = wb.Run(id) {
		if time.Now().After(deadline) {
			t.Fatalf("run is %s", i.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The time left that runs ls and the workbench's list show.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		var ls []struct {
			ETA *float64 `json:"eta_s"`
		}
		runsJSON(t, &ls, "ls", "--runs-dir", dir)
		if len(ls) == 1 && ls[0].ETA != nil && *ls[0].ETA > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("runs ls --json gives no eta_s for the running run")
		}
	}
	for _, c := range []struct{ sub, state string }{{"pause", "paused"}, {"stop", "stopped"}} {
		var got struct{ ID, Action, State string }
		runsJSON(t, &got, c.sub, id, "--runs-dir", dir)
		if got.ID != id || got.Action != c.state || got.State != c.state {
			t.Errorf("runs %s --json: %+v", c.sub, got)
		}
	}
	var log struct {
		Run   string
		Lines []string
	}
	runsJSON(t, &log, "log", id, "--runs-dir", dir)
	if log.Run != id || len(log.Lines) == 0 {
		t.Errorf("runs log --json: %+v", log)
	}
	var rm struct{ ID, Action string }
	runsJSON(t, &rm, "rm", id, "--runs-dir", dir)
	if rm.ID != id || rm.Action != "removed" {
		t.Errorf("runs rm --json: %+v", rm)
	}
}

// train --from RUN is the workbench's chain (c): the new run waits for
// RUN and, unless told otherwise, trains on RUN's data, device and
// preset, as the chain form starts from them (it took synth, cpu, tiny).
func TestTrainFromTakesTheSourcesSettingsAsTheChainFormDoes(t *testing.T) {
	dir := t.TempDir()
	wb, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	sh, err := wb.Submit(engine.Spec{Model: "sh", Preset: "test", Epochs: 100000, DataSize: "small"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { // the source never finishes: stopped once the chained run is queued behind it
		for deadline := time.Now().Add(time.Minute); len(wb.Runs()) < 2 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		wb.Stop(sh)
	}()
	out, errs, code := trainCLI(t, "train", "--model", "sb", "--from", sh, "--runs-dir", dir)
	if code != 1 || !strings.Contains(errs, "comes after run "+sh) || !strings.Contains(out, "queued after "+sh) {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	var chained engine.Spec
	for _, r := range wb.Runs() {
		if r.Spec.ID != sh {
			chained = r.Spec
		}
	}
	if chained.Preset != "test" || chained.DataSize != "small" || chained.After != sh {
		t.Errorf("chained run: preset %q, data size %q, after %q; want the source's test, small, and %s", chained.Preset, chained.DataSize, chained.After, sh)
	}
}

// train --from RUN --after OTHER, RUN still training: the run waits for
// one run, OTHER, so it started before RUN had outputs and failed ("has
// no outputs (did it finish?)"), left behind. It is refused before a run
// exists.
func TestTrainAfterBesideAFromRunStillTraining(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--epochs", "1", "--runs-dir", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	wb, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	done := wb.Runs()[0].Spec.ID
	sh, err := wb.Submit(engine.Spec{Model: "sh", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Stop(sh)
	_, errs, code := trainCLI(t, "train", "--model", "sb", "--preset", "test", "--from", sh, "--after", done, "--runs-dir", dir)
	if want := "--after " + done + ": run " + sh + ", whose outputs feed this one (--from), is"; code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, %q; want 2 and %q", code, errs, want)
	}
	if n := len(wb.Runs()); n != 2 {
		t.Fatalf("%d runs, want the two there were", n)
	}
	// Stopped, it has no outputs and will not write them: --from it was
	// created and failed at once, too.
	if err := wb.Stop(sh); err != nil {
		t.Fatal(err)
	}
	if _, err := wb.Wait(sh, time.Minute); err != nil {
		t.Fatal(err)
	}
	_, errs, code = trainCLI(t, "train", "--model", "sb", "--preset", "test", "--from", sh, "--runs-dir", dir)
	if want := "--from " + sh + ": that run is stopped and has no outputs (a run writes them when it finishes): resume it first"; code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, %q; want 2 and %q", code, errs, want)
	}
	if n := len(wb.Runs()); n != 2 {
		t.Fatalf("%d runs, want the two there were", n)
	}
}

// train --from a run on the synthetic set of one size, with --data-size
// another, is refused before a run exists as other data is: the run was
// created and failed on the outputs' digest.
func TestTrainFromARunOfAnotherSyntheticSize(t *testing.T) {
	dir := t.TempDir()
	wb, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	sh, err := wb.Submit(engine.Spec{Model: "sh", Preset: "test", Epochs: 100000, DataSize: "small"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() { // without the check the chained run waits for sh: stop it then
		for {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if len(wb.Runs()) >= 2 {
				wb.Stop(sh)
				return
			}
		}
	}()
	_, errs, code := trainCLI(t, "train", "--model", "sb", "--from", sh, "--data-size", "tiny", "--runs-dir", dir)
	if want := "--from " + sh + ": that run was trained on data synth/small, this one would be on synth/tiny (give --data-size small)"; code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, %q; want 2 and %q", code, errs, want)
	}
	// A preset of SH's alone, queued behind sh (it never starts here):
	// the refusal said "sb: unknown preset", a preset not given.
	n1, err := wb.Submit(engine.Spec{Model: "sh", Preset: "seed-n1"})
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code = trainCLI(t, "train", "--model", "sb", "--from", n1, "--runs-dir", dir)
	if want := "--from " + n1 + " trained with preset seed-n1, which model sb does not have: give --preset"; code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, %q; want 2 and %q", code, errs, want)
	}
	wb.Stop(n1)
	wb.Stop(sh)
}

// train --from RUN --tf32, RUN on CUDA: the device comes from RUN, so
// --tf32 is checked against it, not against --device's default (cpu),
// which asked for a --device cuda the chain already had. A source on
// the CPU is still refused, naming where its device came from.
func TestTrainFromACUDARunTakesTF32(t *testing.T) {
	// This machine may have no GPU: the CPU's backend stands in for it.
	engine.RegisterBackend("cuda", func() (nn.Backend, error) { return cpu.New(), nil })
	defer engine.RegisterBackend("cuda", cuda.New)
	dir := t.TempDir()
	wb, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	sh, err := wb.Submit(engine.Spec{Model: "sh", Preset: "test", Epochs: 100000, Device: "cuda"})
	if err != nil {
		t.Fatal(err)
	}
	onCPU, err := wb.Submit(engine.Spec{Model: "sh", Preset: "test", After: sh}) // queued: it never starts here
	if err != nil {
		t.Fatal(err)
	}
	_, errs, code := trainCLI(t, "train", "--model", "sb", "--from", onCPU, "--tf32", "--runs-dir", dir)
	if want := "--tf32 is a CUDA setting: it needs --device cuda (--from " + onCPU + " trained on cpu)"; code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("from a CPU run: exit %d, %q; want 2 and %q", code, errs, want)
	}
	wb.Stop(onCPU)
	go func() { // the source never finishes: stopped once the chained run is queued behind it
		for deadline := time.Now().Add(time.Minute); len(wb.Runs()) < 3 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		wb.Stop(sh)
	}()
	out, errs, code := trainCLI(t, "train", "--model", "sb", "--from", sh, "--tf32", "--runs-dir", dir)
	if code != 1 || !strings.Contains(errs, "comes after run "+sh) {
		t.Fatalf("from a CUDA run: exit %d: %s%s", code, out, errs)
	}
	var chained engine.Spec
	for _, r := range wb.Runs() {
		if r.Spec.ID != sh && r.Spec.ID != onCPU {
			chained = r.Spec
		}
	}
	if chained.Device != "cuda" || !chained.TF32 || chained.After != sh {
		t.Errorf("chained run: device %q, tf32 %v, after %q; want cuda, true, %s", chained.Device, chained.TF32, chained.After, sh)
	}
}

// export of an SB run on ground-truth 2D with export's default split,
// test, says why it cannot (the test split holds the 2D back) and what
// to give instead: it said only "cannot predict the test split (no inputs
// for it)", the first export a newcomer runs on the README's first run.
func TestExportTestSplitOfGroundTruthSBSaysWhy(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", "1", "--runs-dir", dir); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var ls []struct{ ID string }
	runsJSON(t, &ls, "ls", "--runs-dir", dir)
	id := ls[0].ID
	_, errs, code := trainCLI(t, "export", "--run", id, "--runs-dir", dir)
	if code == 0 {
		t.Fatalf("export of the test split of SB on ground-truth 2D succeeded: %s", errs)
	}
	for _, want := range []string{"cannot predict the test split", "holds back", "--from an SH run", "--split val"} {
		if !strings.Contains(errs, want) {
			t.Errorf("export without --split: %q lacks %q", errs, want)
		}
	}
	// --split test given: the default's hint would be noise.
	_, errs, _ = trainCLI(t, "export", "--run", id, "--split", "test", "--runs-dir", dir)
	if !strings.Contains(errs, "holds back") || strings.Contains(errs, "--split val") {
		t.Errorf("export --split test: %q", errs)
	}
}
