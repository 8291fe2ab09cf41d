package engine

import (
	"math"
	"strings"
	"testing"
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
		// No double or trailing space where there is no "from" or reason.
		{Event{Kind: EvState, State: &StateInfo{To: Queued}}, "state queued", "queued "},
		{Event{Kind: EvState, State: &StateInfo{To: Queued}}, "state queued", "  "},
		{Event{Kind: EvState, State: &StateInfo{From: Queued, To: Running}}, "state queued -> running", "running "},
	} {
		got := logLine(c.ev)
		if !strings.Contains(got, c.want) || strings.Contains(got, c.not) {
			t.Errorf("log line %q, want %q and no %q", got, c.want, c.not)
		}
	}
}
