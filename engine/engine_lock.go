package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tryLock takes the run folder's lock file without waiting. The lock tells
// other poselab processes that this one owns the run; the kernel drops it
// when the process dies, which is how a restarted engine recognises runs
// that were interrupted.
func tryLock(dir string) (*os.File, bool) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		f, err = os.Open(path) // another user's lock file: flock works on a read-only descriptor too
	}
	if err != nil {
		// No lock file: a folder deleted meanwhile is free; one we may
		// not read (permissions) may hide a live owner, whose run must
		// not be taken for interrupted.
		return nil, errors.Is(err, fs.ErrNotExist)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	// The holder's pid, for the others to name it ("trained by poselab
	// process 4242"); the lock itself is the flock, not this text.
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, true
}

// lockSoonWait is how long lockSoon retries. A look takes an instant on
// an idle machine, but the watcher holds the lock through a read (and
// maybe a write) of the run store, and a loaded machine can stall it
// there well past the 80 ms lockSoon once waited: the resume or delete
// then failed, saying another process used the run. The price: one
// refused because another process does use the run is refused 2 s later.
const lockSoonWait = 2 * time.Second

// lockWaiting takes run r's folder lock for Resume, Extend or Delete,
// waiting for it (lockSoon) with e.mu released: the engine lock held
// through up to lockSoonWait would stall every run's steps and every
// viewer. Called and returns with e.mu held. r may have changed while it
// waited: it must still be listed, unlocked and idle here, and still as
// the caller wants it (still; doing names the caller's work for the
// error), else the lock goes back.
func (e *Engine) lockWaiting(r *run, doing string, still func() bool) (*os.File, error) {
	dir := e.st.runDir(r.info.Spec.ID)
	if f, ok := tryLock(dir); ok {
		return f, nil
	}
	e.mu.Unlock()
	f, ok := lockSoon(dir)
	e.mu.Lock()
	if !ok {
		return nil, fmt.Errorf("run %s is in use by another poselab process", r.info.Spec.ID)
	}
	if e.closing {
		// Closed meanwhile: its store is gone, and a run queued now would
		// neither train nor let go of this lock.
		unlock(f)
		return nil, fmt.Errorf("run %s: the engine closed", r.info.Spec.ID)
	}
	// One the watcher took for foreign meanwhile (another process
	// trained it) would be queued here and never start (scheduleLocked
	// skips foreign runs), its lock held; the watcher's next look, with
	// the lock free, settles what it is now.
	if r.info.Foreign {
		unlock(f)
		return nil, fmt.Errorf("run %s was used by another poselab process while this one waited for it: look again", r.info.Spec.ID)
	}
	if id := r.info.Spec.ID; e.runs[id] != r || r.lock != nil || r.training || !still() {
		unlock(f)
		return nil, fmt.Errorf("run %s changed while it was being %s (now %s): look again", id, doing, r.info.State)
	}
	return f, nil
}

// lockSoon is tryLock retried for a moment: a process watching the store
// holds a stopped run's lock for an instant to see whether its owner is
// gone (watch.go), and a resume must not fail on that.
func lockSoon(dir string) (*os.File, bool) {
	deadline := time.Now().Add(lockSoonWait)
	for {
		f, ok := tryLock(dir)
		if ok || time.Now().After(deadline) {
			return f, ok
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockOwner is the pid a run folder's lock file names (0: none).
func lockOwner(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

func unlock(f *os.File) {
	if f != nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
