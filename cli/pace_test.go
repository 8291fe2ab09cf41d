package cli

import (
	"testing"

	"poselab/engine"
)

// The end-of-run line says which steps this session trained: after a
// resume it printed "800 steps in 4.1 s" for 416 steps' work.
func TestPaceNamesTheSessionsSteps(t *testing.T) {
	for _, c := range []struct {
		r    engine.Result
		want string
	}{
		{engine.Result{Steps: 800, SessionSteps: 800, Seconds: 8.04, SamplesPerSec: 6400}, "800 steps in 8.0 s (training at 6400 samples/s)"},
		{engine.Result{Steps: 800, SessionSteps: 416, Seconds: 4.1, SamplesPerSec: 6500}, "800 steps; this session trained 416 in 4.1 s (training at 6500 samples/s)"},
	} {
		if got := pace(&c.r); got != c.want {
			t.Errorf("pace(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
}
