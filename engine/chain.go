package engine

import (
	"fmt"
	"os"
	"slices"

	"poselab/datasets"
)

// ChainProblem is why a run cannot be fed by another run's outputs
// (Spec.From).
type ChainProblem int

const (
	// ChainNoOutputs: the source has ended (stopped or failed) without
	// writing outputs, which a run writes when it finishes.
	ChainNoOutputs ChainProblem = iota + 1
	// ChainNotWaited: the source is still to finish and the new run is
	// queued after a run that does not come after it (Spec.After).
	ChainNotWaited
	// ChainOtherData: the source trained on other data, or on the
	// synthetic set of another size: its outputs are of other samples.
	ChainOtherData
)

// ChainError is a refused Spec.From entry. The CLI words it with its
// flags; Error's text is for the workbench.
type ChainError struct {
	Problem ChainProblem
	Source  RunInfo // the run named in Spec.From
	// ChainNotWaited: the run the new one would be queued after.
	After string
	// ChainOtherData: the source's data and the new run's, as
	// "synth/<size>" (Spec.DataLabel) where both are synthetic and the
	// source stored its size, else "synth" or the folder.
	FromData, ToData string
}

func (c *ChainError) Error() string {
	id := c.Source.Spec.ID
	switch c.Problem {
	case ChainNoOutputs:
		hint := ""
		if c.Source.State == Stopped {
			hint = ": resume it first"
		}
		return fmt.Sprintf("run %s is %s and has no outputs (a run writes them when it finishes)%s", id, c.Source.State, hint)
	case ChainNotWaited:
		return fmt.Sprintf("run %s, whose outputs feed this one, is %s and would not be waited for: queue the run after %s, not after %s", id, c.Source.State, id, c.After)
	case ChainOtherData:
		return fmt.Sprintf("run %s was trained on data %s, this one would be on %s: its outputs are of other samples", id, c.FromData, c.ToData)
	}
	return fmt.Sprintf("run %s cannot feed this one", id)
}

// CanChain says whether a new run may be fed by run id's outputs as the
// run stands (its data and queue are the new run's to match: CheckFrom),
// so that the workbench's chain (c) refuses at once a run that ended
// without them, instead of creating a run that fails when it starts.
func (e *Engine) CanChain(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.chainable(id)
}

// chainable is CanChain with e.mu held.
func (e *Engine) chainable(id string) error {
	r, ok := e.runs[id]
	if !ok {
		return fmt.Errorf("no run %q", id)
	}
	if !r.info.State.Active() && !r.training && !hasOutputs(e.st.runDir(id)) {
		return &ChainError{Problem: ChainNoOutputs, Source: r.info}
	}
	return nil
}

// hasOutputs says whether a run folder holds the outputs of a split.
func hasOutputs(runDir string) bool {
	for _, sp := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		if _, err := os.Stat(OutputsPath(runDir, sp)); err == nil {
			return true
		}
	}
	return false
}

// CheckFrom checks a prepared spec's sources (Spec.From) as Submit does:
// each must have outputs or be still to write them, on the spec's data
// (and synthetic size), and one still to finish must come before the
// run's After. Submit refuses such a run itself; the CLI asks first to
// word the refusal with its flags (errors.As a *ChainError).
func (e *Engine) CheckFrom(spec Spec) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.checkFrom(spec, nil, nil)
}

// checkFrom is CheckFrom with e.mu held. stages are the runs of the same
// SubmitChain call before this one (ids and their specs): they are not
// in e.runs yet, and their outputs are of their own data (not checked).
func (e *Engine) checkFrom(s Spec, ids []string, stages []Spec) error {
	for _, f := range s.From {
		if _, ok := e.runs[f]; ok && !contains(ids, f) {
			if err := e.chainable(f); err != nil {
				return err
			}
		}
	}
	for _, f := range s.From {
		r, ok := e.runs[f]
		if !ok || contains(ids, f) {
			continue
		}
		src := r.info.Spec
		from, to := dataOrSynth(src.Data), dataOrSynth(s.Data)
		if from == "synth" && to == "synth" && src.DataSize != "" { // a size stored (older runs may lack it)
			from, to = src.DataLabel(), s.DataLabel()
		}
		if from != to {
			return &ChainError{Problem: ChainOtherData, Source: r.info, FromData: from, ToData: to}
		}
	}
	if s.After == "" {
		return nil // Submit queues it after a source still to finish
	}
	for _, f := range s.From {
		r, ok := e.runs[f]
		if !ok || contains(ids, f) || !(r.training || r.info.State.Active()) {
			continue
		}
		waits := false // f is After, or a run After waits for, directly or not
		for id, n := s.After, 0; id != "" && n <= len(e.runs)+len(ids); n++ {
			if id == f {
				waits = true
				break
			}
			if k := slices.Index(ids, id); k >= 0 {
				id = stages[k].After
			} else if a, ok := e.runs[id]; ok {
				id = a.info.Spec.After
			} else {
				break
			}
		}
		if !waits {
			return &ChainError{Problem: ChainNotWaited, Source: r.info, After: s.After}
		}
	}
	return nil
}

// dataOrSynth is a spec's data, "synth" where it is left empty.
func dataOrSynth(data string) string {
	if data == "" {
		return "synth"
	}
	return data
}
