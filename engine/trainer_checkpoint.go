package engine

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"

	"poselab/checkpoints"
	"poselab/internal/atomicfile"
	"poselab/nn"
)

// Checkpoint file names inside runs/<id>/checkpoints/.
const (
	LastCkpt = "last.ckpt"
	BestCkpt = "best.ckpt"
)

// CkptPath is the path of a run's checkpoint ("last" or "best").
func CkptPath(runDir, which string) string {
	return filepath.Join(runDir, "checkpoints", which+".ckpt")
}

func (s *session) loadCheckpoint(path string, g *nn.Graph) error {
	s.dropPending() // the task's state is about to change under it
	c, err := checkpoints.Load(path)
	if err != nil {
		return err
	}
	if err := c.Matches(s.spec.Model, s.hash, g); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := s.prog.SetState(c.State); err != nil {
		return err
	}
	if err := s.task.SetState(c.Task); err != nil {
		return err
	}
	s.step, s.epoch, s.pos, s.best = c.Step, c.Epoch, c.Pos, c.BestScore
	// Patience counts from the best epoch; a checkpoint written before it
	// was saved counts from the epoch it resumes after.
	s.bestEpoch = c.Epoch - 1
	if v, err := strconv.Atoi(c.Meta["best_epoch"]); err == nil {
		s.bestEpoch = v
	}
	if v, ok := c.Meta["last_val"]; ok {
		json.Unmarshal([]byte(v), &s.lastVal)
	}
	// The steps of the current epoch trained before the checkpoint count
	// in its mean training loss, as in an uninterrupted run (checkpoints
	// written before this was saved start the sum afresh).
	s.epochLossSum, s.epochLossN = 0, 0
	if v, ok := c.Meta["epoch_loss"]; ok {
		var el struct {
			Sum float64 `json:"sum"`
			N   int     `json:"n"`
		}
		if err := json.Unmarshal([]byte(v), &el); err != nil {
			return fmt.Errorf("%s: epoch_loss: %w", path, err)
		}
		s.epochLossSum, s.epochLossN = el.Sum, el.N
	}
	if s.step != s.epoch*s.spe+s.pos {
		return fmt.Errorf("%s: step %d does not match epoch %d position %d at %d steps per epoch", path, s.step, s.epoch, s.pos, s.spe)
	}
	return nil
}

// saveCheckpoint writes `last` (and `best`) atomically. Weights that are
// no longer finite are not written (they would replace the last good
// checkpoint, the one a diverged run goes back to): the run diverges.
func (s *session) saveCheckpoint(best bool) error {
	st, err := s.prog.State()
	if err != nil {
		return err
	}
	return s.saveState(st, best)
}

// saveState is saveCheckpoint of a state already read from the program.
func (s *session) saveState(st *nn.State, best bool) error {
	s.flushSteps() // the store holds every step up to the checkpoint
	if name := nonFiniteTensor(st); name != "" {
		s.divergeWith(fmt.Sprintf("diverged: %s is not finite at step %d; resume restarts from the last checkpoint", name, s.step))
		return nil
	}
	sj, _ := json.Marshal(s.sched)
	lv, _ := json.Marshal(nanToNull(s.lastVal))
	// JSON writes a float64 so that it reads back bit for bit: a resumed
	// epoch's mean training loss equals the uninterrupted one.
	meta := map[string]string{"schedule": string(sj), "last_val": string(lv), "run": s.spec.ID, "best_epoch": strconv.Itoa(s.bestEpoch)}
	if el, err := json.Marshal(map[string]any{"sum": s.epochLossSum, "n": s.epochLossN}); err == nil {
		meta["epoch_loss"] = string(el)
	}
	c := &checkpoints.Checkpoint{Model: s.spec.Model, ConfigHash: s.hash, Step: s.step, Epoch: s.epoch, Pos: s.pos,
		Seed: s.spec.Seed, BestScore: s.best, Meta: meta, State: st, Task: s.task.State()}
	b, err := checkpoints.Encode(c)
	if err != nil {
		return err
	}
	// `best` first: a `last` that records a best score must find its
	// weights in `best` (a resume trusts the score and finish reads the
	// file). When `last` fails after it, the resumed run repeats the
	// epoch and writes the same `best` again.
	if best {
		bp := CkptPath(s.dir, "best")
		if err := atomicfile.Write(bp, b); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		s.publish(Event{Kind: EvCheckpoint, Ckpt: &CkptInfo{Path: bp, Step: s.step, Epoch: s.epoch, Best: true}})
	}
	path := CkptPath(s.dir, "last")
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	s.publish(Event{Kind: EvCheckpoint, Ckpt: &CkptInfo{Path: path, Step: s.step, Epoch: s.epoch}})
	return nil
}
