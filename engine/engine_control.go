package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// setState changes a run's state, stores it and publishes the change.
// Called with e.mu held.
func (e *Engine) setState(r *run, to State, reason string) {
	from := r.info.State
	r.info.State, r.info.Reason = to, reason
	r.info.Updated = time.Now()
	if to == Queued && from != Queued {
		r.queuedNow()
	} else if to != Queued {
		e.unregisterWaiterLocked(r) // it no longer waits for the device
	}
	e.st.updateRun(r.info)
	if !to.Active() && !r.training {
		// The run no longer needs this process. Stored first: whoever
		// takes the lock next reads the final state, not an active one
		// it would take for an interrupted run.
		unlock(r.lock)
		r.lock = nil
	}
	e.emit(Event{Run: r.info.Spec.ID, Kind: EvState, State: &StateInfo{From: from, To: to, Reason: reason}})
}

// dropResourceLocked forgets the resource sample of a run's last session
// as it is queued for a new one (resumed, extended): until the new
// session takes its own, that one is not the run's use (it waits for a
// trainer, maybe for long), and within 15 s of it read as live, here and
// in the other processes, which read it from the store (cleared first:
// none of them sees the run queued with it).
// Stored also when this process has none: another may have stored it.
func (e *Engine) dropResourceLocked(r *run) {
	r.info.Resource, r.info.ResourceAt = nil, time.Time{}
	e.st.putResource(r.info.Spec.ID, nil, time.Time{})
}

