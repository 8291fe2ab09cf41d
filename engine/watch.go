package engine

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Several poselab processes may share a runs directory: `poselab train`
// started under nohup, the workbench opened later to watch it, an SSH
// server, `poselab runs pause` from a script. Each process trains the runs
// it holds the lock of; every engine looks at the run store every
// Options.WatchEvery and
//   - lists the runs other processes created, and forgets the ones they
//     deleted;
//   - publishes the steps, validations, resource samples and state changes
//     of the runs other processes train (foreign runs) as events, as if it
//     trained them, so that its viewers draw them live;
//   - takes over a foreign run whose process ended without saying so
//     (killed): it becomes stopped, and can be resumed here;
//   - applies the pause, resume and stop requests other processes stored
//     for the runs it trains.

// following is what has been published of a foreign run.
type following struct {
	updated float64 // its row's update time when last read (Unix seconds)
	step    int     // last stored step published (0-based, -1: none)
	stepAt  float64 // time of the last step event published
	epochAt float64 // store time of the last validation published
	resAt   float64 // time of the last resource sample published (0: none)
}

// requestTTL is how long a request waits for a process to take it: one
// for a run nobody trains any more is dropped after it (a var for tests).
var requestTTL = time.Minute

// markForeign notes that another process trains the run; what the store
// holds of it now is history (viewers read it from the store), the
// watcher publishes what comes after.
func (r *run) markForeign(st *store) {
	id := r.info.Spec.ID
	r.info.Foreign = true
	r.info.OwnerPID = lockOwner(st.runDir(id))
	r.info.ETA = foreignETA(r.info)
	r.follow = following{updated: unixSeconds(r.info.Updated), step: -1}
	if n, at, err := st.lastStep(id); err == nil {
		r.follow.step, r.follow.stepAt = n, at
	}
	if at, err := st.lastEpochTime(id); err == nil {
		r.follow.epochAt = at
	}
}

// ReasonInterrupted is the reason of a run that was taken over as
// stopped because the process that trained it ended without saying so.
const ReasonInterrupted = "interrupted: the process running it ended; resume continues from the last checkpoint"

// claim settles who has an active run that this engine does not train: if
// its lock is free, the process that had it ended without storing an end
// (killed, or the machine rebooted): the run becomes stopped, as
// interrupted, and can be resumed here. Otherwise it is foreign. It
// returns whether the run changed state.
func (e *Engine) claim(r *run) bool {
	id := r.info.Spec.ID
	f, ok := tryLock(e.st.runDir(id))
	if !ok {
		r.markForeign(e.st)
		return false
	}
	defer unlock(f)
	// Read again under the lock: a process that ended cleanly stored its
	// final state before it let go of the run.
	fresh := r.info
	e.st.rereadSpec(&fresh)
	if err := e.st.readRun(&fresh); err == nil {
		r.info = fresh
	}
	r.info.Foreign, r.info.OwnerPID, r.info.ETA = false, 0, 0
	if !r.info.State.Active() {
		return false
	}
	r.info.State, r.info.Reason = Stopped, ReasonInterrupted
	e.st.updateRun(r.info)
	return true
}

func (e *Engine) watch() {
	defer close(e.watchDone)
	t := time.NewTicker(e.opt.WatchEvery)
	defer t.Stop()
	for {
		select {
		case <-e.quit:
			return
		case <-t.C:
			// A failed look (the database busy past its timeout) is
			// retried at the next tick.
			e.applyRequests()
			e.watchStore()
			e.touchWaiters()
		}
	}
}

// applyRequests carries out the requests stored for the runs this engine
// trains or holds queued.
func (e *Engine) applyRequests() {
	reqs, err := e.st.requests()
	if err != nil || len(reqs) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return
	}
	for _, q := range reqs {
		r, ok := e.runs[q.Run]
		if !ok || r.info.Foreign || (r.lock == nil && !r.training) {
			// Not this process's to carry out. A foreign run's process
			// holds its lock: only slow (SIGSTOPped, swapping), it takes
			// the request when it next looks, as runs pause|stop tell a
			// user they timed out waiting for it; dropping it here after
			// the TTL broke that.
			if !(ok && r.info.Foreign) && time.Since(fromUnix(q.At)) > requestTTL { // nobody trains it any more
				e.st.dropRequest(q)
			}
			continue
		}
		if q.At < r.lockedAt {
			// Asked of the process that had the run before this one
			// took it (it died before it looked): not of this session.
			e.st.dropRequest(q)
			continue
		}
		switch q.Action {
		case reqPause:
			if err = e.pauseLocked(r); err == nil && r.training {
				r.pauseBy = q.PID
			}
		case reqResume:
			err = e.resumeLocked(r)
		case reqStop:
			if err = e.stopLocked(r); err == nil && r.training {
				r.stopBy = q.PID
			}
		default:
			err = fmt.Errorf("unknown request %q", q.Action)
		}
		msg := fmt.Sprintf("%s asked by poselab process %d", q.Action, q.PID)
		if err != nil {
			msg += ": " + err.Error()
		}
		e.emit(Event{Run: q.Run, Kind: EvLog, Log: msg})
		e.st.dropRequest(q)
	}
}

