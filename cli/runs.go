package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"poselab/engine"
	"poselab/pose"
)

func init() {
	Register(&Command{Name: "runs", Summary: "list, show, compare, remove, watch, pause, resume and stop runs; print their logs", Run: runRuns})
}

const runsSynopsis = `runs ls [--sort start|best]|show RUN|compare RUN RUN...|rm RUN... [--json] [--runs-dir DIR]
       runs curves RUN [--every N]|joints RUN [--sort skeleton|error]|skeletons RUN [--json] [--runs-dir DIR]
       runs watch RUN... [--json] [--runs-dir DIR]
       runs pause|resume|stop RUN... [--json] [--runs-dir DIR]
       runs log RUN [-n LINES] [--json] [--runs-dir DIR]

ls --sort best lists runs best validation first (the workbench's b):
3D models (mm), then 2D ones (px), then runs without a validation.

curves, joints, skeletons and log print what the workbench's views 1 to
4 draw: curves every training step's loss and learning rate, then the
rate the schedule gives the steps still to come ("planned"); joints the
per-joint error of the last validation and of the best epoch, and the
per-action table (--sort error: worst first, the view's o); skeletons the
validation samples the Skeleton view draws, with their errors and worst
joints (--json: every joint of ground truth and prediction, mm,
root-relative; a 2D model's in pixels of the crop, not of the image its
val 2D error is in; and every joint's error, joints_mm, or joints_px in
the image's pixels as its val 2D error, null where unlabelled).

log prints a run's log (DIR/<id>/log, the workbench's Log view): its
states, validations, checkpoints and messages, with times in UTC.

watch follows runs that another poselab process trains until they end,
with the progress lines (or JSON events) of poselab train; Ctrl-C stops
watching, not the runs.

pause, resume and stop steer runs that another poselab process trains
(poselab train, the workbench, poselab serve): the request goes through the
run store and that process acts on it within a second or two; the command
waits until it has. A stopped run saves a checkpoint first; continue it
with poselab resume RUN. With --json, pause, resume and stop print one
line per run (the run as ls --json gives it, with "action"), rm one
{"action": "removed", "id": ...} per run.

The numbers live in DIR/poselab.db (SQLite: tables runs, steps, epochs,
samples, requests), each run's spec in DIR/<id>/config.toml.`

