package cli

import (
	"os"
	"os/signal"
	"syscall"
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
