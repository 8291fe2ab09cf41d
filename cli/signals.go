package cli

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"poselab/engine"
)

// notifyStop relays sigs, and SIGHUP unless this process was started with
// it ignored, to c. Under nohup SIGHUP is ignored, and asking for it would
// undo that (Go then installs a handler): `nohup poselab serve &` ended,
// stopping its runs, at the user's logout, which is what nohup is for.
func notifyStop(c chan<- os.Signal, sigs ...os.Signal) {
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	signal.Notify(c, sigs...)
}

// closeOrQuit closes eng after the signal first asked for a stop: the
// close waits for each run's step in progress (minutes for ResNet-50 at
// 256 px on a CPU), and a second signal on sigs, still asked for, was
// ignored all that time. As train's (watchSignals), it now quits at once;
// the runs resume from their last checkpoints, as after a kill. It
// returns Close's error.
func closeOrQuit(eng *engine.Engine, first os.Signal, sigs <-chan os.Signal, stderr io.Writer) error {
	var own []string // listed before the close marks them stopped
	for _, r := range eng.Runs() {
		if r.State.Active() && !r.Foreign {
			own = append(own, r.Spec.ID)
		}
	}
	done := make(chan error, 1)
	go func() { done <- eng.Close() }()
	for {
		select {
		case err := <-done:
			return err
		case s := <-sigs:
			if s == syscall.SIGPIPE {
				continue // a log's reader that went away: not the user
			}
			quitNow(eng, own, first, stderr)
			return nil // quitNow returned: a test's
		}
	}
}

// quitNow ends the process at a second signal, without waiting for the
// steps in progress, naming the resume of each of ids still active; it
// exits as the first signal asked (128 + its number).
func quitNow(eng *engine.Engine, ids []string, first os.Signal, stderr io.Writer) {
	fmt.Fprintln(stderr, "poselab: quitting without waiting for the step: each run resumes from its last checkpoint (or its start, before one)")
	for _, id := range ids {
		if info, ok := eng.Run(id); ok && info.State.Active() {
			fmt.Fprintf(stderr, "  poselab resume %s\n", id)
		}
	}
	code := 1
	if sig, ok := first.(syscall.Signal); ok {
		code = 128 + int(sig)
	}
	exitNow(code)
}