func nudge(r *run) {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (e *Engine) get(id string) (*run, error) {
	r, ok := e.runs[id]
	if !ok {
		return nil, fmt.Errorf("no run %q", id)
	}
	if r.info.Foreign {
		// Any process can stop it now (a request the one training it
		// carries out): "there" sent users looking for that process.
		return nil, fmt.Errorf("run %s is trained by %s: stop it first (s in the workbench, or poselab runs stop %s)", id, r.owner(), id)
	}
	return r, nil
}

// owner names the process that trains a foreign run.
func (r *run) owner() string {
	if r.info.OwnerPID > 0 {
		return fmt.Sprintf("another poselab process (pid %d)", r.info.OwnerPID)
	}
	return "another poselab process"
}

// control returns a run to pause, resume or stop, or nil when it is a
// foreign one: then the request went to the process that trains it (its
// state event follows when that process has acted, within a few seconds).
func (e *Engine) control(id, action string) (*run, error) {
	r, ok := e.runs[id]
	if !ok {
		return nil, fmt.Errorf("no run %q", id)
	}
	if !r.info.Foreign {
		return r, nil
	}
	st := r.info.State
	switch {
	case action == reqPause && st == Paused, action == reqResume && (st == Running || st == Queued):
		return nil, nil // already so
	case action == reqPause && st != Running && st != Queued:
		return nil, fmt.Errorf("run %s is %s, not running", id, st)
	case action == reqResume && st != Paused:
		return nil, fmt.Errorf("run %s is %s and cannot be resumed", id, st)
	case action == reqStop && !st.Active():
		return nil, fmt.Errorf("run %s is already %s", id, st)
	}
	return nil, e.st.putRequest(id, action)
}

// Pause holds a running run at its next step (within a second); a queued
// run is held back from starting. A foreign run's process is asked to.
func (e *Engine) Pause(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.control(id, reqPause)
	if r == nil {
		return err
	}
	return e.pauseLocked(r)
}

func (e *Engine) pauseLocked(r *run) error {
	id := r.info.Spec.ID
	switch {
	case r.training:
		r.pauseReq, r.pauseBy = true, 0
		nudge(r)
	case r.info.State == Queued:
		e.setState(r, Paused, "paused before it started")
	case r.info.State == Paused:
	default:
		return fmt.Errorf("run %s is %s, not running", id, r.info.State)
	}
	return nil
}

// Resume continues a paused run, or queues a stopped (or interrupted, or
// failed) run to continue from its last checkpoint.
func (e *Engine) Resume(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.control(id, reqResume)
	if r == nil {
		return err
	}
	return e.resumeLocked(r)
}

func (e *Engine) resumeLocked(r *run) error {
	id := r.info.Spec.ID
	switch {
	case r.training:
		r.pauseReq = false
		nudge(r)
	case r.info.State == Paused:
		e.setState(r, Queued, "")
		e.scheduleLocked()
	case r.info.State == Stopped || r.info.State == Failed:
		if r.info.Spec.Model == "" { // listed from a folder whose config.toml did not parse
			return fmt.Errorf("run %s cannot be resumed: %s", id, r.info.Reason)
		}
		if err := e.resumableLocked(r); err != nil {
			return err
		}
		if r.lock == nil { // never so for a request (applyRequests): e.mu stays held there
			f, err := e.lockWaiting(r, "resumed", func() bool { return r.info.State == Stopped || r.info.State == Failed })
			if err != nil {
				return err
			}
			r.lock, r.lockedAt = f, unixSeconds(time.Now())
		}
		r.resume = true
		e.dropResourceLocked(r)
		e.setState(r, Queued, "resumed")
		e.scheduleLocked()
	case r.info.State == Queued:
	default:
		return fmt.Errorf("run %s is %s and cannot be resumed", id, r.info.State)
	}
	return nil
}

// Stop ends a run; a training run saves a checkpoint first (it can be
// resumed). Stop returns at once; the state event follows.
func (e *Engine) Stop(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.control(id, reqStop)
	if r == nil {
		return err
	}
	return e.stopLocked(r)
}

func (e *Engine) stopLocked(r *run) error {
	id := r.info.Spec.ID
	switch {
	case r.training:
		r.stopReq = true
		nudge(r)
	case r.info.State == Queued || r.info.State == Paused:
		e.setState(r, Stopped, "stopped before it started")
		e.scheduleLocked()
	default:
		return fmt.Errorf("run %s is already %s", id, r.info.State)
	}
	return nil
}

// Wait blocks until a run is no longer active (or the timeout passes) and
// returns its summary.
func (e *Engine) Wait(id string, timeout time.Duration) (RunInfo, error) {
	deadline := time.Now().Add(timeout)
	for {
		info, ok := e.Run(id)
		if !ok {
			return info, fmt.Errorf("no run %q", id)
		}
		if !info.State.Active() {
			// The run may have been deleted since e.Run read it.
			var done chan struct{}
			e.mu.Lock()
			if r := e.runs[id]; r != nil {
				done = r.done
			}
			e.mu.Unlock()
			if done != nil {
				<-done
			}
			last, ok := e.Run(id)
			if !ok {
				return info, fmt.Errorf("run %s was deleted", id)
			}
			return last, nil
		}
		if timeout > 0 && time.Now().After(deadline) {
			return info, fmt.Errorf("run %s still %s after %v", id, info.State, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Delete removes a run that is not active: its folder and its rows.
func (e *Engine) Delete(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.deletable(id)
	if err != nil {
		return err
	}
	if r.lock == nil {
		// Another process may have resumed it since this one last
		// looked (the watcher looks once a second, one-shot commands
		// never): its lock says so.
		f, err := e.lockWaiting(r, "deleted", func() bool { return !r.info.State.Active() })
		if err != nil {
			return err
		}
		defer unlock(f)
	}
	if err := e.st.deleteRun(id); err != nil {
		return err
	}
	e.forget(id)
	return nil
}

// CanDelete says whether Delete would take run id as it stands, with
// Delete's reason when not, so that the workbench refuses an active run
// at d instead of after asking whether to delete it. Delete may still
// refuse: another process may take the run in between.
func (e *Engine) CanDelete(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, err := e.deletable(id)
	return err
}

// deletable is CanDelete with e.mu held: the run, when Delete may take it.
func (e *Engine) deletable(id string) (*run, error) {
	r, err := e.get(id)
	if err != nil {
		return nil, err
	}
	if r.training || r.info.State.Active() {
		return nil, fmt.Errorf("run %s is %s: stop it first", id, r.info.State)
	}
	return r, nil
}

// resumableLocked refuses to resume a run whose last checkpoint is gone
// while its best one is there: it would start again from step 0 and, at
// its first validation, write that epoch's weights over the best ones
// (seen: a run stopped at step 3200 resumed from 0 and replaced a 103.8 mm
// best.ckpt by a 207 mm one). Without either it starts again, and says so.
func (e *Engine) resumableLocked(r *run) error {
	dir := e.st.runDir(r.info.Spec.ID)
	last, best := CkptPath(dir, "last"), CkptPath(dir, "best")
	if _, err := os.Stat(last); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(best); err != nil {
		return nil
	}
	return fmt.Errorf("run %s cannot be resumed where it stopped (step %d): its checkpoint %s is missing; its best weights %s are kept: train a new run with --init %s to go on from them",
		r.info.Spec.ID, r.info.Step, last, best, r.info.Spec.ID)
}
