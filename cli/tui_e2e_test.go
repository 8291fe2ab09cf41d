package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// tmuxSession drives the real binary in a detached tmux session, on a
// tmux server of its own: on the shared default server, a new session
// could race the server's exit after the previous test killed the last
// session ("server exited unexpectedly").
type tmuxSession struct {
	t    *testing.T
	name string
	sock string
}

func newTmuxSession(t *testing.T, name string) *tmuxSession {
	s := &tmuxSession{t: t, name: name, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	t.Cleanup(func() { exec.Command("tmux", "-S", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	for _, k := range keys {
		s.tmux("send-keys", "-t", s.name, k)
		time.Sleep(150 * time.Millisecond) // huh moves between fields via commands
	}
}

func (s *tmuxSession) capture() string {
	s.t.Helper()
	return s.tmux("capture-pane", "-p", "-t", s.name)
}

// waitFor polls the screen until cond holds; it fails with the last screen.
func (s *tmuxSession) waitFor(what string, timeout time.Duration, cond func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		scr := s.capture()
		if cond(scr) {
			return scr
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %v waiting for %s; screen:\n%s", timeout, what, scr)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func (s *tmuxSession) waitText(text string, timeout time.Duration) string {
	s.t.Helper()
	return s.waitFor(fmt.Sprintf("%q", text), timeout, func(scr string) bool { return strings.Contains(scr, text) })
}

var stepRE = regexp.MustCompile(`@ step ([0-9,]+)`)

func shownStep(screen string) int {
	m := stepRE.FindStringSubmatch(screen)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	return n
}

// buildBinary builds poselab into a temporary folder.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "poselab")
	cmd := exec.Command("go", "build", "-o", bin, "poselab")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestTUIEndToEnd drives the real binary under tmux (built once for both
// scenarios).
func TestTUIEndToEnd(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (make test-deps installs it)")
	}
	bin := buildBinary(t)
	t.Run("keys", func(t *testing.T) { tuiByKeys(t, bin) })
	t.Run("demo-hangup", func(t *testing.T) { tuiDemoAndHangup(t, bin) })
}

// tuiByKeys starts the workbench in tmux on an empty runs folder,
// creates a tiny SB run with the keyboard, watches its curves move, pauses,
// resumes, stops, exports and quits, asserting on the captured screen.
func tuiByKeys(t *testing.T, bin string) {
	runs := t.TempDir()
	s := newTmuxSession(t, fmt.Sprintf("poselab-e2e-%d", os.Getpid()))
	s.tmux("new-session", "-d", "-s", s.name, "-x", "120", "-y", "40",
		fmt.Sprintf("%s --runs-dir %s --no-demo; echo EXITED $?; sleep 30", bin, runs))

	scr := s.waitText("no runs yet", time.Minute)
	for _, want := range []string{"1 Curves", "2 Joints", "3 Skeleton", "? help"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("first screen lacks %q:\n%s", want, scr)
		}
	}

	// New run: the form's defaults are a tiny SB run on synthetic data;
	// give it a name and 40 epochs so that it trains while we look.
	s.keys("n")
	s.waitText("New run", time.Minute)
	s.keys("e2e-sb", "Enter", "Enter", "Enter", "Enter", "Enter", "Enter", "Enter", "40", "Enter", "Enter", "Enter", "Enter", "Enter", "Enter") // epochs; batch, lr, seed, init, patience
	s.waitText("e2e-sb", time.Minute)
	scr = s.waitFor("training steps", time.Minute, func(scr string) bool { return shownStep(scr) > 0 })
	first := shownStep(scr)
	if !strings.Contains(scr, "running") || !strings.Contains(scr, "sb/tiny") || !strings.Contains(scr, "/40") {
		t.Fatalf("the new run is not shown as a running sb/tiny run of 40 epochs:\n%s", scr)
	}
	scr = s.waitFor("the curves to move", time.Minute, func(scr string) bool { return shownStep(scr) > first })
	for _, want := range []string{"train loss", "val MPJPE (mm)", "learning rate", "step"} {
		if !strings.Contains(scr, want) {
			t.Fatalf("curves screen lacks %q:\n%s", want, scr)
		}
	}

	// Pause: the step stops advancing; resume: it advances again.
	s.keys("p")
	s.waitText("paused", time.Minute)
	time.Sleep(400 * time.Millisecond)
	held := shownStep(s.capture())
	time.Sleep(time.Second)
	if now := shownStep(s.capture()); now != held {
		t.Fatalf("paused run moved from step %d to %d", held, now)
	}
	s.keys("r")
	s.waitFor("the resumed run to advance", time.Minute, func(scr string) bool { return shownStep(scr) > held })

	// Stop (checkpointed), then export its validation predictions as CSV.
	s.keys("s")
	s.waitText("stopped", time.Minute)
	s.keys("e")
	s.waitText("Export predictions", time.Minute)
	s.keys("Enter", "Enter", "Enter")
	scr = s.waitFor("the export", time.Minute, func(scr string) bool {
		return strings.Contains(scr, "exported") || strings.Contains(scr, "export:")
	})
	matches, _ := filepath.Glob(filepath.Join(runs, "*", "predictions_val.csv"))
	if len(matches) != 1 {
		t.Fatalf("no exported predictions_val.csv under %s; screen:\n%s", runs, scr)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil || !strings.HasPrefix(string(b), "Id,Hip_x") {
		t.Fatalf("export %s: %v, starts %q", matches[0], err, string(b[:min(len(b), 40)]))
	}

	// The other views render (with bars and skeletons once a validation
	// has run; a loaded machine may not have reached one).
	s.keys("2")
	s.waitText("per-joint error", time.Minute)
	s.keys("3")
	s.waitText("skeletons", time.Minute)
	s.keys("?")
	s.waitText("Keys", time.Minute)
	s.keys("Escape")
	// An Escape and a q read together are alt+q (the help stayed open and
	// q never arrived on a loaded machine): q only once the help is gone.
	s.waitFor("the help to close", time.Minute, func(scr string) bool { return !strings.Contains(scr, "show or hide this help") })

	// Nothing is active any more: q quits at once.
	s.keys("q")
	s.waitText("EXITED 0", time.Minute)
}

// tuiDemoAndHangup starts the workbench on an empty runs folder: the
// demo (pipeline C) trains and its curves move; then the terminal hangs up
// (tmux kill-session sends SIGHUP) and the run is stopped cleanly with a
// checkpoint, not left interrupted.
func tuiDemoAndHangup(t *testing.T, bin string) {
	runs := t.TempDir()
	errFile := filepath.Join(t.TempDir(), "stderr")
	s := newTmuxSession(t, fmt.Sprintf("poselab-hup-%d", os.Getpid()))
	s.tmux("new-session", "-d", "-s", s.name, "-x", "80", "-y", "24", fmt.Sprintf("%s --runs-dir %s 2>%s", bin, runs, errFile))

	scr := s.waitFor("the demo's first steps", time.Minute, func(scr string) bool { return shownStep(scr) > 0 })
	if !strings.Contains(scr, "demo") || !strings.Contains(scr, "sb/tiny") {
		t.Fatalf("the demo (pipeline C: SB, tiny) is not shown:\n%s", scr)
	}
	first := shownStep(scr)
	s.waitFor("the demo's curves to move", time.Minute, func(scr string) bool { return shownStep(scr) > first })

	s.tmux("kill-session", "-t", s.name)
	deadline := time.Now().Add(time.Minute)
	for {
		b, _ := os.ReadFile(errFile)
		if strings.Contains(string(b), "active runs stopped with a checkpoint") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no clean stop after the hang-up; stderr: %q", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	eng, err := engine.Open(engine.Options{RunsDir: runs})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	rs := eng.Runs()
	if len(rs) != 1 || rs[0].State != engine.Stopped || strings.Contains(rs[0].Reason, "interrupted") || rs[0].Step == 0 {
		t.Fatalf("after the hang-up: %+v", rs)
	}
}