// watchStore lists the runs other processes created or deleted and
// publishes what the foreign runs did since the last look.
func (e *Engine) watchStore() {
	rows, err := e.st.runUpdates()
	if err != nil {
		return
	}
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return
	}
	var added []string
	for id := range rows {
		if _, ok := e.runs[id]; !ok {
			added = append(added, id)
		}
	}
	var follow, recheck []*run
	for _, id := range append([]string(nil), e.order...) {
		r := e.runs[id]
		if r.info.Foreign {
			follow = append(follow, r)
			continue
		}
		if r.lock != nil || r.training {
			continue
		}
		if at, ok := rows[id]; ok {
			// Nobody trains it here, but another process may have
			// resumed it (or taken it over) since: its row tells.
			if at != r.rowAt {
				recheck = append(recheck, r)
			}
			continue
		}
		// No row: deleted by another process if its folder went too (a
		// folder without a row is listed, as stopped).
		if _, err := os.Stat(filepath.Join(e.st.runDir(id), "config.toml")); os.IsNotExist(err) {
			e.forget(id)
		}
	}
	e.mu.Unlock()

	sort.Strings(added) // ids hold the model and the second they were made
	for _, id := range added {
		e.adopt(id)
	}
	for _, r := range recheck {
		e.recheck(r, rows[r.info.Spec.ID])
	}
	for _, r := range follow {
		e.follow(r)
	}
}

// recheck reads again the row of a run that nobody trains here and that
// another process changed (at: the row's update time). One it resumed is
// foreign from now on: followed, and not deleted or resumed here.
func (e *Engine) recheck(r *run, at float64) {
	e.mu.Lock()
	id, prev := r.info.Spec.ID, r.info
	e.mu.Unlock()
	info, err := e.st.loadRun(id) // as Open reads it: an unreadable spec stays failed
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runs[id] != r || r.info.Foreign || r.lock != nil || r.training || e.closing {
		return // deleted, followed, resumed or taken here meanwhile
	}
	r.rowAt = at
	if info.State.Active() {
		// claim reads the row under the lock when it is free (its
		// process died), and otherwise leaves r.info as it was: the
		// watcher's next look at the foreign run publishes the change.
		if e.claim(r) && (r.info.State != prev.State || r.info.Reason != prev.Reason) {
			e.emit(Event{Run: id, Kind: EvState, State: &StateInfo{From: prev.State, To: r.info.State, Reason: r.info.Reason}})
		}
		if r.info.Foreign {
			// Its viewers have its history up to when it stopped (not up
			// to now, as for a run first seen foreign): publish what it
			// stored since, at the next look.
			at := unixSeconds(prev.Updated)
			r.follow = following{updated: at, step: prev.Step - 1, stepAt: at, epochAt: at}
		}
		return
	}
	r.info = info
	if info.State != prev.State || info.Reason != prev.Reason {
		e.hub.publish(Event{Run: id, Kind: EvState, State: &StateInfo{From: prev.State, To: info.State, Reason: info.Reason}})
	}
}

// forget drops a deleted run (here or by another process). Called with
// e.mu held.
func (e *Engine) forget(id string) {
	delete(e.runs, id)
	for i, x := range e.order {
		if x == id {
			e.order = append(e.order[:i], e.order[i+1:]...)
			break
		}
	}
	e.scheduleLocked() // runs queued after it can no longer start: they fail now
}

