package engine

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"poselab/checkpoints"
	"poselab/datasets"
)

// A run with patience ends, finished, once its best validation is that
// many epochs old: after the epoch that made it so, with the reason, its
// best checkpoint and its outputs; a resume would count from the same
// best epoch (the checkpoint keeps it).
func TestPatienceEndsARunThatStoppedImproving(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 60, Patience: 1})
	if err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, e, id, 2*time.Minute)
	eps, err := e.Epochs(id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != Finished || len(eps) >= 60 || info.Epoch != len(eps) || info.Step != info.Epoch*info.StepsPerEpoch {
		t.Fatalf("run %s (%s) at epoch %d step %d, %d validations: want finished early, after its last validation", info.State, info.Reason, info.Epoch, info.Step, len(eps))
	}
	// The last validation is the first that left the best 1 epoch old.
	best := -1
	for i, ep := range eps {
		if i < len(eps)-1 && !ep.Best && best >= 0 {
			t.Fatalf("epoch %d did not improve on epoch %d, and the run went on", i+1, best+1)
		}
		if ep.Best {
			best = i
		}
	}
	if last := eps[len(eps)-1]; last.Best || best != len(eps)-2 {
		t.Fatalf("it stopped after epoch %d (best %v); its best was epoch %d", len(eps), last.Best, best+1)
	}
	want := "early stop: best val MPJPE"
	if !strings.Contains(info.Reason, want) || !strings.Contains(info.Reason, "none better in the 1 epoch since (patience 1)") || info.BestValMPJPE != eps[best].MPJPE {
		t.Fatalf("reason %q (best %.2f mm, epoch %d: %.2f mm)", info.Reason, info.BestValMPJPE, best+1, eps[best].MPJPE)
	}
	if _, err := ReadOutputs(e.st.runDir(id), datasets.Val); err != nil {
		t.Fatalf("no outputs: %v", err)
	}
	c, err := checkpoints.Load(CkptPath(e.st.runDir(id), "last"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Meta["best_epoch"] != strconv.Itoa(best) {
		t.Fatalf("last checkpoint's best epoch %q, want %d", c.Meta["best_epoch"], best)
	}
	if log, _, _ := e.LogTail(id, 5); !strings.Contains(strings.Join(log, "\n"), want) {
		t.Fatalf("the log does not say why it ended:\n%s", strings.Join(log, "\n"))
	}
	if _, err := e.Submit(Spec{Model: "sb", Preset: "test", Patience: -1}); err == nil || !strings.Contains(err.Error(), "patience") {
		t.Fatalf("negative patience: %v", err)
	}
}
