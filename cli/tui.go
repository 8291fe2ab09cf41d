package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"

	"poselab/engine"
	"poselab/tui"
)

func init() {
	Register(&Command{
		Name:    "tui",
		Summary: "open the workbench (the default): runs, curves, per-joint error, skeletons",
		Run:     runTUI,
	})
}

const tuiSynopsis = `[tui] [--runs-dir DIR] [--no-demo]

Opens the workbench on a runs folder. With an empty folder it starts the
demo (pipeline C, tiny preset, synthetic data) unless --no-demo.
Press ? inside for every key. Quitting with active runs asks whether to
stop them (checkpointed) or keep them training in the background; a
hang-up (SIGHUP) or SIGTERM stops them cleanly with a checkpoint and
exits 128 + the signal (129, 143).`

func runTUI(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("tui", tuiSynopsis, stderr)
	runsDir := runsDirFlag(fs) // $POSELAB_RUNS too, like every other command
	noDemo := fs.Bool("no-demo", false, "do not start the demo run on an empty runs folder")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	eng, err := engine.Open(engine.Options{RunsDir: *runsDir})
	if err != nil {
		return fmt.Errorf("open runs folder %s: %w", *runsDir, err)
	}
	if !*noDemo && len(eng.Runs()) == 0 {
		if _, err := startDemo(eng); err != nil {
			fmt.Fprintf(stderr, "poselab: demo not started: %v\n", err)
		}
	}
	m := tui.New(eng, tui.Options{RunsDir: *runsDir})
	p := tea.NewProgram(m)

	// A hang-up or termination stops every run with a checkpoint (engine
	// Close) after the screen is given back: nothing is lost.
	sigs := make(chan os.Signal, 1)
	notifyStop(sigs, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stopRelay := relaySignal(sigs, p.Kill)
	_, runErr := p.Run()
	m.Close()
	if s := stopRelay(); s != nil {
		sayStopping(stderr, eng)
		closeErr := eng.Close()
		fmt.Fprintf(stderr, "poselab: %v: active runs stopped with a checkpoint\n", s)
		return signalled(s, closeErr)
	}
	if runErr != nil && !errors.Is(runErr, tea.ErrProgramKilled) {
		eng.Close()
		return runErr
	}
	if m.QuitChoice() == tui.QuitKeepRuns {
		return keepTraining(eng, *runsDir, stderr, sigs)
	}
	sayStopping(stderr, eng)
	return eng.Close()
}

// sayStopping tells, before Close waits for them, which runs are being
// stopped: each finishes its step in progress and writes a checkpoint,
// which can take minutes (ResNet-50 at 256 px on a CPU), and the terminal
// the workbench gave back sat silent meanwhile. Ctrl-C there ends the
// process (Go's default for SIGINT, asked for by nobody now): the runs
// resume from their last checkpoints, as after a kill.
func sayStopping(w io.Writer, eng *engine.Engine) {
	var ids []string
	for _, r := range eng.Runs() {
		if r.State.Active() && !r.Foreign {
			ids = append(ids, r.Spec.ID)
		}
	}
	if len(ids) == 0 {
		return
	}
	fmt.Fprintf(w, "poselab: stopping %s after the step in progress, with a checkpoint (Ctrl-C quits at once; each resumes from its last checkpoint): %s\n",
		plural(len(ids), "run"), strings.Join(ids, ", "))
}

// signalled is how a process that a signal ended exits: the close's
// error, else 128 + the signal's number as shells report it (it exited 0,
// and a script took the stopped runs for finished).
func signalled(s os.Signal, closeErr error) error {
	if closeErr != nil {
		return closeErr
	}
	if sig, ok := s.(syscall.Signal); ok {
		return Interrupted{sig}
	}
	return nil
}

// relaySignal calls kill at the first signal of sigs, until stop is
// called; stop returns that signal, or nil. Once stopped, sigs is the
// caller's again: a relay still reading it after the workbench closed ate
// the first Ctrl+C that keepTraining waits for.
func relaySignal(sigs <-chan os.Signal, kill func()) (stop func() os.Signal) {
	quit, got := make(chan struct{}), make(chan os.Signal, 1)
	go func() {
		select {
		case s := <-sigs:
			got <- s
			kill()
		case <-quit:
			close(got)
		}
	}()
	return func() os.Signal {
		close(quit)
		return <-got // nil once closed
	}
}

// startDemo queues pipeline C on the tiny synthetic data set: a new user
// sees curves move within seconds.
func startDemo(eng *engine.Engine) ([]string, error) {
	return eng.SubmitPipeline("C", "tiny", engine.Spec{Name: "demo", Data: "synth", Device: "cpu", Seed: 1})
}

// keepTraining keeps the engine of a closed workbench training in the
// background: it serves the workbench over SSH on loopback when the user
// has authorized keys, and in any case prints one progress line a minute
// until every run is done; SIGHUP, SIGTERM or Ctrl+C stop the runs with a
// checkpoint.
func keepTraining(eng *engine.Engine, runsDir string, stderr io.Writer, sigs chan os.Signal) error {
	signal.Notify(sigs, os.Interrupt)
	fmt.Fprintln(stderr, "poselab: runs keep training in this process; Ctrl+C stops them with a checkpoint.")
	fmt.Fprintf(stderr, "poselab: a workbench opened later on %s follows them (or: poselab runs watch RUN).\n", runsDir)
	if home, err := os.UserHomeDir(); err == nil {
		keys := filepath.Join(home, ".ssh", "authorized_keys")
		if _, err := os.Stat(keys); err == nil {
			srv, err := newServer(serveConfig{listen: defaultListen, authorizedKeys: keys, hostKey: defaultHostKey(runsDir), runsDir: runsDir}, eng)
			var ln net.Listener
			if err == nil {
				ln, err = net.Listen("tcp", defaultListen)
			}
			if err == nil {
				go srv.Serve(ln)
				defer srv.Close()
				fmt.Fprintf(stderr, "poselab: watch them with: ssh -p %s localhost (keys of %s)\n", portOf(defaultListen), keys)
			} else {
				fmt.Fprintf(stderr, "poselab: no SSH server to watch them: %v\n", err)
			}
		}
	}
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	// Only this process's runs: one another poselab process trains (listed
	// here as foreign) is that one's to finish, and waiting for it kept
	// this process up, printing its progress, long after its own runs
	// were done.
	own := func() []engine.RunInfo {
		var rs []engine.RunInfo
		for _, r := range eng.Runs() {
			if r.State.Active() && !r.Foreign {
				rs = append(rs, r)
			}
		}
		return rs
	}
	for {
		if len(own()) == 0 {
			fmt.Fprintln(stderr, "poselab: all runs are done.")
			return eng.Close()
		}
		select {
		case s := <-sigs:
			fmt.Fprintf(stderr, "poselab: %v: stopping runs with a checkpoint after the step in progress (Ctrl+C again quits at once)…\n", s)
			return signalled(s, closeOrQuit(eng, s, sigs, stderr))
		case <-tick.C:
			for _, r := range own() {
				fmt.Fprintln(stderr, keptLine(r, is2D(eng, r.Spec.ID)))
			}
		case <-poll.C:
		}
	}
}

// keptLine is a kept-training run's progress line. Only a running run with
// a pace has an ETA: a queued or paused one (whose last step's ETA the
// engine keeps) and one at its first step read 'ETA 0s' or a stale time.
func keptLine(r engine.RunInfo, px bool) string {
	eta := ""
	if r.State == engine.Running && r.ETA > 0 {
		eta = ", ETA " + r.ETA.Round(time.Second).String()
	}
	return fmt.Sprintf("poselab: %s %s step %d/%d, val %s%s", r.Spec.ID, r.State, r.Step, r.TotalSteps, valText(r.LastValMPJPE, px), eta)
}