// adopt lists a run another process created.
func (e *Engine) adopt(id string) {
	info, err := e.st.loadRun(id)
	if err != nil {
		return
	}
	// Deleted since its id was read (by this process too): its folder
	// is gone. A run being made has its config.toml before its row.
	if _, err := os.Stat(filepath.Join(e.st.runDir(id), "config.toml")); os.IsNotExist(err) {
		return
	}
	r := &run{info: info, wake: make(chan struct{}, 1)}
	if info.State.Active() {
		e.claim(r)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.runs[id]; ok || e.closing {
		return
	}
	e.runs[id] = r
	e.order = append(e.order, id)
	sp := r.info.Spec
	e.hub.publish(Event{Run: id, Kind: EvState, State: &StateInfo{To: r.info.State, Reason: r.info.Reason}, Spec: &sp})
}

// follow publishes what a foreign run did since the last look, as the
// events its own process published: its steps (thinned like live ones),
// validations and state changes. They are not written to the run's log:
// its process does that.
func (e *Engine) follow(r *run) {
	e.mu.Lock()
	id, prev, fw := r.info.Spec.ID, r.info, r.follow
	e.mu.Unlock()
	freed := false
	if f, ok := tryLock(e.st.runDir(id)); ok { // its process let go of it, or ended
		unlock(f)
		freed = true
	}
	info := prev
	e.st.rereadSpec(&info) // it may have been extended there
	if err := e.st.readRun(&info); err != nil {
		return
	}
	// Its process stores a resource sample every few seconds without
	// touching the row's update time (which dates its ETA).
	resAt := unixSeconds(info.ResourceAt)
	changed := unixSeconds(info.Updated) != fw.updated || resAt != fw.resAt
	if !changed && !freed {
		return
	}
	fw.updated = unixSeconds(info.Updated)
	owner := prev.OwnerPID
	if pid := lockOwner(e.st.runDir(id)); pid > 0 && !freed {
		// Another process may have taken it over and resumed it since
		// the last look (its process killed, poselab resume at once).
		owner = pid
	}
	// The row counts the steps done: stored rows above it are new ones
	// its row does not tell yet (next look), or old ones of a run that
	// went back to a checkpoint (resumed after it was killed, or after
	// it diverged), which it trains again, replacing them.
	hi := info.Step - 1
	var steps []StepPoint
	var err error
	if !info.Started.Equal(prev.Started) || hi < fw.step || info.State != prev.State {
		// It may have gone back (a new session, a step count lower
		// than published, a resume): publish what was stored since the
		// last look, from the step it went back to; the viewers rewind.
		steps, err = e.st.stepsRewritten(id, fw.stepAt, hi)
		fw.step = min(fw.step, hi)
	} else {
		steps, err = e.st.stepsBetween(id, fw.step, hi)
	}
	if err != nil {
		return
	}
	var evs []Event
	if resAt != fw.resAt {
		fw.resAt = resAt
		// Not one of an earlier session, nor of a run paused a while ago
		// (the first look at a run finds the last sample, however old):
		// the viewers show a sample as the run's memory and pace now.
		// First: the step lines of runs watch carry the newest one.
		if info.ResourceLive(time.Now()) {
			evs = append(evs, Event{Run: id, Time: info.ResourceAt, Kind: EvResource, Res: info.Resource})
		}
	}
	thin := e.opt.StepEvery.Seconds()
	for i, p := range steps {
		// Thinned like live steps; kept: the newest, and the one a run
		// went back to (where the viewers rewind to).
		if i < len(steps)-1 && !(i == 0 && p.Step <= fw.step) && p.Time-fw.stepAt < thin {
			continue
		}
		at := time.Now()
		if p.Time > 0 {
			at = fromUnix(p.Time)
			fw.stepAt = p.Time
		}
		evs = append(evs, Event{Run: id, Time: at, Kind: EvStep, Step: &StepInfo{Step: p.Step + 1, Epoch: p.Epoch, Loss: p.Loss,
			LR: p.LR, SamplesPerSec: info.SamplesPerSec, ETASeconds: foreignETA(info).Seconds(), TotalSteps: info.TotalSteps}})
	}
	if n := len(steps); n > 0 {
		fw.step = steps[n-1].Step
	}
	eps, times, err := e.st.epochsSince(id, fw.epochAt)
	if err != nil {
		return
	}
	if n := len(eps); n > 0 {
		fw.epochAt = times[n-1]
		for _, t := range times {
			fw.epochAt = math.Max(fw.epochAt, t)
		}
		if samples, epoch, err := e.st.samples(id); err == nil && epoch == eps[n-1].Epoch {
			eps[n-1].Samples = samples
		}
		for i := range eps {
			evs = append(evs, Event{Run: id, Time: fromUnix(times[i]), Kind: EvEpoch, Epoch: &eps[i]})
		}
	}
	if info.State != prev.State || info.Reason != prev.Reason {
		evs = append(evs, Event{Run: id, Kind: EvState, State: &StateInfo{From: prev.State, To: info.State, Reason: info.Reason}})
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runs[id] != r || !r.info.Foreign || e.closing {
		return // deleted, or taken over, meanwhile
	}
	info.Foreign, info.OwnerPID, info.ETA = true, owner, foreignETA(info)
	r.info, r.follow = info, fw
	for _, ev := range evs {
		e.hub.publish(ev)
	}
	if freed {
		from := r.info.State
		if e.claim(r) {
			e.emit(Event{Run: id, Kind: EvState, State: &StateInfo{From: from, To: r.info.State, Reason: r.info.Reason}})
		}
		if !r.info.Foreign {
			e.scheduleLocked() // runs queued here after it may start now
		}
	}
}

// foreignETA is a foreign run's time left: what its process stored (its
// info.ETA as readRun read it, as of info.Updated), counted down since;
// else, from a process of a poselab that did not store it, at the
// training pace it stored (which leaves validations out: short).
func foreignETA(info RunInfo) time.Duration {
	if info.State != Running || info.TotalSteps <= info.Step {
		return 0
	}
	if info.ETA > 0 {
		return max(info.ETA-time.Since(info.Updated), time.Second)
	}
	if !(info.SamplesPerSec > 0) || info.Spec.Batch <= 0 {
		return 0
	}
	s := float64(info.TotalSteps-info.Step) * float64(info.Spec.Batch) / info.SamplesPerSec
	return time.Duration(s * float64(time.Second))
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
