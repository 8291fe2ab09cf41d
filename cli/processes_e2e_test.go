package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Real poselab processes sharing one runs directory: `poselab train` in
// the background is paused, resumed and stopped by `poselab runs ...` from
// other processes, and exits 1 saying so (train && export must not go on);
// a trainer killed with SIGKILL leaves its run to be listed as interrupted
// by the next process that opens the directory.
func TestProcessesShareARunsDirectory(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	start := func(args ...string) (*exec.Cmd, *bytes.Buffer) {
		var out bytes.Buffer
		cmd := exec.Command(bin, append(args, "--runs-dir", dir)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, &out
	}
	poselab := func(want int, args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--runs-dir", dir)...).CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != want {
			t.Fatalf("poselab %v: exit %d, want %d\n%s", args, code, want, out)
		}
		return string(out)
	}
	// runOf waits for the run a process trains, as `runs ls --json` lists it.
	runOf := func(pid int, cond func(m map[string]any) bool) map[string]any {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			var runs []map[string]any
			if err := json.Unmarshal([]byte(poselab(0, "runs", "ls", "--json")), &runs); err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if p, _ := r["owner_pid"].(float64); int(p) == pid && cond(r) {
					return r
				}
			}
		}
		t.Fatalf("no run of process %d as wanted", pid)
		return nil
	}
	running := func(m map[string]any) bool { s, _ := m["step"].(float64); return m["state"] == "running" && s > 0 }

	trainer, out := start("train", "--model", "sb", "--preset", "tiny", "--epochs", "1000")
	id := runOf(trainer.Process.Pid, running)["id"].(string)
	if got := poselab(0, "runs", "pause", id); !strings.Contains(got, "paused "+id) {
		t.Fatalf("runs pause: %s", got)
	}
	if got := poselab(0, "runs", "resume", id); !strings.Contains(got, "resumed "+id) {
		t.Fatalf("runs resume: %s", got)
	}
	if got := poselab(0, "runs", "stop", id); !strings.Contains(got, "stopped "+id) {
		t.Fatalf("runs stop: %s", got)
	}
	var ee *exec.ExitError
	if err := trainer.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(out.String(), "stopped from poselab process") {
		t.Fatalf("the stopped trainer exited with %v:\n%s", err, out.String())
	}

	again, _ := start("resume", id)
	runOf(again.Process.Pid, running)
	again.Process.Signal(syscall.SIGKILL)
	again.Wait()
	var r map[string]any
	json.Unmarshal([]byte(poselab(0, "runs", "show", id, "--json")), &r)
	if reason, _ := r["reason"].(string); r["state"] != "stopped" || !strings.HasPrefix(reason, "interrupted") {
		t.Fatalf("after SIGKILL the run is %v (%v)", r["state"], r["reason"])
	}
}
