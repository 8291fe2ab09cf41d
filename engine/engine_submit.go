package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"
)

// Prepare fills a Spec's defaults from its model's preset and checks it.
// Fields already set win over the preset's.
func Prepare(spec Spec) (Spec, error) {
	if spec.Model == "" {
		return spec, errors.New("spec: model is required")
	}
	if spec.Preset == "" {
		spec.Preset = "tiny"
	}
	p, err := presetDefaults(spec.Model, spec.Preset)
	if err != nil {
		return spec, err
	}
	if spec.Epochs == 0 {
		spec.Epochs = p.Epochs
	}
	if spec.Batch == 0 {
		spec.Batch = p.Batch
	}
	if spec.Loss == "" {
		spec.Loss = p.Loss
	}
	if spec.DataSize == "" {
		spec.DataSize = p.DataSize
	}
	if spec.CkptEvery == 0 {
		spec.CkptEvery = p.CkptEvery
	}
	if spec.Data == "" {
		spec.Data = "synth"
	}
	if spec.Device == "" {
		spec.Device = "cpu"
	}
	lr := spec.Schedule.BaseLR
	if spec.Schedule.Kind == "" {
		spec.Schedule = p.Schedule
	}
	if lr != 0 {
		spec.Schedule.BaseLR = lr
	} else {
		// a schedule given without its rate (a configuration file's
		// [schedule] with a kind and no base_lr): the preset's, as for
		// every other key the file leaves out
		spec.Schedule.BaseLR = p.Schedule.BaseLR
	}
	if spec.Epochs <= 0 || spec.Batch <= 0 {
		return spec, fmt.Errorf("spec: epochs and batch must be positive, got %d and %d", spec.Epochs, spec.Batch)
	}
	if spec.CkptEvery < 0 {
		return spec, fmt.Errorf("spec: ckpt_every_steps must be >= 0, got %d", spec.CkptEvery)
	}
	if spec.Patience < 0 {
		return spec, fmt.Errorf("spec: patience must be >= 0 epochs, got %d", spec.Patience)
	}
	if spec.TF32 && spec.Device != "cuda" { // the CPU computes in float32 throughout: it would be ignored
		return spec, fmt.Errorf("spec: tf32 is a CUDA setting; device is %s", spec.Device)
	}
	if math.IsNaN(spec.Schedule.BaseLR) {
		return spec, errors.New("spec: learning rate is NaN")
	}
	// steps_per_epoch is filled in when the run starts (it depends on the data).
	s := spec.Schedule
	if s.StepsPerEpoch == 0 {
		s.StepsPerEpoch = 1
	}
	if s.Kind == "cosine" && s.TotalSteps == 0 {
		// the run's own step count, filled in when it starts; setup checks
		// it against the warm-up then
		s.TotalSteps = s.WarmupSteps + 1
	}
	if err := s.Validate(); err != nil {
		return spec, err
	}
	return spec, nil
}