func runRuns(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"ls"}
	}
	sub := args[0]
	fs := NewFlagSet("runs "+sub, runsSynopsis, stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	lines := fs.Int("n", 0, "runs log: only the last LINES lines (0: all)")
	every := fs.Int("every", 1, "runs curves: every N-th step (and the first and last)")
	sortBy := fs.String("sort", "", "runs ls: start (default) or best (best validation first); runs joints: skeleton (default) or error (worst first)")
	runsDir := runsDirFlag(fs)
	if sub == "-h" || sub == "--help" || sub == "-help" {
		fs.Usage() // with the flags, as `poselab --help` promises
		return nil
	}
	ids, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	switch sub {
	case "ls":
		if len(ids) > 0 {
			return Usagef("runs ls takes no arguments")
		}
	case "show", "log", "curves", "joints", "skeletons":
		if len(ids) != 1 {
			return Usagef("runs %s takes one run ID", sub)
		}
		if *lines < 0 {
			return Usagef("-n must be 0 (all) or more lines, got %d", *lines)
		}
	case "compare":
		if len(ids) < 2 {
			return Usagef("runs compare takes two or more run IDs")
		}
	case "rm", "pause", "resume", "stop", "watch":
		if len(ids) == 0 {
			return Usagef("runs %s takes one or more run IDs", sub)
		}
	default:
		return Usagef("unknown runs command %q (ls, show, curves, joints, skeletons, log, compare, rm, watch, pause, resume, stop)", sub)
	}
	if err := onlyRunsFlags(fs, sub); err != nil {
		return err
	}
	order, err := sortWord(sub, *sortBy)
	if err != nil {
		return err
	}
	if *every < 1 {
		return Usagef("--every must be 1 or more steps, got %d", *every)
	}
	if err := existingRunsDir(*runsDir); err != nil {
		if sub != "ls" {
			return err
		}
		// Listing a folder that is not there is not a mistake on a fresh
		// machine: say so, without creating it.
		if *asJSON {
			fmt.Fprintln(stdout, "[]")
		} else {
			fmt.Fprintf(stdout, "no runs (runs directory %q does not exist yet)\n", *runsDir)
		}
		return nil
	}
	// Only the steering commands follow other processes' runs: they wait
	// for the state change their request asks for.
	watchEvery := time.Duration(-1)
	if steer := runsSteer[sub]; steer.do != nil || sub == "watch" {
		watchEvery = 100 * time.Millisecond
	}
	e, err := engine.Open(engine.Options{RunsDir: *runsDir, WatchEvery: watchEvery})
	if err != nil {
		return err
	}
	defer e.Close()
	var infos []engine.RunInfo
	for _, id := range ids {
		info, ok := e.Run(id)
		if !ok {
			return noRun(e, "", id, *runsDir)
		}
		infos = append(infos, info)
	}
	switch sub {
	case "ls":
		runs := e.Runs()
		if order == "best" {
			sortByBest(e, runs)
		}
		return printRuns(stdout, e, runs, *asJSON)
	case "show":
		return showRun(stdout, e, infos[0], *asJSON)
	case "curves":
		return showCurves(stdout, e, infos[0], *every, *asJSON)
	case "joints":
		return showJoints(stdout, e, infos[0], order == "error", *asJSON)
	case "skeletons":
		return showSkeletons(stdout, e, infos[0], *asJSON)
	case "log":
		n := *lines
		if n == 0 {
			n = -1
		}
		log, earlier, err := e.LogTail(infos[0].Spec.ID, n)
		if err != nil {
			return err
		}
		if *asJSON { // it accepted --json and printed text
			if log == nil {
				log = []string{}
			}
			b, _ := json.Marshal(map[string]any{"run": infos[0].Spec.ID, "lines": log, "earlier": earlier})
			fmt.Fprintln(stdout, string(b))
			return nil
		}
		for _, l := range log {
			fmt.Fprintln(stdout, l)
		}
		return nil
	case "compare":
		return compareRuns(stdout, e, infos, *asJSON)
	case "watch":
		return watchOthers(e, infos, *asJSON, stdout, stderr)
	case "pause", "resume", "stop":
		for _, info := range infos {
			if err := steerRun(stdout, e, sub, info, *asJSON); err != nil {
				return err
			}
		}
		return nil
	default:
		for _, id := range ids {
			if err := e.Delete(id); err != nil {
				return err
			}
			if *asJSON { // one line per run, as steering prints
				b, _ := json.Marshal(map[string]any{"action": "removed", "id": id})
				fmt.Fprintln(stdout, string(b))
				continue
			}
			fmt.Fprintf(stdout, "removed %s\n", id)
		}
		return nil
	}
}

// runsFlags are the flags of each runs subcommand besides --json and
// --runs-dir, which all of them take. The subcommands share one flag set.
var runsFlags = map[string][]string{"ls": {"sort"}, "joints": {"sort"}, "curves": {"every"}, "log": {"n"}}

// onlyRunsFlags refuses a flag that sub does not use: the shared flag set
// parsed it, and `runs show RUN --every 10` printed what it prints
// without it, as if it had been applied.
func onlyRunsFlags(fs *flag.FlagSet, sub string) error {
	own := append(append([]string{}, runsFlags[sub]...), "json", "runs-dir")
	var bad string
	fs.Visit(func(f *flag.Flag) {
		if bad == "" && !slices.Contains(own, f.Name) {
			bad = f.Name
		}
	})
	if bad == "" {
		return nil
	}
	names := make([]string, len(own))
	for i, n := range own {
		names[i] = flagName(n)
	}
	return Usagef("runs %s does not take %s (its flags: %s)", sub, flagName(bad), strings.Join(names, ", "))
}

// flagName is a flag as its usage writes it: -n, --every.
func flagName(n string) string {
	if len(n) == 1 {
		return "-" + n
	}
	return "--" + n
}

// runsSteer: what each steering command asks of the process that trains
// a run, the states that say it has, and how long that may take (a stop
// saves a checkpoint first).
var runsSteer = map[string]struct {
	do   func(e *engine.Engine, id string) error
	done func(engine.State) bool
	wait time.Duration
	past string
}{
	"pause":  {(*engine.Engine).Pause, func(s engine.State) bool { return s == engine.Paused || !s.Active() }, 30 * time.Second, "paused"},
	"resume": {(*engine.Engine).Resume, func(s engine.State) bool { return s == engine.Running || s == engine.Queued || !s.Active() }, 30 * time.Second, "resumed"},
	"stop":   {(*engine.Engine).Stop, func(s engine.State) bool { return !s.Active() }, 5 * time.Minute, "stopped"},
}

