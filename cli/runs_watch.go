package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"poselab/engine"
)

// watchOthers follows runs that other poselab processes train until none
// of them is active, printing what poselab train prints (their events come
// from the run store, see engine/watch.go). Ctrl-C ends the watching only:
// the runs are not this process's to stop. A run that failed makes it
// return an error.
func watchOthers(e *engine.Engine, infos []engine.RunInfo, asJSON bool, stdout, stderr io.Writer) error {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	hist, live, cancel := e.Subscribe()
	defer cancel()
	p := newPrinter(stdout, asJSON)
	want := map[string]bool{}
	for _, info := range infos {
		id := info.Spec.ID
		if !info.State.Active() {
			continue // its end is said below
		}
		want[id] = true
		if !asJSON {
			s := info.Spec
			if info.State == engine.Queued && info.Reason != "" {
				// Why it does not train ("step 0/0, epoch 0/10" said
				// nothing of it). Without a reason it is being set up
				// (or waits for its own process's trainer).
				at := ""
				if info.Step > 0 { // resumed or extended
					at = fmt.Sprintf(" at step %d/%d", info.Step, info.TotalSteps)
				}
				p.line("run %s: %s preset %s on %s, queued in %s%s: %s", id, s.Model, s.Preset, info.Device, info.Owner(), at, info.Reason)
				continue
			}
			p.line("run %s: %s preset %s on %s, trained by %s: step %d/%d, epoch %d/%d", id, s.Model, s.Preset,
				info.Device, info.Owner(), info.Step, info.TotalSteps, info.Epoch, s.Epochs)
		}
	}
	active := func() bool {
		for id := range want {
			if info, ok := e.Run(id); ok && info.State.Active() {
				return true
			}
		}
		return false
	}
	// A run's info turns inactive before the events of its last look
	// (its last validation, then its end) reach this subscriber: go on
	// until each run's end has been printed. A run that ended before this
	// subscription has its end in the history, and one deleted has none:
	// neither is waited for. Every other end publishes an event (the
	// watcher's look, or a take-over here), so the grace only bounds a
	// wait for one that does not come. (It was 2 s, also for the runs
	// whose end was on its way: a loaded machine could stall the delivery
	// that long, and the last validation went unprinted.)
	ended := map[string]bool{}
	for _, ev := range hist {
		if want[ev.Run] && ev.Kind == engine.EvState && !ev.State.To.Active() {
			ended[ev.Run] = true
		}
	}
	endedAll := func() bool {
		for id := range want {
			if _, ok := e.Run(id); ok && !ended[id] {
				return false
			}
		}
		return true
	}
	var grace <-chan time.Time
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !endedAll() {
		if grace == nil && !active() {
			grace = time.After(30 * time.Second)
		}
		select {
		case ev, ok := <-live:
			if !ok {
				return fmt.Errorf("event stream closed")
			}
			if want[ev.Run] {
				if st := ev.State; !asJSON && ev.Kind == engine.EvState && st.To == engine.Queued && st.Reason != "" {
					p.line("run %s queued: %s", ev.Run, st.Reason) // who it waits for now
				}
				p.event(e, ev)
				if ev.Kind == engine.EvState && !ev.State.To.Active() {
					ended[ev.Run] = true
				}
			}
		case got := <-sig:
			p.finish()
			s, _ := got.(syscall.Signal)
			return Interrupted{s}
		case <-grace:
			ended = want
		case <-tick.C:
		}
	}
	p.finish()
	var failed error
	for _, info := range infos {
		now, ok := e.Run(info.Spec.ID)
		if !ok {
			fmt.Fprintf(stdout, "run %s was deleted\n", info.Spec.ID)
			continue
		}
		err := error(nil)
		if now.State == engine.Failed {
			err = fmt.Errorf("run %s failed: %s", now.Spec.ID, now.Reason)
		}
		switch {
		case asJSON:
		case err != nil:
			// Its end line says why, on stderr, and Main does not say it
			// again (it did, after the same reason on stdout).
			fmt.Fprintln(stderr, endText(now, is2D(e, now.Spec.ID)))
			err = Reported{err}
		default:
			fmt.Fprintln(stdout, endText(now, is2D(e, now.Spec.ID)))
		}
		if err != nil && failed == nil {
			failed = err
		}
	}
	return failed
}

// endText is how a run ended, from its stored summary.
func endText(i engine.RunInfo, px bool) string {
	why := ""
	if i.Reason != "" {
		why = " (" + i.Reason + ")"
	}
	return fmt.Sprintf("run %s %s%s at step %d/%d: val error %s, best %s", i.Spec.ID, i.State, why, i.Step, i.TotalSteps,
		valText(i.LastValMPJPE, px), valText(i.BestValMPJPE, px))
}