// configHash identifies what a checkpoint's tensors depend on; resuming
// with a different value is refused.
func configHash(s Spec) string {
	b, _ := json.Marshal(struct {
		Model, Preset, Loss, Data, DataSize string
		Batch                               int
		Seed                                int64
		From                                []string
	}{s.Model, s.Preset, s.Loss, s.Data, s.DataSize, s.Batch, s.Seed, s.From})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Submit queues a run; it starts when a trainer is free and the run it
// comes after (Spec.After) has finished.
func (e *Engine) Submit(spec Spec) (string, error) {
	ids, err := e.SubmitChain([]Spec{spec})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// SubmitChain queues several runs at once. Their After and From entries
// may refer to earlier specs of the same call as "@0", "@1", ...
func (e *Engine) SubmitChain(specs []Spec) ([]string, error) {
	prepared := make([]Spec, len(specs))
	for i, s := range specs {
		p, err := Prepare(s)
		if err != nil {
			if len(specs) > 1 { // a single run has no stages to tell apart
				err = fmt.Errorf("stage %d (%s): %w", i, s.Model, err)
			}
			return nil, err
		}
		prepared[i] = p
	}
	// Weights to start from are read and matched now, so that a missing
	// or unreadable source, another model kind or a shape mismatch is
	// refused before a run exists (the run reads them again when it
	// starts).
	for i := range prepared {
		if prepared[i].Init == "" {
			continue
		}
		if err := e.checkInit(&prepared[i]); err != nil {
			if len(prepared) > 1 {
				err = fmt.Errorf("stage %d (%s): %w", i, prepared[i].Model, err)
			}
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return nil, errors.New("engine is closing")
	}
	var ids []string
	var locks []*os.File
	created := 0
	defer func() { // a refused chain leaves nothing: not its reserved folders, not its created runs
		if created < len(ids) {
			for _, id := range ids[:created] {
				e.st.deleteRun(id)
			}
			for _, id := range ids[created:] {
				os.RemoveAll(e.st.runDir(id))
			}
			// Unlocked last: a process watching the store must not see
			// a created run unlocked (it would take it for interrupted).
			for _, f := range locks {
				unlock(f)
			}
		}
	}()
	now := time.Now()
	for i := range prepared {
		id, err := e.st.newID(prepared[i].Model, now)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
		// Locked before its row exists: a process watching the store
		// must never see it active and unlocked (an interrupted run).
		f, _ := tryLock(e.st.runDir(id)) // a new folder: always free
		locks = append(locks, f)
	}
	// Every stage is checked before any is created, so that a bad stage
	// does not leave the ones before it queued.
	for i := range prepared {
		s := &prepared[i]
		s.ID = ids[i]
		if s.Name == "" {
			s.Name = s.ID
		} else if _, taken := e.runs[s.Name]; (taken || contains(ids, s.Name)) && s.Name != s.ID {
			// Commands take a name where an id is meant; one that is
			// another run's id would have them act on that run (runs rm
			// asks nothing).
			return nil, fmt.Errorf("spec: name %q is the id of another run; choose another name", s.Name)
		}
		var err error
		if s.After, err = resolveStageRef(s.After, ids[:i]); err != nil {
			return nil, err
		}
		for j, f := range s.From {
			if s.From[j], err = resolveStageRef(f, ids[:i]); err != nil {
				return nil, err
			}
			if _, ok := e.runs[s.From[j]]; !ok && !contains(ids[:i], s.From[j]) {
				return nil, fmt.Errorf("spec: run %q in from does not exist", f)
			}
		}
		if len(s.From) > 0 && s.Model != "sb" {
			// Only SB reads another run's outputs (its 2D poses); any
			// other model trained normally with From ignored, yet From
			// then held its source back from being extended.
			return nil, fmt.Errorf("spec: only sb trains on another run's outputs (from); %s trains on the data alone: queue it behind the run with after instead", s.Model)
		}
		if s.Model == "sb" && len(s.From) > 0 {
			// SB lifts the 2D poses of its first source: one that
			// predicts none would fail only when it starts, after
			// waiting for that source to finish.
			src := s.From[0]
			model := ""
			if k := slices.Index(ids[:i], src); k >= 0 {
				model = prepared[k].Model
			} else if r, ok := e.runs[src]; ok {
				model = r.info.Spec.Model
			}
			if model == "sb" || model == "baseline" { // their outputs are 3D only
				return nil, fmt.Errorf("spec: sb lifts 2D poses, and run %s (%s) predicts none: feed it from an sh or ir run", src, model)
			}
		}
		if s.After == "" { // fed by a run that has not finished yet: wait for it
			for _, f := range s.From {
				if r, ok := e.runs[f]; contains(ids[:i], f) || (ok && r.info.State.Active()) {
					s.After = f
				}
			}
		}
		if s.After != "" {
			if _, ok := e.runs[s.After]; !ok && !contains(ids[:i], s.After) {
				return nil, fmt.Errorf("spec: run %q in after does not exist", s.After)
			}
		}
		// A source that ended without outputs, trained on other data,
		// or still to finish with this run queued before it: the run
		// would fail when it starts.
		if err := e.checkFrom(*s, ids[:i], prepared[:i]); err != nil {
			if len(prepared) > 1 {
				err = fmt.Errorf("stage %d (%s): %w", i, s.Model, err)
			}
			return nil, err
		}
	}
	infos := make([]RunInfo, len(prepared))
	for i, s := range prepared {
		infos[i] = RunInfo{Spec: s, State: Queued, LastLoss: math.NaN(), LastValMPJPE: math.NaN(), BestValMPJPE: math.NaN(),
			BaselineMPJPE: math.NaN(), BaselinePx: math.NaN(), TotalSteps: 0, Device: s.Device}
		if err := e.st.createRun(infos[i]); err != nil {
			return nil, err
		}
		created++
	}
	for i, info := range infos {
		id := info.Spec.ID
		r := &run{info: info, wake: make(chan struct{}, 1), lock: locks[i], lockedAt: unixSeconds(now), queuedAt: now}
		e.runs[id] = r
		e.order = append(e.order, id)
		sp := info.Spec
		e.emit(Event{Run: id, Kind: EvState, State: &StateInfo{From: "", To: Queued}, Spec: &sp})
	}
	e.scheduleLocked()
	return ids, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// SubmitPipeline queues the chain of runs of a registered pipeline.
func (e *Engine) SubmitPipeline(name, preset string, base Spec) ([]string, error) {
	p, err := LookupPipeline(name)
	if err != nil {
		return nil, err
	}
	if base.Init != "" { // each stage is another model kind
		return nil, fmt.Errorf("init %s: a pipeline's stages start from their own init; start a single run from it instead", base.Init)
	}
	return e.SubmitChain(p.Stages(preset, base))
}

// scheduleLocked starts queued runs while trainers are free. Called with
// e.mu held whenever a run changes state.
func (e *Engine) scheduleLocked() {
	if e.closing {
		return
	}
	full := map[string]string{} // devices whose slots other processes hold, this pass: why their runs wait
	next := map[string]bool{}   // devices whose next run this pass has met
	keep := map[string]bool{}   // runs whose waiter file stays (engine_fifo.go)
	for _, id := range e.order {
		r := e.runs[id]
		if r.info.State != Queued || r.training || r.info.Foreign {
			continue
		}
		if after := r.info.Spec.After; after != "" {
			a, ok := e.runs[after]
			switch {
			case !ok:
				e.setState(r, Failed, fmt.Sprintf("run %s it comes after no longer exists", after))
				continue
			case a.info.State == Failed:
				e.setState(r, Failed, fmt.Sprintf("run %s it comes after failed", after))
				continue
			case a.info.State != Finished:
				continue
			}
		}
		if r.queuedAt.IsZero() {
			r.queuedNow()
		}
		dev, label := slotDevice(r.info.Spec.Device)
		first := !next[dev] // this engine's next run for the device
		next[dev] = true
		// checked after the chain links, so that a run whose link failed
		// fails at once, even while the trainers are busy
		if e.active >= e.opt.MaxActive {
			r.info.Reason = e.waitReasonLocked()
			if first && e.holdsSlotLocked(dev) {
				// It takes the slot when this engine's run lets go: the
				// others' runs queued after it must not take it then.
				e.registerWaiterLocked(r, dev)
				keep[id] = true
			}
			continue
		}
		if r.lock == nil {
			f, ok := tryLock(e.st.runDir(id))
			if !ok {
				r.markForeign(e.st)
				continue
			}
			r.lock, r.lockedAt = f, unixSeconds(time.Now())
		}
		why, waits := full[dev]
		if !waits {
			if w, older := e.olderWaiterLocked(r, dev); older {
				why = yieldReason(w, label) // first come, first served
			} else {
				r.slot, why = e.takeSlotLocked(r)
			}
			if waits = why != ""; waits {
				full[dev] = why
			}
		}
		if waits {
			if first {
				e.registerWaiterLocked(r, dev)
				keep[id] = true
			}
			e.waitSlotLocked(r, why)
			continue
		}
		e.unregisterWaiterLocked(r)
		if r.slotWhy != "" && r.info.Reason == r.slotWhy {
			// It no longer waits: the run its stored reason names let go
			// (the others' lists read it until the run is running, after
			// its setup).
			r.info.Reason = ""
			e.st.updateRun(r.info)
		}
		r.training = true
		r.slotWhy = ""
		r.pauseReq, r.stopReq = false, false
		r.done = make(chan struct{})
		e.active++
		e.wg.Add(1)
		go e.train(r)
	}
	for id := range e.waiting {
		if !keep[id] { // started, or no longer this engine's next run for its device
			e.unregisterIDLocked(id)
		}
	}
	if len(full) > 0 { // another process's release fires no event here
		e.retrySlotsLocked()
	}
}

// waitReasonLocked says why a queued run waits for a trainer: the runs
// that hold them. A paused run holds its trainer (and its memory) until it
// is resumed or stopped, so a run that diverged and paused itself kept
// every run queued after it waiting, with nothing to say why.
func (e *Engine) waitReasonLocked() string {
	var held []string
	for _, id := range e.order {
		o := e.runs[id]
		if !o.training {
			continue
		}
		n := id
		if name := o.info.Spec.Name; name != "" && name != id {
			n = name
		}
		if o.info.State == Paused {
			n += " (paused: resume or stop it)"
		}
		held = append(held, n)
	}
	return fmt.Sprintf("waits for a trainer (%d at a time): %s", e.opt.MaxActive, strings.Join(held, ", "))
}
