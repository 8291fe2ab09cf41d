package engine

import (
	"fmt"
	"math"
)

// Schedule is a learning-rate schedule as a pure function of the step, so
// that a viewer can draw its future. It is plain data (stored in a run's
// config) and every field has a TOML name.
type Schedule struct {
	Kind          string  `toml:"kind" json:"kind"`                                     // "constant", "step", "exp", "cosine"
	BaseLR        float64 `toml:"base_lr" json:"base_lr"`                               // learning rate at step 0 (after warm-up)
	StepsPerEpoch int     `toml:"steps_per_epoch" json:"steps_per_epoch"`               // for epoch milestones
	Milestones    []int   `toml:"milestones,omitempty" json:"milestones,omitempty"`     // "step": epochs after which lr *= Gamma
	Gamma         float64 `toml:"gamma,omitempty" json:"gamma,omitempty"`               // "step" and "exp" factor
	DecaySteps    int     `toml:"decay_steps,omitempty" json:"decay_steps,omitempty"`   // "exp": lr *= Gamma every DecaySteps steps
	Staircase     bool    `toml:"staircase,omitempty" json:"staircase,omitempty"`       // "exp": discrete (true) or continuous decay
	WarmupSteps   int     `toml:"warmup_steps,omitempty" json:"warmup_steps,omitempty"` // "cosine": linear warm-up
	TotalSteps    int     `toml:"total_steps,omitempty" json:"total_steps,omitempty"`   // "cosine": end of the cosine
	MinLR         float64 `toml:"min_lr,omitempty" json:"min_lr,omitempty"`             // "cosine": floor
}

// MaxBaseLR is the largest base learning rate the new-run form and the
// --lr flags take: beyond it a run only diverges (a typo, 30 for 3e-4).
const MaxBaseLR = 10

// LR returns the learning rate used at (0-based) step.
func (s Schedule) LR(step int) float64 {
	switch s.Kind {
	case "step":
		lr := s.BaseLR
		if s.StepsPerEpoch > 0 {
			epoch := step / s.StepsPerEpoch
			for _, m := range s.Milestones {
				if epoch >= m {
					lr *= s.Gamma
				}
			}
		}
		return lr
	case "exp":
		if s.DecaySteps <= 0 {
			return s.BaseLR
		}
		e := float64(step) / float64(s.DecaySteps)
		if s.Staircase {
			e = math.Floor(e)
		}
		return s.BaseLR * math.Pow(s.Gamma, e)
	case "cosine":
		if step < s.WarmupSteps {
			return s.BaseLR * float64(step+1) / float64(s.WarmupSteps)
		}
		span := s.TotalSteps - s.WarmupSteps
		if span <= 0 {
			return s.BaseLR
		}
		t := math.Min(1, float64(step-s.WarmupSteps)/float64(span))
		return s.MinLR + (s.BaseLR-s.MinLR)*0.5*(1+math.Cos(math.Pi*t))
	default:
		return s.BaseLR
	}
}

// Validate reports a schedule that cannot work.
func (s Schedule) Validate() error {
	if !(s.BaseLR > 0) || math.IsInf(s.BaseLR, 0) {
		return fmt.Errorf("schedule: learning rate must be positive, got %g", s.BaseLR)
	}
	switch s.Kind {
	case "constant", "":
	case "step":
		if s.StepsPerEpoch <= 0 || !finitePositive(s.Gamma) {
			return fmt.Errorf("schedule step: need steps_per_epoch > 0 and gamma > 0, got %d and %g", s.StepsPerEpoch, s.Gamma)
		}
	case "exp":
		if s.DecaySteps <= 0 || !finitePositive(s.Gamma) {
			return fmt.Errorf("schedule exp: need decay_steps > 0 and gamma > 0, got %d and %g", s.DecaySteps, s.Gamma)
		}
	case "cosine":
		if s.WarmupSteps < 0 {
			return fmt.Errorf("schedule cosine: warmup_steps must be >= 0, got %d", s.WarmupSteps)
		}
		if s.TotalSteps <= s.WarmupSteps {
			return fmt.Errorf("schedule cosine: total_steps must exceed warmup_steps")
		}
		// a negative floor would end the run with a negative rate (gradient ascent)
		if !(s.MinLR >= 0) || math.IsInf(s.MinLR, 0) {
			return fmt.Errorf("schedule cosine: min_lr must be >= 0, got %g", s.MinLR)
		}
	default:
		return fmt.Errorf("schedule: unknown kind %q (constant, step, exp, cosine)", s.Kind)
	}
	return nil
}

func finitePositive(x float64) bool { return x > 0 && !math.IsInf(x, 0) }
