package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// First come, first served per device across processes. A run that ended
// hands its trainer slot to its own process's next run at once, before
// another process's look once a second: a grid in one process kept the
// device until its last run, and a run queued in another process earlier
// than most of the grid waited for all of it. So a process's next run for
// a device that cannot have (or may not take) the device's slot says so in
// <runs>/.trainers/<pid>-<run id>.wait, a file it holds a flock on, and
// before a run takes a slot it yields to any live waiter of another
// engine for the same device that was queued before it.
//
// "Before" is a strict total order: the time the run was last queued
// (submitted, resumed, extended, unpaused before it started), then the
// pid, then the run id. The oldest waiter never yields, so two processes
// cannot wait for each other. Within a process the queue order stays the
// engine's: only its first ready run per device registers and compares.
// A killed process's flocks go with it: its files are stale, ignored and
// removed by whoever sees them. A stopped one's (Ctrl-Z) stay: its watcher
// refreshes them, and those not refreshed for waiterStaleAfter are
// passed over.

// waitSuffix ends a waiter file's name; one being written ends otherwise,
// so that nobody reads it before it is locked.
const waitSuffix = ".wait"

// waiterStaleAfter is how long a waiter file counts without its process
// refreshing it (its watcher does, every WatchEvery).
var waiterStaleAfter = 10 * time.Second

// touchWaiters says this engine's waiting runs still wait: a process
// stopped with Ctrl-Z holds its flocks, and its runs must not keep the
// others' from a free device.
func (e *Engine) touchWaiters() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	for _, w := range e.waiting {
		os.Chtimes(w.path, now, now)
	}
}

// waiter is what a waiter file says.
type waiter struct {
	dev      string // slot key of the device (slotDevice)
	queued   int64  // Unix nanoseconds the run was queued
	pid      int
	id, name string
}

// before is the order in which waiters get a device.
func (w waiter) before(o waiter) bool {
	if w.queued != o.queued {
		return w.queued < o.queued
	}
	if w.pid != o.pid {
		return w.pid < o.pid
	}
	return w.id < o.id
}

// waiterOf is r's entry as it would be written.
func waiterOf(r *run, dev string) waiter {
	return waiter{dev: dev, queued: r.queuedAt.UnixNano(), pid: os.Getpid(), id: r.info.Spec.ID, name: r.info.Spec.Name}
}

// registerWaiterLocked makes r known as the next run of this engine for
// device dev. Best effort: where the file cannot be written, the others
// do not yield to r (it still gets the slot when it is free).
func (e *Engine) registerWaiterLocked(r *run, dev string) {
	id := r.info.Spec.ID
	if w, ok := e.waiting[id]; ok {
		if w.dev == dev && w.queued == r.queuedAt.UnixNano() {
			return
		}
		e.unregisterWaiterLocked(r) // queued again, or for another device
	}
	dir := filepath.Join(e.opt.RunsDir, slotDir)
	if os.MkdirAll(dir, 0o755) != nil {
		return
	}
	path := filepath.Join(dir, fmt.Sprintf("%d-%s%s", os.Getpid(), id, waitSuffix))
	tmp := strings.TrimSuffix(path, waitSuffix) + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o644)
	if err != nil {
		return
	}
	w := waiterOf(r, dev)
	oneLine := strings.NewReplacer("\n", " ", "\r", " ")
	// Locked before it has its name: a file found under it unlocked is
	// a dead process's.
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil ||
		func() error {
			_, err := fmt.Fprintf(f, "%s\n%d\n%d\n%s\n%s\n", w.dev, w.queued, w.pid, w.id, oneLine.Replace(w.name))
			return err
		}() != nil || os.Rename(tmp, path) != nil {
		f.Close()
		os.Remove(tmp)
		return
	}
	e.waiting[id] = waitEntry{f: f, path: path, dev: dev, queued: w.queued}
}

// waitEntry is a waiter file this engine holds.
type waitEntry struct {
	f      *os.File
	path   string
	dev    string
	queued int64
}

// unregisterWaiterLocked removes r's waiter file: it trains, is no
// longer queued, or its engine closes.
func (e *Engine) unregisterWaiterLocked(r *run) {
	e.unregisterIDLocked(r.info.Spec.ID)
}

func (e *Engine) unregisterIDLocked(id string) {
	w, ok := e.waiting[id]
	if !ok {
		return
	}
	delete(e.waiting, id)
	os.Remove(w.path) // removed before unlocked: nobody takes it for stale
	unlock(w.f)
}

// readWaiter reads a waiter file of another process and says whether it
// is live: its writer holds its lock. A stale one is removed.
func readWaiter(path string) (waiter, bool) {
	f, err := os.Open(path)
	if err != nil {
		return waiter{}, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		// Nobody holds it: its process died (or removed it right now).
		// Removed only if it is still the file that was looked at.
		if a, err1 := f.Stat(); err1 == nil {
			if b, err2 := os.Stat(path); err2 == nil && os.SameFile(a, b) {
				os.Remove(path)
			}
		}
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return waiter{}, false
	} else if !errors.Is(err, syscall.EWOULDBLOCK) {
		return waiter{}, false
	}
	if st, err := f.Stat(); err != nil || time.Since(st.ModTime()) > waiterStaleAfter {
		// Its process lives but does not look (stopped with Ctrl-Z, or
		// an engine without a watcher): it would keep the device idle.
		return waiter{}, false
	}
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, 0)
	lines := strings.Split(string(b[:n]), "\n")
	if len(lines) < 5 {
		return waiter{}, false // being written: it is locked before its name is
	}
	w := waiter{dev: lines[0], id: lines[3], name: lines[4]}
	var err1, err2 error
	w.queued, err1 = strconv.ParseInt(lines[1], 10, 64)
	w.pid, err2 = strconv.Atoi(lines[2])
	if err1 != nil || err2 != nil || w.id == "" {
		return waiter{}, false
	}
	return w, true
}

// olderWaiterLocked returns the oldest live waiter of another engine for
// r's device queued before r, if any: r leaves the slot to it.
func (e *Engine) olderWaiterLocked(r *run, dev string) (waiter, bool) {
	paths, _ := filepath.Glob(filepath.Join(e.opt.RunsDir, slotDir, "*"+waitSuffix))
	me := waiterOf(r, dev)
	var first waiter
	found := false
	for _, p := range paths {
		w, live := readWaiter(p)
		if !live || w.dev != dev || !w.before(me) {
			continue
		}
		if o, ok := e.runs[w.id]; ok && !o.info.Foreign {
			continue // this engine's own (the queue order decides), or a dead process's it took over
		}
		if !found || w.before(first) {
			first, found = w, true
		}
	}
	return first, found
}

// yieldReason says why r waits for w.
func yieldReason(w waiter, label string) string {
	who := "run " + w.id
	if w.name != "" && w.name != w.id {
		who += " (" + w.name + ")"
	}
	return fmt.Sprintf("waits for %s of poselab process %d, queued earlier for the %s trainer", who, w.pid, label)
}

// holdsSlotLocked says whether one of this engine's training runs holds a
// slot of device dev: its next run for dev waits for that device, not
// only for this engine's trainer count.
func (e *Engine) holdsSlotLocked(dev string) bool {
	for _, o := range e.runs {
		if o.training && o.slot != nil {
			if d, _ := slotDevice(o.info.Spec.Device); d == dev {
				return true
			}
		}
	}
	return false
}

// queuedNow notes when r was queued, for the order between processes.
func (r *run) queuedNow() { r.queuedAt = time.Now() }