// steerRun passes pause, resume or stop on to the process that trains a
// run and waits until it has acted.
// With asJSON it prints one line per run: the run as runs ls --json gives
// it once the process has acted, with "action" (paused, resumed,
// stopped).
func steerRun(w io.Writer, e *engine.Engine, sub string, info engine.RunInfo, asJSON bool) error {
	steer, id := runsSteer[sub], info.Spec.ID
	if !info.Foreign {
		switch {
		case sub == "resume" && (info.State == engine.Stopped || info.State == engine.Failed):
			return fmt.Errorf("run %s is %s and no poselab process trains it: continue it with poselab resume %s", id, info.State, id)
		case sub == "resume" && info.State == engine.Finished:
			// The workbench's r opens its extend form here, after the
			// same check.
			if err := e.CanExtend(id); err != nil {
				return err
			}
			// resume --epochs refuses a run whose data folder is gone:
			// that is said first, not a command that would refuse.
			if err := runDataErr(info); err != nil {
				return fmt.Errorf("run %s: %w; with it back, train it on with poselab resume %s --epochs N", id, err, id)
			}
			return fmt.Errorf("run %s is finished: train it on with poselab resume %s --epochs N", id, id)
		case !info.State.Active():
			// Pause and stop refuse an ended run in the engine's words,
			// which the workbench's p and s show.
			if err := steer.do(e, id); err != nil {
				return err
			}
		}
		return fmt.Errorf("run %s is %s: no poselab process trains it", id, info.State)
	}
	if err := steer.do(e, id); err != nil {
		return err
	}
	deadline := time.Now().Add(steer.wait)
	for {
		now, ok := e.Run(id)
		if !ok {
			return fmt.Errorf("run %s was deleted", id)
		}
		if steer.done(now.State) {
			if !now.State.Active() && (sub != "stop" || now.State != engine.Stopped) { // it ended meanwhile
				return fmt.Errorf("run %s %s before it could be %s", id, now.State, steer.past)
			}
			if asJSON {
				m := runJSON(now, is2D(e, id))
				m["action"] = steer.past
				b, _ := json.Marshal(m)
				fmt.Fprintln(w, string(b))
				return nil
			}
			fmt.Fprintf(w, "%s %s\n", steer.past, id)
			return nil
		}
		if time.Now().After(deadline) {
			// The request stays in the store: a process that was only
			// slow (stopped with SIGSTOP, swapping) carries it out when it
			// next looks, which surprised a user told it had not acted.
			return fmt.Errorf("run %s: %s asked, but %s has not acted in %v (it is %s); the request stands, and that process carries it out when it next looks at the run store",
				id, sub, info.Owner(), steer.wait, now.State)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// paceText is a running run's training pace and time left ("-" for the
// others: a paused or queued run trains nothing now).
func paceText(i engine.RunInfo) string {
	if i.State != engine.Running || !(i.SamplesPerSec > 0) {
		return "-"
	}
	s := fmt.Sprintf("%.0f samples/s", i.SamplesPerSec)
	if i.ETA > 0 {
		s += ", ETA " + i.ETA.Round(time.Second).String()
	}
	return s
}

// stateText is a run's state, with the process that trains it when that
// is another one, and "(interrupted)" for a run whose process was killed:
// a plain "stopped" read as if someone had stopped it.
func stateText(i engine.RunInfo) string {
	if i.Foreign && i.OwnerPID > 0 {
		return fmt.Sprintf("%s (pid %d)", i.State, i.OwnerPID)
	}
	if i.State == engine.Stopped && i.Reason == engine.ReasonInterrupted {
		return "stopped (interrupted)"
	}
	if i.State == engine.Finished && strings.HasPrefix(i.Reason, "early stop:") {
		// ended by --patience: "finished" at epoch 15/25 read as cut short
		return "finished (early stop)"
	}
	return string(i.State)
}

// is2D tells whether a run is a 2D model's, by its last epoch: its
// validation error, kept where a 3D run keeps its MPJPE, is in pixels.
func is2D(e *engine.Engine, id string) bool {
	eps, err := e.Epochs(id)
	if err != nil {
		return false
	}
	r, _ := e.Run(id)
	return epochs2D(r.Spec.Model, eps)
}

// epochs2D is the engine's rule (engine.ValIn2D), which the workbench uses
// too.
func epochs2D(model string, eps []engine.EpochInfo) bool { return engine.ValIn2D(model, eps) }

// stepsText is a run's step of its total; a run that has not started
// has no total yet (it comes from the data when it starts): "-", not
// "0/0".
func stepsText(i engine.RunInfo) string {
	if i.TotalSteps == 0 && i.Step == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", i.Step, i.TotalSteps)
}

// valText writes a run's validation error with its unit.
func valText(v float64, px bool) string {
	if !px {
		return mm(v)
	}
	if v > 0 && !math.IsInf(v, 0) {
		return fmt.Sprintf("%.1f px", v)
	}
	return "-" // none yet, or an epoch the run store kept without it
}

// baselineText is a run's fixed-pose baseline on val with its unit: a 3D
// model's mean pose in mm, a 2D model's (SH's) fixed mean 2D pose in px.
func baselineText(r engine.RunInfo) string {
	if b := r.BaselinePx; b > 0 && !math.IsInf(b, 0) {
		return valText(b, true)
	}
	return mm(r.BaselineMPJPE)
}

// runJSON is a run's summary as --json prints it. A 2D model's errors are
// pixels: val_px and best_val_px, the _mm keys null; its baseline is
// baseline_px (null for 3D models, whose baseline_mpjpe_mm it is).
func runJSON(i engine.RunInfo, px bool) map[string]any {
	m := map[string]any{"id": i.Spec.ID, "name": i.Spec.Name, "model": i.Spec.Model, "preset": i.Spec.Preset,
		"pipeline": i.Spec.Pipeline, "state": i.State, "reason": i.Reason, "step": i.Step, "epoch": i.Epoch,
		"total_steps": i.TotalSteps, "last_loss": clean(i.LastLoss), "val_mpjpe_mm": clean(i.LastValMPJPE),
		"best_val_mpjpe_mm": clean(i.BestValMPJPE), "baseline_mpjpe_mm": clean(i.BaselineMPJPE),
		"baseline_px": clean(i.BaselinePx), "samples_per_s": clean(i.SamplesPerSec), "device": i.Device, "spec": toMap(i.Spec)}
	if i.Foreign { // trained by another poselab process
		m["owner_pid"] = i.OwnerPID
	}
	// The time left, as the workbench's list and runs ls show it (the
	// text had it, the JSON did not): null unless it is training.
	m["eta_s"] = nil
	if i.State == engine.Running && i.ETA > 0 {
		m["eta_s"] = i.ETA.Seconds()
	}
	if px {
		m["val_px"], m["best_val_px"] = m["val_mpjpe_mm"], m["best_val_mpjpe_mm"]
		m["val_mpjpe_mm"], m["best_val_mpjpe_mm"] = nil, nil
	}
	return m
}

func printRuns(w io.Writer, e *engine.Engine, runs []engine.RunInfo, asJSON bool) error {
	if asJSON {
		out := make([]any, 0, len(runs))
		for _, r := range runs {
			out = append(out, runJSON(r, is2D(e, r.Spec.ID)))
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(w, string(b))
		return nil
	}
	if len(runs) == 0 {
		fmt.Fprintln(w, "no runs")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// VAL ERROR, BEST, BASELINE: mm of 3D models, px of 2D models.
	// NAME: the workbench lists runs by name (--name, the new-run form),
	// the commands take IDs: without it nothing here said which was which.
	fmt.Fprintln(tw, "ID\tNAME\tMODEL\tPRESET\tSTATE\tSTEP\tEPOCH\tVAL ERROR\tBEST\tBASELINE\tPACE")
	for _, r := range runs {
		total := r.Spec.Epochs
		px := is2D(e, r.Spec.ID)
		name := r.Spec.Name
		if name == "" || name == r.Spec.ID {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", r.Spec.ID, name, r.Spec.Model, r.Spec.Preset, stateText(r),
			stepsText(r), r.Epoch, total, valText(r.LastValMPJPE, px), valText(r.BestValMPJPE, px), baselineText(r), paceText(r))
	}
	return tw.Flush()
}

// runTitle is runs show's first line: the ID and the run's name, where
// it has one of its own (an unnamed run's name is its ID: "run X (X)").
func runTitle(s engine.Spec) string {
	if s.Name == "" || s.Name == s.ID {
		return "run " + s.ID
	}
	return fmt.Sprintf("run %s (%s)", s.ID, s.Name)
}

func showRun(w io.Writer, e *engine.Engine, r engine.RunInfo, asJSON bool) error {
	eps, err := e.Epochs(r.Spec.ID)
	if err != nil {
		return err
	}
	px := epochs2D(r.Spec.Model, eps)
	if asJSON {
		m := runJSON(r, px)
		var el []any
		for _, ep := range eps {
			el = append(el, epochMap(ep))
		}
		m["epochs"] = el
		m["resource"] = resourceJSON(r, time.Now())
		b, _ := json.Marshal(m)
		fmt.Fprintln(w, string(b))
		return nil
	}
	s := r.Spec
	fmt.Fprintf(w, "%s\n  model %s, preset %s, data %s, device %s, seed %d\n", runTitle(s), s.Model, s.Preset, s.DataLabel(), s.Device, s.Seed)
	patience := ""
	if s.Patience > 0 {
		patience = ", patience " + plural(s.Patience, "epoch")
	}
	fmt.Fprintf(w, "  %s%s, batch %d, loss %s, schedule %s lr %g\n", plural(s.Epochs, "epoch"), patience, s.Batch, s.Loss, s.Schedule.Kind, s.Schedule.BaseLR)
	if len(s.From) > 0 || s.After != "" {
		fmt.Fprintf(w, "  from %v, after %q\n", s.From, s.After)
	}
	if s.Init != "" {
		fmt.Fprintf(w, "  init from %s (its log says what was loaded)\n", s.Init)
	}
	reason := ""
	if r.Reason != "" {
		reason = " (" + r.Reason + ")"
	}
	fmt.Fprintf(w, "  state %s%s, step %s, epoch %d\n", r.State, reason, stepsText(r), r.Epoch)
	if px {
		fmt.Fprintf(w, "  val 2D error %s, best %s, fixed-mean baseline %s\n", valText(r.LastValMPJPE, px), valText(r.BestValMPJPE, px), baselineText(r))
	} else {
		fmt.Fprintf(w, "  val MPJPE %s, best %s, mean-pose baseline %s\n", mm(r.LastValMPJPE), mm(r.BestValMPJPE), mm(r.BaselineMPJPE))
	}
	if !r.Started.IsZero() {
		fmt.Fprintf(w, "  last session started %s, updated %s\n", r.Started.Format(time.RFC3339), r.Updated.Format(time.RFC3339))
	}
	if t := resourceText(r, time.Now()); t != "" {
		fmt.Fprintf(w, "  %s\n", t)
	}
	fmt.Fprintf(w, "  folder %s\n", e.RunDir(s.ID))
	// One table of epochs: a 2D model's columns are px and PCKh.
	// An epoch not validated (data without a validation split) has its
	// train loss and dashes: its zeros read as 0.0 mm, the score train
	// no longer prints for it.
	epochTable := func(header string, row func(ep engine.EpochInfo) string) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EPOCH\tSTEP\tTRAIN LOSS\tVAL LOSS\t"+header+"\t")
		unvalidated := 0
		for _, ep := range eps {
			best := ""
			if ep.Best {
				best = "*"
			}
			cells := row(ep)
			if !ep.Validated() {
				unvalidated++
				cells = fmt.Sprintf("%.4f", ep.TrainLoss) + strings.Repeat("\t-", 1+strings.Count(header, "\t")+1)
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\n", ep.Epoch+1, ep.Step, cells, best)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if unvalidated > 0 {
			fmt.Fprintf(w, "  %s not validated: the data has no validation split\n", plural(unvalidated, "epoch"))
		}
		return nil
	}
	if px {
		return epochTable("2D ERROR\tPCKh@0.5", func(ep engine.EpochInfo) string {
			pckh := "-" // none (stores older than the 2D columns did not keep it)
			if ep.PCKh > 0 {
				pckh = pct(ep.PCKh)
			}
			return fmt.Sprintf("%.4g\t%.4g\t%s\t%s", ep.TrainLoss, ep.ValLoss, valText(ep.Pixel, true), pckh)
		})
	}
	if len(eps) > 0 {
		epochTable("MPJPE\tP-MPJPE\t3DPCK@150\tAUC", func(ep engine.EpochInfo) string {
			return fmt.Sprintf("%.4f\t%.4f\t%s\t%s\t%s\t%s", ep.TrainLoss, ep.ValLoss, mm(ep.MPJPE), mm(ep.PMPJPE), pct(ep.PCK150), pct(ep.AUC))
		})
		last := eps[len(eps)-1]
		if len(last.PerJoint) == pose.NumJoints {
			var parts []string
			for j, v := range last.PerJoint {
				parts = append(parts, fmt.Sprintf("%s %.0f", pose.JointNames[j], v))
			}
			fmt.Fprintf(w, "  per joint (mm, last epoch): %s\n", strings.Join(parts, ", "))
		}
	}
	return nil
}

// resourceText is runs show's line on an active run's newest resource
// sample, as train's progress and the workbench's resource line say it,
// with its age ("" without one). The engine says whether it is live
// (engine.RunInfo.ResourceLive); one that is not (a run paused a while
// ago) is given as the last sample, not as the run's use now.
func resourceText(i engine.RunInfo, now time.Time) string {
	res := i.SessionResource()
	if res == nil {
		return ""
	}
	var parts []string
	if t := memText(res); t != "" {
		parts = append(parts, t)
	}
	if res.GPUUtil > 0 {
		parts = append(parts, fmt.Sprintf("GPU %.0f%%", res.GPUUtil))
	}
	if res.SamplesPerSec > 0 && i.State == engine.Running { // a paused run trains nothing
		parts = append(parts, fmt.Sprintf("%.0f samples/s", res.SamplesPerSec))
	}
	if len(parts) == 0 {
		return ""
	}
	age := max(now.Sub(i.ResourceAt), 0).Round(time.Second)
	if !i.ResourceLive(now) {
		return fmt.Sprintf("last resource sample %s ago, before it was %s (not its use now): %s", age, i.State, strings.Join(parts, " · "))
	}
	return fmt.Sprintf("resources %s (sampled %s ago on %s)", strings.Join(parts, " · "), age, res.Device)
}

// resourceJSON is runs show --json's "resource": the sample's keys as the
// resource events of train --json have them, its "time", "age_s" and
// "live" (false: the run's last sample, not its use now, as the text
// says); null without a sample of the active run's current session.
func resourceJSON(i engine.RunInfo, now time.Time) map[string]any {
	res := i.SessionResource()
	if res == nil {
		return nil
	}
	m := map[string]any{"time": i.ResourceAt.UTC().Format(time.RFC3339Nano), "age_s": max(now.Sub(i.ResourceAt), 0).Seconds(),
		"live": i.ResourceLive(now)}
	resourceMap(m, res)
	return m
}

// settingRow is a row of runs compare: a setting, one cell per run.
type settingRow struct {
	name  string
	cells []string
}

// differingSettings are the settings in which the compared runs differ,
// one row each: what a grid varied, or a fine-tuned run's init and lr
// against its source (compare showed the results side by side, but not
// which setting gave which).
func differingSettings(runs []engine.RunInfo) []settingRow {
	orDash := func(v string) string {
		if v == "" {
			return "-"
		}
		return v
	}
	var out []settingRow
	for _, f := range []struct {
		name string
		cell func(engine.Spec) string
	}{
		{"name", func(s engine.Spec) string {
			if s.Name == s.ID {
				return "-"
			}
			return orDash(s.Name)
		}},
		// A pipeline's stage and the runs whose outputs it trained on,
		// TF32, augmentation and a schedule's shape tell apart runs of one
		// model and preset too (pipeline A's run against B's showed no
		// setting at all).
		{"pipeline", func(s engine.Spec) string { return orDash(s.Pipeline) }},
		{"from", func(s engine.Spec) string { return orDash(strings.Join(s.From, " ")) }},
		{"data", func(s engine.Spec) string { return s.DataLabel() }},
		{"device", func(s engine.Spec) string { return s.Device }},
		{"tf32", func(s engine.Spec) string { return yesNo(s.TF32) }},
		{"epochs", func(s engine.Spec) string { return strconv.Itoa(s.Epochs) }},
		{"batch", func(s engine.Spec) string { return strconv.Itoa(s.Batch) }},
		{"loss", func(s engine.Spec) string { return s.Loss }},
		{"augment", func(s engine.Spec) string { return yesNo(s.Augment) }},
		{"schedule", func(s engine.Spec) string { return s.Schedule.Kind }},
		{"lr", func(s engine.Spec) string { return fmt.Sprintf("%g", s.Schedule.BaseLR) }},
		{"warmup steps", func(s engine.Spec) string { return strconv.Itoa(s.Schedule.WarmupSteps) }},
		{"min lr", func(s engine.Spec) string { return fmt.Sprintf("%g", s.Schedule.MinLR) }},
		{"milestones", func(s engine.Spec) string { return orDash(strings.Trim(fmt.Sprint(s.Schedule.Milestones), "[]")) }},
		{"gamma", func(s engine.Spec) string { return fmt.Sprintf("%g", s.Schedule.Gamma) }},
		{"decay steps", func(s engine.Spec) string { return strconv.Itoa(s.Schedule.DecaySteps) }},
		{"seed", func(s engine.Spec) string { return strconv.FormatInt(s.Seed, 10) }},
		{"patience", func(s engine.Spec) string {
			if s.Patience <= 0 {
				return "-"
			}
			return plural(s.Patience, "epoch")
		}},
		{"init", func(s engine.Spec) string { return orDash(s.Init) }},
	} {
		r := settingRow{name: f.name}
		for _, run := range runs {
			r.cells = append(r.cells, f.cell(run.Spec))
		}
		for _, c := range r.cells {
			if c != r.cells[0] {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func compareRuns(w io.Writer, e *engine.Engine, runs []engine.RunInfo, asJSON bool) error {
	if asJSON {
		var out []any
		for _, r := range runs {
			out = append(out, runJSON(r, is2D(e, r.Spec.ID)))
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(w, string(b))
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "\t")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t", r.Spec.ID)
	}
	fmt.Fprintln(tw)
	row := func(name string, f func(engine.RunInfo) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, r := range runs {
			fmt.Fprintf(tw, "%s\t", f(r))
		}
		fmt.Fprintln(tw)
	}
	row("model", func(r engine.RunInfo) string { return r.Spec.Model + "/" + r.Spec.Preset })
	for _, sr := range differingSettings(runs) {
		fmt.Fprintf(tw, "%s\t%s\t\n", sr.name, strings.Join(sr.cells, "\t"))
	}
	row("state", func(r engine.RunInfo) string { return string(r.State) })
	row("steps", stepsText)
	// A 2D model's row cells are its 2D error, in px: the rows are named
	// for what they hold ("val MPJPE 34.6 px" named a 3D metric).
	n2D := 0
	for _, r := range runs {
		if is2D(e, r.Spec.ID) {
			n2D++
		}
	}
	valName, baseName, jointUnit := "val MPJPE", "mean-pose baseline", " (mm)"
	switch {
	case n2D == len(runs):
		valName, baseName, jointUnit = "val 2D error", "fixed-mean baseline", " (px)"
	case n2D > 0:
		valName, baseName, jointUnit = "val error", "baseline", "" // each cell says its unit
	}
	row(valName, func(r engine.RunInfo) string { return valText(r.LastValMPJPE, is2D(e, r.Spec.ID)) })
	row("best "+valName, func(r engine.RunInfo) string { return valText(r.BestValMPJPE, is2D(e, r.Spec.ID)) })
	row(baseName, baselineText) // a 2D model's in px, as its val rows
	row("samples/s", func(r engine.RunInfo) string {
		if math.IsNaN(r.SamplesPerSec) || r.SamplesPerSec == 0 { // 0: it never trained
			return "-"
		}
		return fmt.Sprintf("%.0f", r.SamplesPerSec)
	})
	// per joint of each run's last epoch (a 2D model's in px)
	last := map[string][]float64{}
	for _, r := range runs {
		if eps, err := e.Epochs(r.Spec.ID); err == nil && len(eps) > 0 {
			last[r.Spec.ID] = eps[len(eps)-1].PerJoint
			if is2D(e, r.Spec.ID) {
				last[r.Spec.ID] = eps[len(eps)-1].PerJointPx
			}
		}
	}
	// Said, as runs show says it: eval and report score best.ckpt, so a
	// run whose last epoch is not its best differs there.
	row("per joint, last epoch", func(engine.RunInfo) string { return "" })
	for j := 0; j < pose.NumJoints; j++ {
		row(pose.JointNames[j]+jointUnit, func(r engine.RunInfo) string {
			pj := last[r.Spec.ID]
			if len(pj) != pose.NumJoints {
				return "-"
			}
			if jointUnit == "" {
				return valText(pj[j], is2D(e, r.Spec.ID))
			}
			return fmt.Sprintf("%.1f", pj[j])
		})
	}
	return tw.Flush()
}
