package engine

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The run log gives a 2D model's epochs in px with PCKh (it wrote "val
// MPJPE 0.00 mm"), and a missing number as "-" (it wrote "NaN mm").
func TestRunLogUnits(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		ev        Event
		want, not string
	}{
		{Event{Kind: EvEpoch, Epoch: &EpochInfo{Epoch: 2, Step: 30, Pixel: 12.345, PCKh: 0.612}}, "epoch 3 (step 30): train loss 0.00000, val loss 0.00000, val 2D error 12.35 px, PCKh@0.5 61.2 %", "mm"},
		{Event{Kind: EvEpoch, Epoch: &EpochInfo{Epoch: 0, MPJPE: 81.6, PMPJPE: 64}}, "val MPJPE 81.60 mm, P-MPJPE 64.00 mm", "px"},
		// 3DPCK and AUC are fractions in the run (as in JSON), percentages
		// in the log, like PCKh (they were written "PCK150 0.873").
		{Event{Kind: EvEpoch, Epoch: &EpochInfo{Epoch: 0, MPJPE: 81.6, PCK150: 0.873, AUC: 0.4125}}, "3DPCK@150 87.3 %, AUC 41.2 %", "0.873"},
		{Event{Kind: EvFailed, State: &StateInfo{To: Failed, Reason: "boom"}, Result: &Result{ValMPJPE: nan, BestValMPJPE: nan, BaselineMPJPE: 198.3}},
			"failed: val MPJPE -, best -, mean-pose baseline 198.30 mm", "NaN"},
		{Event{Kind: EvFinished, State: &StateInfo{To: Finished}, Result: &Result{ValMPJPE: nan, ValPx: 9.5, BestValPx: 9, BaselinePx: 30}},
			"finished: val 2D error 9.50 px, best 9.00 px, fixed-mean baseline 30.00 px", "NaN"},
		// An extended or resumed run's seconds are this session's: the line
		// said "864 steps, 0.9 s" for 64 steps trained in 0.9 s.
		{Event{Kind: EvFinished, State: &StateInfo{To: Finished}, Result: &Result{ValMPJPE: 77.8, Steps: 864, SessionSteps: 64, Seconds: 0.9}},
			"864 steps (this session 64), 0.9 s", "864 steps, 0.9 s"},
		{Event{Kind: EvFinished, State: &StateInfo{To: Finished}, Result: &Result{ValMPJPE: 77.8, Steps: 800, SessionSteps: 800, Seconds: 8.2}},
			"800 steps, 8.2 s", "session"},
		{Event{Kind: EvStarted, Spec: &Spec{Model: "sb", Preset: "tiny", Epochs: 1}}, "preset tiny, 1 epoch, batch", "epochs"},
		// No double or trailing space where there is no "from" or reason.
		{Event{Kind: EvState, State: &StateInfo{To: Queued}}, "state queued", "queued "},
		{Event{Kind: EvState, State: &StateInfo{To: Queued}}, "state queued", "  "},
		{Event{Kind: EvState, State: &StateInfo{From: Queued, To: Running}}, "state queued -> running", "running "},
		// The new state and its reason are apart; a best epoch is marked as
		// train marks it, and no line says "best true" or "best false".
		{Event{Kind: EvState, State: &StateInfo{From: Running, To: Stopped, Reason: "stopped by the user"}}, "state running -> stopped: stopped by the user", "stopped stopped"},
		{Event{Kind: EvEpoch, Epoch: &EpochInfo{Epoch: 0, MPJPE: 81.6, Best: true}}, "AUC 0.0 % (best)", "best true"},
		{Event{Kind: EvEpoch, Epoch: &EpochInfo{Epoch: 1, MPJPE: 82.6}}, "AUC 0.0 %", "best"},
		{Event{Kind: EvEpoch, Epoch: &EpochInfo{Epoch: 1, Pixel: 9, Best: true}}, "PCKh@0.5 0.0 % (best)", "best true"},
		{Event{Kind: EvCheckpoint, Ckpt: &CkptInfo{Path: "/r/checkpoints/last.ckpt", Step: 32}}, "checkpoint last.ckpt at step 32", "best"},
	} {
		got := logLine(c.ev)
		if !strings.Contains(got, c.want) || strings.Contains(got, c.not) {
			t.Errorf("log line %q, want %q and no %q", got, c.want, c.not)
		}
	}
}

// LogTail gives the end of a run's log as its process wrote it: whole
// lines, oldest first, and only the last n; a long log is read from its
// end (a line cut by the read is left out, not shown half).
func TestLogTail(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, id, time.Minute)
	all, earlier, err := e.LogTail(id, -1)
	if err != nil || earlier {
		t.Fatal(err, earlier)
	}
	if len(all) < 5 || !strings.Contains(all[0], "state queued") || !strings.Contains(all[len(all)-1], "finished: val MPJPE") {
		t.Fatalf("log tail:\n%s", strings.Join(all, "\n"))
	}
	last2, earlier, _ := e.LogTail(id, 2)
	if strings.Join(last2, "\n") != strings.Join(all[len(all)-2:], "\n") || !earlier {
		t.Fatalf("last 2 lines %q (earlier ones: %v), want %q", last2, earlier, all[len(all)-2:])
	}
	// A log longer than what is read: every line returned is whole.
	f, err := os.OpenFile(filepath.Join(e.st.runDir(id), "log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	line := "2026-11-26T21:00:00Z note " + strings.Repeat("x", 1000)
	for i := 0; i < logTailBytes/len(line)+10; i++ {
		fmt.Fprintln(f, line)
	}
	fmt.Fprintln(f, "2026-11-26T21:00:01Z the end")
	f.Close()
	// Cut by the read's bound, not by n: it says there is more.
	tail, earlier, err := e.LogTail(id, 1<<20)
	if err != nil || !earlier {
		t.Fatal(err, earlier)
	}
	for _, l := range tail[:len(tail)-1] {
		if l != line {
			t.Fatalf("a line of the tail is not whole: %.60q… (%d bytes)", l, len(l))
		}
	}
	if tail[len(tail)-1] != "2026-11-26T21:00:01Z the end" || len(tail) < logTailBytes/len(line)-1 {
		t.Fatalf("%d lines, last %q", len(tail), tail[len(tail)-1])
	}
	// n < 0 is the whole log, however long: `runs log RUN` (-n 0, "all")
	// printed only its last 256 KiB.
	whole, _, err := e.LogTail(id, -1)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(all) + logTailBytes/len(line) + 11; len(whole) != want || whole[0] != all[0] {
		t.Fatalf("the whole log: %d lines from %.40q, want %d from %.40q", len(whole), whole[0], want, all[0])
	}
	if _, _, err := e.LogTail("nope", 5); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown run: %v", err)
	}
}
