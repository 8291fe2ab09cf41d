package engine

import (
	"fmt"
	"math"
	"os"

	"poselab/nn"
)

// rewind reloads the last checkpoint (or the initial state) after a
// divergence.
func (s *session) rewind() error {
	// The steps after the checkpoint are trained again: the pace starts
	// afresh with the next step (no ETA until then).
	s.marks = nil
	s.update(func(ri *RunInfo) { ri.ETA = 0 })
	g := s.task.Graph()
	last := CkptPath(s.dir, "last")
	if _, err := os.Stat(last); err == nil {
		return s.loadCheckpoint(last, g)
	}
	s.step, s.epoch, s.pos = 0, 0, 0
	s.epochLossSum, s.epochLossN = 0, 0
	state, msg, err := s.freshState(g)
	if err != nil {
		return err
	}
	if msg != "" {
		s.publish(Event{Kind: EvLog, Log: msg})
	}
	return s.prog.SetState(state)
}

// diverge pauses the run with a reason.
func (s *session) diverge(loss, lr float64) {
	s.divergeWith(fmt.Sprintf("diverged: loss %v at step %d (lr %g); resume restarts from the last checkpoint", loss, s.step, lr))
}

// divergeWith marks the run diverged; control pauses it before the next step.
func (s *session) divergeWith(reason string) {
	s.e.mu.Lock()
	s.r.diverged = true
	s.r.info.Reason = reason
	s.e.mu.Unlock()
	s.publish(Event{Kind: EvLog, Log: reason})
}

// checkWeights pauses the run as diverged when a weight, buffer or Adam
// moment is no longer finite (see Options.WeightCheckEvery).
func (s *session) checkWeights() (st *nn.State, diverged bool, err error) {
	st, err = s.prog.State()
	if err != nil {
		return nil, false, err
	}
	if name := nonFiniteTensor(st); name != "" {
		s.divergeWith(fmt.Sprintf("diverged: %s is not finite at step %d; resume restarts from the last checkpoint", name, s.step))
		return st, true, nil
	}
	return st, false, nil
}

// nonFiniteTensor names a weight, buffer or Adam moment of st holding NaN
// or Inf ("" when all are finite).
func nonFiniteTensor(st *nn.State) string {
	for _, g := range []map[string]*nn.Tensor{st.Params, st.Buffers, st.AdamM, st.AdamV} {
		for name, t := range g {
			for _, v := range t.Data {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					return name
				}
			}
		}
	}
	return ""
}

func nanToNull(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}
