package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"poselab/engine"
)

// watch follows runs until none of them is active, printing progress (or
// JSON events). SIGINT, SIGTERM and SIGHUP (an SSH session that dropped;
// not under nohup) stop the runs cleanly (with a checkpoint), as does a
// stdout whose reader went away (SIGPIPE).
// It returns an error when a run failed or paused itself.
func watch(e *engine.Engine, ids []string, asJSON bool, stdout, stderr io.Writer) error {
	sig := make(chan os.Signal, 2)
	// SIGPIPE: the reader of stdout went away (train | tee log, and the
	// hang-up ended tee). Go's default kills the process at its next
	// line, which could come before the checkpoint; asked for, the write
	// fails instead and the runs stop here as for a signal (exit 141).
	notifyStop(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer signal.Stop(sig)
	return watchSignals(e, ids, asJSON, stdout, stderr, sig)
}

// exitNow ends the process at once (tests replace it).
var exitNow = os.Exit

// watchSignals is watch with the signals it stops on coming from sig.
func watchSignals(e *engine.Engine, ids []string, asJSON bool, stdout, stderr io.Writer, sig <-chan os.Signal) error {
	hist, live, cancel := e.Subscribe()
	defer cancel()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	p := newPrinter(stdout, asJSON)
	started, ended := map[string]bool{}, map[string]bool{}
	var failure error
	said := map[string]bool{} // runs whose failure is on stderr
	handle := func(ev engine.Event) {
		if !want[ev.Run] {
			return
		}
		if ev.Kind == engine.EvStarted {
			started[ev.Run] = true
		}
		if endsRun(ev, started[ev.Run]) {
			ended[ev.Run] = true
		}
		if !started[ev.Run] && ev.Kind != engine.EvFailed && !(ev.Kind == engine.EvState && !ev.State.To.Active()) && !queueLog(ev) {
			return // the first line of a run is its "started" event
		}
		diverged := ev.Kind == engine.EvState && ev.State.To == engine.Paused && strings.HasPrefix(ev.State.Reason, "diverged")
		if p.json || !(ev.Kind == engine.EvFailed || diverged) {
			// The text output's failure and divergence lines go to stderr
			// below, once: printed here too, they said the reason twice.
			p.event(e, ev)
		}
		var f error
		switch {
		case ev.Kind == engine.EvFailed:
			f = fmt.Errorf("run %s failed: %s", ev.Run, ev.State.Reason)
		case ev.Kind == engine.EvState && ev.State.To == engine.Failed && failure == nil:
			f = fmt.Errorf("run %s failed: %s", ev.Run, ev.State.Reason)
		case diverged:
			// Nobody is there to resume it: stop it (keeping the last good
			// checkpoint) and say why.
			f = fmt.Errorf("run %s %s", ev.Run, ev.State.Reason)
			e.Stop(ev.Run)
		}
		if f == nil {
			return
		}
		failure = f
		if p.json {
			// JSON output keeps its event on stdout (the stream's own
			// record), and Main's line on stderr.
			return
		}
		// Said when it happens (a grid goes on training the next runs),
		// on stderr, once (a failed run's state and its failed event say
		// the same); Main then exits 1 without repeating it.
		if !said[ev.Run] {
			said[ev.Run] = true
			p.clearBar()
			fmt.Fprintf(stderr, "%v\n", f)
		}
		failure = Reported{f}
	}
	for _, ev := range hist {
		handle(ev)
	}
	// blocked is a queued run's chain link that is stopped: the run waits
	// for it to finish, and nothing here will start it again (a stage
	// after one that diverged, or `poselab resume` of a later stage).
	blocked := func(info engine.RunInfo) (engine.RunInfo, bool) {
		if info.State != engine.Queued || info.Spec.After == "" {
			return engine.RunInfo{}, false
		}
		a, ok := e.Run(info.Spec.After)
		return a, ok && a.State == engine.Stopped
	}
	// settled says whether every run is over as far as done says, or
	// needs no wait: blocked, or deleted (by another process, once it
	// ended: a grid's finished run while the next trains; it never turns
	// inactive, and waiting for it held train forever).
	settled := func(done func(id string, info engine.RunInfo) bool) bool {
		for _, id := range ids {
			info, ok := e.Run(id)
			if _, b := blocked(info); ok && !b && !done(id, info) {
				return false
			}
		}
		return true
	}
	done := func() bool {
		return settled(func(_ string, info engine.RunInfo) bool { return !info.State.Active() })
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	interrupted := false
	signalled := syscall.SIGINT
	for !done() {
		select {
		case ev, ok := <-live:
			if !ok {
				return errors.New("event stream closed")
			}
			handle(ev)
		case got := <-sig:
			if interrupted {
				if got == syscall.SIGPIPE {
					continue // the reader that went away, again: not the user
				}
				// A step can take minutes (ResNet-50 at 256 px on a CPU),
				// and the stop waits for it: a second signal was ignored
				// for that long. Quitting now is what a killed process
				// does, which the runs survive: each resumes from its last
				// checkpoint (written atomically; the run store is SQLite).
				quitNow(e, ids, signalled, stderr)
				return Interrupted{signalled} // quitNow returned: a test's
			}
			interrupted = true
			if s, ok := got.(syscall.Signal); ok {
				signalled = s
			}
			fmt.Fprintln(stderr, "\nstopping: saving a checkpoint after the step in progress (Ctrl-C again quits at once, losing the steps since the last checkpoint)")
			for _, id := range ids {
				e.Stop(id)
			}
		case <-tick.C:
		}
	}
	// Drain what is left: a run's state turns inactive before its last
	// events (its last validation, its end) reach this subscriber, which
	// a loaded machine can delay past any fixed wait. So wait for each
	// run's end event. A blocked queued run has none, and every other run
	// here was submitted or resumed by this engine, whose state changes
	// all publish one: the grace only bounds a wait for one that does not
	// come. (It was 2 s, also for the runs whose end was on its way: a
	// loaded machine could stall the delivery that long, and the last
	// validation went unprinted.)
	endedAll := func() bool { return settled(func(id string, _ engine.RunInfo) bool { return ended[id] }) }
	grace := time.After(30 * time.Second)
	for drained := false; !drained; {
		quiet := time.After(50 * time.Millisecond)
		if !endedAll() {
			quiet = grace
		}
		select {
		case ev := <-live:
			handle(ev)
		case <-quiet:
			drained = true
		}
	}
	p.finish()
	if failure != nil {
		return failure
	}
	for _, id := range ids {
		info, _ := e.Run(id)
		if a, b := blocked(info); b && !interrupted {
			return fmt.Errorf("run %s comes after run %s, which is stopped: resume that one first (poselab resume %s)", id, a.Spec.ID, a.Spec.ID)
		}
	}
	var infos []engine.RunInfo
	for _, id := range ids {
		info, _ := e.Run(id)
		infos = append(infos, info)
		if info.State == engine.Stopped && !interrupted {
			// Stopped from another poselab process (runs stop, the
			// workbench): the model is unfinished, so `train && export`
			// must not go on.
			return fmt.Errorf("run %s stopped at step %d (%s); continue it with: poselab resume %s", id, info.Step, strings.SplitN(info.Reason, ";", 2)[0], id)
		}
	}
	if interrupted {
		if !asJSON {
			resumeHints(stderr, infos)
		}
		return Interrupted{signalled}
	}
	return nil
}

// resumeHints says how to go on with each run an interrupt stopped: every
// run of a grid, the ones stopped before they started too (only the
// first was named, and `resume` takes one run), but not a chain link whose
// earlier run is stopped as well (resuming that one names the next).
func resumeHints(w io.Writer, infos []engine.RunInfo) {
	stopped := map[string]bool{}
	for _, i := range infos {
		stopped[i.Spec.ID] = i.State == engine.Stopped
	}
	for _, i := range infos {
		switch {
		case !stopped[i.Spec.ID] || stopped[i.Spec.After]:
		case i.Started.IsZero():
			fmt.Fprintf(w, "run %s stopped before it started; start it with: poselab resume %s\n", i.Spec.ID, i.Spec.ID)
		default:
			fmt.Fprintf(w, "run %s stopped at step %d; continue it with: poselab resume %s\n", i.Spec.ID, i.Step, i.Spec.ID)
		}
	}
}

// endsRun says whether ev is the last event of a run this process
// trains. A finished run's state event comes before its finished event
// (the result, and an early stop's reason: the run's last lines), with
// the log file's write between them: taken for the end, the drain's 50 ms
// could return without those lines. So is a failed state of a run that
// trained; one that never started (a chain link after a failed stage)
// gets no failed event: its state is its end, or pipeline run would
// wait out the drain's grace (30 s) before it exits.
func endsRun(ev engine.Event, started bool) bool {
	switch ev.Kind {
	case engine.EvFinished, engine.EvFailed:
		return true
	case engine.EvState:
		to := ev.State.To
		return !to.Active() && to != engine.Finished && (to != engine.Failed || !started)
	}
	return false
}

// pace says how long the run took: its steps, the ones this process
// trained (after a resume, fewer) in this session's wall time, and the
// training steps' own pace, which leaves validation out.
func pace(r *engine.Result) string {
	done := fmt.Sprintf("%d steps in %.1f s", r.Steps, r.Seconds)
	if r.SessionSteps != r.Steps { // resumed (fewer), or rewound after a divergence (more)
		done = fmt.Sprintf("%d steps; this session trained %d in %.1f s", r.Steps, r.SessionSteps, r.Seconds)
	}
	return fmt.Sprintf("%s (training at %.0f samples/s)", done, r.SamplesPerSec)
}
