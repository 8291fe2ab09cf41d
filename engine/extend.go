package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"poselab/checkpoints"
)

// Extend lets a run train on past the end it was given: a finished run
// that was still improving, or one that patience ended too soon. Its spec
// (config.toml) takes the new epoch count and patience (epochs 0 and
// patience < 0 keep them), and it resumes from its last checkpoint, as a
// stopped run does, to the same curves as a run given that many epochs
// at the start, but for the schedule: a cosine schedule keeps the length
// it was trained to (its remaining steps train at min_lr), so that the
// learning rate does not jump back up.
func (e *Engine) Extend(id string, epochs, patience int) error {
	if err := e.lastCkptErr(id); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.extendable(id); err != nil {
		return err
	}
	r := e.runs[id]
	info := r.info
	switch {
	case epochs == 0 && patience < 0:
		return fmt.Errorf("extend run %s: give more epochs or another patience", id)
	case epochs != 0 && epochs <= info.Epoch:
		return fmt.Errorf("run %s has trained %s: give more than that (got %d)", id, epochsText(info.Epoch), epochs)
	}
	// A cosine schedule's length came from the run's when it started (the
	// run's spec holds it since, see loadRun and setup): written as it is,
	// it stays, and the new length does not stretch the curve under the
	// steps already trained.
	spec := info.Spec
	if epochs != 0 {
		spec.Epochs = epochs
	}
	if patience >= 0 {
		spec.Patience = patience
	}
	if info.State == Finished && spec.Epochs <= info.Epoch {
		// A new patience alone gives it no epoch to train: it would only
		// be queued to write the same outputs again.
		// Said without a flag: the workbench's extend form shows it too.
		return fmt.Errorf("run %s finished its %s: a new patience alone trains none; give it more epochs in all", id, epochsText(info.Epoch))
	}
	if early := info.State == Finished && info.Epoch < info.Spec.Epochs && info.Spec.Patience > 0; early && spec.Patience > 0 && spec.Patience <= info.Spec.Patience {
		// Patience ended it: its best is already that many epochs old and
		// the count goes on from the same best epoch, so it would train one
		// epoch (or as many as keep improving) and end again, not to N.
		return fmt.Errorf("patience %d ended run %s at epoch %d: with it kept, it ends again after the next epoch that does not improve; give --patience 0 (every epoch) or more than %d", info.Spec.Patience, id, info.Epoch, info.Spec.Patience)
	}
	// A finished run whose data folder is gone (moved, not mounted) would
	// fail when the extension starts: out of the report, its config.toml
	// at epochs it never trained. Opening a folder only looks at it (the
	// synthetic set, which cannot go missing, is built: left to the run).
	if spec.Data != "" && spec.Data != "synth" {
		if _, err := e.dataset(spec); err != nil {
			return fmt.Errorf("extend run %s: %w", id, err)
		}
	}
	took := r.lock == nil
	if took {
		// Its step too: a run another process extended meanwhile keeps
		// its state (finished again) but not the epochs checked above.
		f, err := e.lockWaiting(r, "extended", func() bool { return r.info.State == info.State && r.info.Step == info.Step })
		if err != nil {
			return err
		}
		// What this process knows of the run may be up to a watcher's look
		// old: another process may have extended (and trained) it since.
		// Its folder is ours now, so the store says how it stands.
		if fresh, err := e.st.loadRun(id); err == nil && (fresh.Step != info.Step || fresh.Spec.Epochs != info.Spec.Epochs) {
			unlock(f)
			return fmt.Errorf("run %s changed in another poselab process (now step %d of %d epochs): look again", id, fresh.Step, fresh.Spec.Epochs)
		}
		r.lock, r.lockedAt = f, unixSeconds(time.Now())
	}
	if err := e.st.writeSpec(spec); err != nil {
		if took { // taken above for this: let it go
			unlock(r.lock)
			r.lock = nil
		}
		return fmt.Errorf("extend run %s: %w", id, err)
	}
	r.info.Spec = spec
	if r.info.StepsPerEpoch > 0 {
		r.info.TotalSteps = spec.Epochs * r.info.StepsPerEpoch
	}
	r.resume = true
	e.dropResourceLocked(r)
	why := "extended to " + epochsText(spec.Epochs)
	if spec.Patience > 0 {
		why += fmt.Sprintf(", patience %d", spec.Patience)
	}
	e.setState(r, Queued, why)
	e.scheduleLocked()
	return nil
}

// epochsText counts epochs for messages: "1 epoch", not "1 epochs".
func epochsText(n int) string {
	if n == 1 {
		return "1 epoch"
	}
	return fmt.Sprintf("%d epochs", n)
}

// CanExtend says whether Extend could take run id whatever epochs and
// patience it is given, so that the workbench refuses before asking for
// them (it asked, then said the run's outputs had trained a later stage).
func (e *Engine) CanExtend(id string) error {
	e.mu.Lock()
	err := e.extendable(id)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	// Extend refuses a corrupt last.ckpt: the form asked for epochs,
	// then said so (and runs resume offered resume --epochs).
	return e.lastCkptErr(id)
}

// lastCkptErr refuses run id's last checkpoint when it is corrupt (none
// is not refused here): the extension would fail only when it starts,
// after config.toml took the new epochs and a finished run became failed
// (out of the report). Read without e.mu: the file can be hundreds of MB.
func (e *Engine) lastCkptErr(id string) error {
	if err := checkpoints.Verify(CkptPath(e.st.runDir(id), "last")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("run %s cannot be extended: %w", id, err)
	}
	return nil
}

// extendable is CanExtend with e.mu held.
func (e *Engine) extendable(id string) error {
	r, ok := e.runs[id]
	if !ok {
		return fmt.Errorf("no run %q", id)
	}
	info := r.info
	switch {
	case info.Foreign:
		return fmt.Errorf("run %s is trained by %s: extend it there once it has ended", id, info.Owner())
	case r.training || info.State.Active():
		return fmt.Errorf("run %s is %s: extend a finished or stopped run", id, info.State)
	case info.Spec.Model == "": // listed from a folder whose config.toml did not parse
		return fmt.Errorf("run %s cannot be extended: %s", id, info.Reason)
	}
	if info.State == Finished {
		// A finished run wrote one at its last epoch; without it the run
		// would start again from scratch (as one never checkpointed does)
		// and overwrite the curves it trained.
		if _, err := os.Stat(CkptPath(e.st.runDir(id), "last")); err != nil {
			return fmt.Errorf("run %s cannot be extended: its last checkpoint is gone (%v)", id, err)
		}
	}
	// A later run that has trained on its outputs (Spec.From) would keep
	// results from the old ones while the extension writes new ones: a
	// report would combine the two. One that has not started yet reads
	// the new ones (it waits for this run to finish again).
	for _, oid := range e.order {
		o := e.runs[oid]
		if o == nil || !contains(o.info.Spec.From, id) {
			continue
		}
		if o.training || o.info.Step > 0 || o.info.State == Running || o.info.State == Finished {
			return fmt.Errorf("run %s (%s) trained on run %s's outputs: extending it would change them under its results; train the chain again instead", oid, o.info.State, id)
		}
	}
	return nil
}
