package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// The end-of-run line says which steps this session trained: after a
// resume it printed "800 steps in 4.1 s" for 416 steps' work.
func TestPaceNamesTheSessionsSteps(t *testing.T) {
	for _, c := range []struct {
		r    engine.Result
		want string
	}{
		{engine.Result{Steps: 800, SessionSteps: 800, Seconds: 8.04, SamplesPerSec: 6400}, "800 steps in 8.0 s (training at 6400 samples/s)"},
		{engine.Result{Steps: 800, SessionSteps: 416, Seconds: 4.1, SamplesPerSec: 6500}, "800 steps; this session trained 416 in 4.1 s (training at 6500 samples/s)"},
	} {
		if got := pace(&c.r); got != c.want {
			t.Errorf("pace(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}

// A step without a pace yet (the engine's ETA 0: the first step of a
// session) prints no ETA, rather than "ETA 0s"; later steps print theirs.
func TestStepLineLeavesOutAnUnknownETA(t *testing.T) {
	var b strings.Builder
	p := &printer{w: &b}
	p.event(nil, engine.Event{Kind: engine.EvStep, Step: &engine.StepInfo{Step: 1, TotalSteps: 1920, Loss: 1.2, LR: 1e-3, SamplesPerSec: 485}})
	p.lastLine = time.Time{}
	p.event(nil, engine.Event{Kind: engine.EvStep, Step: &engine.StepInfo{Step: 200, TotalSteps: 1920, Loss: 0.5, LR: 1e-3, SamplesPerSec: 14000, ETASeconds: 266.4}})
	want := "step 1/1920 loss 1.2000 lr 1.00e-03 485 samples/s\nstep 200/1920 loss 0.5000 lr 1.00e-03 14000 samples/s ETA 4m26s\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

// Train's progress lines carry the newest resource event's memory, with
// its units and what it counts (a CPU run: the process's RSS of the
// machine's RAM; a GPU run: its memory of the total, and how busy the GPU
// is where the driver says).
func TestStepLineShowsMemory(t *testing.T) {
	var b strings.Builder
	p := &printer{w: &b}
	p.event(nil, engine.Event{Kind: engine.EvResource, Res: &engine.Resource{MemUsedBytes: 310 << 20, MemTotalBytes: 16 << 30, MemKind: engine.MemHost}})
	p.event(nil, engine.Event{Kind: engine.EvStep, Step: &engine.StepInfo{Step: 1, TotalSteps: 10, Loss: 1, LR: 1e-3, SamplesPerSec: 485}})
	p.lastLine = time.Time{}
	p.event(nil, engine.Event{Kind: engine.EvResource, Res: &engine.Resource{MemUsedBytes: 5 << 30, MemTotalBytes: 80 << 30, MemKind: engine.MemDevice, GPUUtil: 97}})
	p.event(nil, engine.Event{Kind: engine.EvStep, Step: &engine.StepInfo{Step: 2, TotalSteps: 10, Loss: 1, LR: 1e-3, SamplesPerSec: 485}})
	want := "step 1/10 loss 1.0000 lr 1.00e-03 485 samples/s · RSS 310 MiB / RAM 16.0 GiB\n" +
		"step 2/10 loss 1.0000 lr 1.00e-03 485 samples/s · mem 5.0 GiB / 80.0 GiB · GPU 97%\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

// runs ls tells a run whose process was killed (taken over as stopped)
// from one somebody stopped, as the README says it shows, and a run that
// patience ended from one that trained every epoch.
func TestStateTextNamesAnInterruptedRun(t *testing.T) {
	for _, c := range []struct {
		i    engine.RunInfo
		want string
	}{
		{engine.RunInfo{State: engine.Stopped, Reason: engine.ReasonInterrupted}, "stopped (interrupted)"},
		{engine.RunInfo{State: engine.Stopped, Reason: "stopped by the user"}, "stopped"},
		{engine.RunInfo{State: engine.Running, Foreign: true, OwnerPID: 42}, "running (pid 42)"},
		// ended by --patience before its last epoch (runs ls, a grid's table)
		{engine.RunInfo{State: engine.Finished, Reason: "early stop: best val MPJPE 83.83 mm at epoch 14, none better in the 1 epoch since (patience 1)"}, "finished (early stop)"},
		{engine.RunInfo{State: engine.Finished}, "finished"},
	} {
		if got := stateText(c.i); got != c.want {
			t.Errorf("stateText(%s, %q) = %q, want %q", c.i.State, c.i.Reason, got, c.want)
		}
	}
}

// runs ls names the runs as the workbench lists them: by name, next to the
// ID the commands take.
func TestRunsLsShowsNames(t *testing.T) {
	e, err := engine.Open(engine.Options{RunsDir: t.TempDir(), WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var b strings.Builder
	runs := []engine.RunInfo{
		{Spec: engine.Spec{ID: "sb-261126-195040", Name: "long2", Model: "sb", Preset: "tiny"}, State: engine.Finished},
		{Spec: engine.Spec{ID: "sb-261126-195041", Name: "sb-261126-195041", Model: "sb", Preset: "tiny"}, State: engine.Finished},
	}
	if err := printRuns(&b, e, runs, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "NAME") ||
		!strings.Contains(lines[1], "sb-261126-195040  long2") || !strings.Contains(lines[2], "sb-261126-195041  -") {
		t.Fatalf("runs ls:\n%s", b.String())
	}
}

// A run stopped before it started (a grid's queued runs after Ctrl-C) has
// no total steps yet: runs ls, show and compare said "0/0".
func TestStepsTextOfARunNotStarted(t *testing.T) {
	if got := stepsText(engine.RunInfo{State: engine.Stopped}); got != "-" {
		t.Errorf("not started: %q, want -", got)
	}
	if got := stepsText(engine.RunInfo{State: engine.Stopped, Step: 455, TotalSteps: 800}); got != "455/800" {
		t.Errorf("started: %q, want 455/800", got)
	}
}

// runs show names a run once when its name is its ID ("run X (X)").
func TestRunTitleNamesAnUnnamedRunOnce(t *testing.T) {
	for _, c := range []struct {
		s    engine.Spec
		want string
	}{
		{engine.Spec{ID: "sb-1", Name: "sb-1"}, "run sb-1"},
		{engine.Spec{ID: "sb-1"}, "run sb-1"},
		{engine.Spec{ID: "sb-2", Name: "lr=3e-4"}, "run sb-2 (lr=3e-4)"},
	} {
		if got := runTitle(c.s); got != c.want {
			t.Errorf("runTitle(%q, %q) = %q, want %q", c.s.ID, c.s.Name, got, c.want)
		}
	}
}

// runs compare shows the settings in which the runs differ (a fine-tuned
// run's init and lr against its source's), and only those.
func TestCompareShowsTheSettingsThatDiffer(t *testing.T) {
	a := engine.RunInfo{Spec: engine.Spec{ID: "sb-1", Name: "sb-1", Model: "sb", Epochs: 25, Batch: 64, Seed: 1}}
	a.Spec.Schedule.BaseLR = 1e-3
	b := a
	b.Spec.ID, b.Spec.Name, b.Spec.Init = "sb-2", "ft", "sb-1"
	b.Spec.Schedule.BaseLR = 3e-4
	var got []string
	for _, r := range differingSettings([]engine.RunInfo{a, b}) {
		got = append(got, r.name+": "+strings.Join(r.cells, " | "))
	}
	want := []string{"name: - | ft", "lr: 0.001 | 0.0003", "init: - | sb-1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// train's first line and runs show count one epoch as one ("1 epochs x
// 32 steps", "1 epochs, batch 64").
func TestTrainFirstLineOneEpoch(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := trainCLI(t, "train", "--preset", "test", "--epochs", "1", "--runs-dir", dir)
	if code != 0 || !strings.Contains(out, ", 1 epoch x ") {
		t.Fatalf("exit %d:\n%s%s", code, out, errs)
	}
	id := strings.Fields(out)[1]
	id = strings.TrimSuffix(id, ":")
	show, _, _ := trainCLI(t, "runs", "show", id, "--runs-dir", dir)
	if !strings.Contains(show, "  1 epoch, batch") {
		t.Fatalf("runs show:\n%s", show)
	}
	// resume's refusals of the finished one-epoch run count it as one
	// too ("finished its 1 epochs", "has trained 1 epochs").
	for _, args := range [][]string{{}, {"--epochs", "1"}, {"--patience", "3"}} {
		_, errs, _ := trainCLI(t, append([]string{"resume", id, "--runs-dir", dir}, args...)...)
		if strings.Contains(errs, "1 epochs") || !strings.Contains(errs, "1 epoch") {
			t.Errorf("resume %v: %s", args, errs)
		}
	}
}

// runs compare shows the settings that tell apart runs of one model and
// preset beyond the flags a grid varies: pipeline A's run against B's
// (augmentation), a run on another stage's outputs, TF32, a schedule's
// shape. Compare showed no setting at all for A against B.
func TestCompareShowsPipelineAndScheduleSettings(t *testing.T) {
	a := engine.RunInfo{Spec: engine.Spec{ID: "baseline-1", Model: "baseline", Preset: "tiny", Pipeline: "A:baseline", Epochs: 4, Batch: 8, Seed: 1}}
	a.Spec.Name = a.Spec.ID
	a.Spec.Schedule = engine.Schedule{Kind: "cosine", BaseLR: 1e-3, WarmupSteps: 10}
	b := a
	b.Spec.ID, b.Spec.Name, b.Spec.Pipeline, b.Spec.Augment = "baseline-2", "baseline-2", "B:baseline", true
	b.Spec.TF32, b.Spec.From = true, []string{"sh-1"}
	b.Spec.Schedule.WarmupSteps = 0
	var got []string
	for _, r := range differingSettings([]engine.RunInfo{a, b}) {
		got = append(got, r.name+": "+strings.Join(r.cells, " | "))
	}
	want := []string{"pipeline: A:baseline | B:baseline", "from: - | sh-1", "tf32: no | yes", "augment: no | yes", "warmup steps: 10 | 0"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// train --json prints the engine's resource events, as the workbench and
// the progress line show them, with the units in the keys: a CPU run's
// RSS of the machine's RAM, a GPU's memory of its total and utilisation.
func TestJSONPrintsResourceEvents(t *testing.T) {
	var b strings.Builder
	p := &printer{w: &b, json: true}
	p.event(nil, engine.Event{Run: "r1", Kind: engine.EvResource, Res: &engine.Resource{Device: "cpu (2 cores)", MemUsedBytes: 310 << 20, MemTotalBytes: 16 << 30, MemKind: engine.MemHost, SamplesPerSec: 5120}})
	p.event(nil, engine.Event{Run: "r1", Kind: engine.EvResource, Res: &engine.Resource{Device: "H100", MemUsedBytes: 5 << 30, MemKind: engine.MemDevice, GPUUtil: 97, SamplesPerSec: 412}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), b.String())
	}
	var cpu, gpu map[string]any
	if json.Unmarshal([]byte(lines[0]), &cpu) != nil || json.Unmarshal([]byte(lines[1]), &gpu) != nil {
		t.Fatalf("not JSON: %q", b.String())
	}
	if cpu["event"] != "resource" || cpu["run"] != "r1" || cpu["device"] != "cpu (2 cores)" || cpu["mem_kind"] != "rss" ||
		cpu["mem_used_bytes"] != float64(310<<20) || cpu["mem_total_bytes"] != float64(16<<30) || cpu["samples_per_s"] != 5120.0 {
		t.Errorf("cpu event %v", cpu)
	}
	if _, ok := cpu["gpu_util_pct"]; ok {
		t.Errorf("cpu event has a GPU utilisation: %v", cpu)
	}
	if v, ok := gpu["mem_total_bytes"]; !ok || v != nil { // unknown: null, not 0
		t.Errorf("gpu event mem_total_bytes %v", gpu)
	}
	if gpu["mem_kind"] != "device" || gpu["mem_used_bytes"] != float64(5<<30) || gpu["gpu_util_pct"] != 97.0 {
		t.Errorf("gpu event %v", gpu)
	}
}
