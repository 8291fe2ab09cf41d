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

// Trainer slots: one queue per device across the poselab processes that
// share a runs directory. Options.MaxActive bounds the runs one engine
// trains; a workbench, `poselab serve` and a `poselab train` under nohup
// would each train theirs at once on the same GPU (slower each, and out
// of its memory soon). A run takes, besides its folder's lock, one of the
// flocks <runs>/.trainers/<device>-<n>.lock (n < MaxActive) for as long
// as it holds its trainer (a paused run keeps it); one that finds every
// slot of its device taken by another process stays queued and says who
// holds them. The kernel drops a killed process's flocks, as it does the
// run folders' locks.

// slotDir is the folder of the slot lock files, under the runs directory
// (the store skips dot folders: it is no run).
const slotDir = ".trainers"

// slotRetryEvery is how often the queue is looked at again while a run
// waits for another process's slot: that process's release fires no
// event here.
var slotRetryEvery = time.Second

// QueuedLogPrefix starts the log line (EvLog) of a queued run that waits
// for a trainer another poselab process holds: what follows is its
// reason, written when the holders change (not at every look).
const QueuedLogPrefix = "queued: "

// SlotsLogPrefix starts the warning that this engine cannot share its
// trainers with other processes (the slot folder or a lock file cannot
// be made or opened) and trains as if alone.
const SlotsLogPrefix = "trainer slots: "

// slotDevice is a device's name in a slot file's name (key) and in a
// waiting run's reason (label). The CUDA backend trains on the first GPU
// CUDA_VISIBLE_DEVICES leaves it (device 0 where that is unset), so
// processes pinned to different GPUs of one box get different slots and
// train at once, and those on the same GPU share one queue.
func slotDevice(device string) (key, label string) {
	if device == "" {
		device = "cpu"
	}
	key, label = device, device
	if device == "cuda" {
		gpu, set := os.LookupEnv("CUDA_VISIBLE_DEVICES")
		gpu, _, _ = strings.Cut(gpu, ",")
		if gpu = strings.TrimSpace(gpu); gpu == "" {
			gpu = "0"
		}
		key = "cuda_gpu" + gpu
		if set {
			label = "cuda (GPU " + gpu + ")"
		}
	}
	return strings.Map(func(c rune) rune {
		if c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			return c
		}
		return '_'
	}, key), label
}

// errSlotTaken is a slot another open file holds (another process, or
// another engine of this one).
var errSlotTaken = errors.New("slot taken")

// tryLockSlot takes a slot's lock file without waiting, as tryLock takes
// a run folder's, and writes the holder into it for the others to name:
// pid, run id and run name, a line each.
func tryLockSlot(path string, r *run) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	writable := err == nil
	if err != nil {
		f, err = os.Open(path) // another user's lock file: flock works on a read-only descriptor too
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errSlotTaken
		}
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	if writable && f.Truncate(0) == nil {
		oneLine := strings.NewReplacer("\n", " ", "\r", " ")
		f.WriteAt([]byte(fmt.Sprintf("%d\n%s\n%s\n", os.Getpid(), r.info.Spec.ID, oneLine.Replace(r.info.Spec.Name))), 0)
	}
	return f, nil
}

// slotHolder says who holds a slot, as its lock file names it: "run ID
// (name) trained by poselab process PID", and the run's id ("" unknown).
func slotHolder(path string) (string, string) {
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	if pid <= 0 || len(lines) < 2 || strings.TrimSpace(lines[1]) == "" {
		// not written yet (it is being taken right now), or by a user
		// whose file this process may not read
		return "another poselab process", ""
	}
	id := strings.TrimSpace(lines[1])
	who := "run " + id
	if len(lines) > 2 {
		if n := strings.TrimSpace(lines[2]); n != "" && n != strings.TrimSpace(lines[1]) {
			who += " (" + n + ")"
		}
	}
	return fmt.Sprintf("%s trained by poselab process %d", who, pid), id
}

// takeSlotLocked takes a trainer slot of r's device for r. It returns
// the slot (nil where slots cannot be had here: r trains as if this
// process were alone, and the engine says so once), or, every slot being
// held by others, why r waits.
func (e *Engine) takeSlotLocked(r *run) (*os.File, string) {
	dev, label := slotDevice(r.info.Spec.Device)
	dir := filepath.Join(e.opt.RunsDir, slotDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.slotsUnusableLocked(r, err)
		return nil, ""
	}
	var taken []string
	for n := 0; n < e.opt.MaxActive; n++ {
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.lock", dev, n))
		if e.slots[path] {
			continue // one of this engine's runs has it
		}
		f, err := tryLockSlot(path, r)
		if err == nil {
			e.slots[path] = true
			return f, ""
		}
		if !errors.Is(err, errSlotTaken) {
			e.slotsUnusableLocked(r, err)
			return nil, ""
		}
		taken = append(taken, path)
	}
	if len(taken) == 0 {
		// Every slot is this engine's: MaxActive runs train here, and
		// scheduleLocked does not ask then. Not a reason to wait.
		return nil, ""
	}
	holders := make([]string, len(taken))
	for i, p := range taken {
		who, id := slotHolder(p)
		if h, ok := e.runs[id]; ok && h.info.Foreign && h.info.State == Paused {
			// A paused run holds its trainer until it is resumed or
			// stopped (as waitReasonLocked says of this process's): one
			// that diverged and paused itself in a workbench kept a
			// train elsewhere waiting with nothing to say why. The
			// watcher has its state; the reason changes when it does.
			who += " (paused: resume or stop it)"
		}
		holders[i] = who
	}
	if e.opt.MaxActive == 1 {
		return nil, fmt.Sprintf("waits for the %s trainer: %s", label, holders[0])
	}
	return nil, fmt.Sprintf("waits for a %s trainer (%d at a time): %s", label, e.opt.MaxActive, strings.Join(holders, ", "))
}

// slotsUnusableLocked says once that runs train here without waiting for
// other processes' runs: a read-only runs directory, say, must not leave
// them queued for ever.
func (e *Engine) slotsUnusableLocked(r *run, err error) {
	if e.slotsWarned {
		return
	}
	e.slotsWarned = true
	e.emit(Event{Run: r.info.Spec.ID, Kind: EvLog, Log: SlotsLogPrefix + err.Error() +
		": runs of this process do not wait for those of other poselab processes sharing the runs directory"})
}

// releaseSlotLocked lets go of r's trainer slot: its trainer is free.
func (e *Engine) releaseSlotLocked(r *run) {
	if r.slot == nil {
		return
	}
	delete(e.slots, r.slot.Name())
	unlock(r.slot)
	r.slot = nil
}

// waitSlotLocked keeps r queued for another process's slot, saying why
// (stored, for the other processes' lists) when that changed, and logging
// it when it is not what r last logged: a wait for this engine's own
// trainer in between (its reason is not stored) is no new holder.
func (e *Engine) waitSlotLocked(r *run, why string) {
	if r.info.Reason == why {
		return
	}
	r.info.Reason = why
	e.st.updateRun(r.info)
	if r.slotWhy != why {
		r.slotWhy = why
		e.emit(Event{Run: r.info.Spec.ID, Kind: EvLog, Log: QueuedLogPrefix + why})
	}
}

// retrySlotsLocked looks at the queue again in slotRetryEvery, once
// armed; scheduleLocked arms it again while a run still waits.
func (e *Engine) retrySlotsLocked() {
	if e.slotRetry != nil || e.closing {
		return
	}
	e.slotRetry = time.AfterFunc(slotRetryEvery, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.slotRetry = nil
		e.scheduleLocked() // nothing when closing
	})
}
