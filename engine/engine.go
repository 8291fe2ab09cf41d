package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"poselab/datasets"
	"poselab/nn"
)

// Options configure an Engine.
type Options struct {
	// RunsDir holds the run folders and the run database (default "runs").
	RunsDir string
	// MaxActive is how many runs train at the same time (default 1: the
	// CPU has few cores; more runs only slow each other down).
	MaxActive int
	// StepEvery thins step events: at most one per run per StepEvery
	// (default 100 ms, about 10/s). Every step's loss is stored anyway.
	StepEvery time.Duration
	// WeightCheckEvery is how often a training run looks for NaN or
	// infinite weights (default 1 minute). ReLU and max-pool turn NaN
	// activations into numbers (on both backends), so poisoned weights
	// can leave the loss finite: the run would train on with dead units
	// until its next checkpoint refused them.
	WeightCheckEvery time.Duration
	// OpenData opens a run's data set (default OpenDataset).
	OpenData func(spec Spec) (datasets.Dataset, error)
	// NewBackend returns the backend of a device (default NewBackend).
	NewBackend func(device string) (nn.Backend, error)
	// WatchEvery is how often the engine looks at the run store for what
	// other poselab processes sharing the runs directory did: runs they
	// created, deleted or train (published here as events), and pause,
	// resume or stop requests for the runs this engine trains (default 1
	// s; negative: never, for one-shot commands).
	WatchEvery time.Duration
}

// Engine runs training runs, publishes their events and keeps the run
// store. It implements Controller. All methods are safe for concurrent use.
type Engine struct {
	opt Options
	st  *store
	hub *hub

	mu      sync.Mutex
	runs    map[string]*run
	order   []string // submission order (queue order)
	active  int
	closing bool
	wg      sync.WaitGroup

	dataMu sync.Mutex
	data   map[string]datasets.Dataset

	quit      chan struct{} // closed by Close: the store watcher ends
	watchDone chan struct{} // closed when it has
}

// run is the engine's record of one run. Fields below info are guarded by
// Engine.mu; the training goroutine reads them through control().
type run struct {
	info     RunInfo
	pauseReq bool
	stopReq  bool
	wake     chan struct{} // nudges a paused trainer
	training bool          // a trainer goroutine owns the run
	resume   bool          // continue from the last checkpoint
	diverged bool          // paused itself on NaN/Inf loss
	abandon  bool          // tests: vanish like a killed process
	stopBy   int           // pid of the other poselab process that asked it to stop
	pauseBy  int           // likewise, to pause
	lock     *os.File      // flock on runs/<id>/.lock while this engine owns the run
	lockedAt float64       // when it took the lock (Unix seconds): older requests were not for it
	done     chan struct{} // closed when the trainer goroutine ends
	follow   following     // a foreign run: what of it has been published (watch.go)
	rowAt    float64       // its row's update time as the watcher last read it (runUpdates)
}

var _ Controller = (*Engine)(nil)

// Open starts an engine on a runs directory. Runs found there are listed;
// those that were active when their process died become stopped (they can
// be resumed); those owned by another live poselab process are shown as
// they are and cannot be steered from here.
func Open(opt Options) (*Engine, error) {
	if opt.RunsDir == "" {
		opt.RunsDir = "runs"
	}
	if opt.MaxActive <= 0 {
		opt.MaxActive = 1
	}
	if opt.WeightCheckEvery <= 0 {
		opt.WeightCheckEvery = time.Minute
	}
	if opt.StepEvery <= 0 {
		opt.StepEvery = 100 * time.Millisecond
	}
	if opt.OpenData == nil {
		opt.OpenData = OpenDataset
	}
	if opt.NewBackend == nil {
		opt.NewBackend = NewBackend
	}
	st, err := openStore(opt.RunsDir)
	if err != nil {
		return nil, err
	}
	e := &Engine{opt: opt, st: st, hub: newHub(), runs: map[string]*run{}, data: map[string]datasets.Dataset{}}
	infos, err := st.loadRuns()
	if err != nil {
		st.close()
		return nil, err
	}
	for _, info := range infos {
		r := &run{info: info, wake: make(chan struct{}, 1)}
		if info.State.Active() && e.claim(r) {
			// Its log says so, as when a watching process takes it over:
			// the process that wrote the rest of it could not.
			e.emit(Event{Run: info.Spec.ID, Kind: EvState, State: &StateInfo{From: info.State, To: r.info.State, Reason: r.info.Reason}})
		}
		e.runs[info.Spec.ID] = r
		e.order = append(e.order, info.Spec.ID)
	}
	e.quit, e.watchDone = make(chan struct{}), make(chan struct{})
	if opt.WatchEvery == 0 {
		e.opt.WatchEvery = time.Second
	}
	if e.opt.WatchEvery > 0 {
		go e.watch()
	} else {
		close(e.watchDone)
	}
	return e, nil
}

// RunsDir is the engine's runs directory.
func (e *Engine) RunsDir() string { return e.opt.RunsDir }

// RunDir is the folder of a run.
func (e *Engine) RunDir(id string) string { return e.st.runDir(id) }

// Close stops every run this engine trains (each saves a checkpoint) and
// waits for them; queued runs stay queued-as-stopped in the store.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closing { // closed already (a deferred Close after an explicit one)
		e.mu.Unlock()
		return nil
	}
	e.closing = true
	close(e.quit)
	e.mu.Unlock()
	<-e.watchDone // it takes e.mu: not held here
	e.mu.Lock()
	for _, r := range e.runs {
		if r.training {
			r.stopReq = true
			nudge(r)
		} else if !r.info.Foreign && (r.info.State == Queued || r.info.State == Paused) {
			e.setState(r, Stopped, "engine closed before it ran")
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	return e.st.close()
}

// Runs lists all runs in submission order.
func (e *Engine) Runs() []RunInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]RunInfo, 0, len(e.order))
	for _, id := range e.order {
		out = append(out, e.runs[id].info)
	}
	return out
}

// Run returns one run's summary.
func (e *Engine) Run(id string) (RunInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok := e.runs[id]
	if !ok {
		return RunInfo{}, false
	}
	return r.info, true
}

// Subscribe returns the history of this engine's events and a channel of
// later ones; call cancel when done (it closes the channel).
func (e *Engine) Subscribe() ([]Event, <-chan Event, func()) { return e.hub.subscribe() }

// Schedule returns a run's learning-rate schedule.
func (e *Engine) Schedule(id string) (Schedule, bool) {
	info, ok := e.Run(id)
	return info.Spec.Schedule, ok
}

// Steps returns every stored training step of a run (loss, lr), also for
// runs of earlier processes.
func (e *Engine) Steps(id string) ([]StepPoint, error) { return e.st.steps(id) }

// StepsBetween returns a run's stored steps numbered above lo and up to hi
// (from 0), in order: a range of a long run, read at the cost of its rows.
func (e *Engine) StepsBetween(id string, lo, hi int) ([]StepPoint, error) {
	return e.st.stepsBetween(id, lo, hi)
}

// Epochs returns a run's stored validation results.
func (e *Engine) Epochs(id string) ([]EpochInfo, error) { return e.st.epochs(id) }

// Samples returns the skeleton samples of a run's newest stored validation
// and its epoch (none: nil).
func (e *Engine) Samples(id string) ([]PoseSample, int, error) { return e.st.samples(id) }

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
		r := &run{info: info, wake: make(chan struct{}, 1), lock: locks[i], lockedAt: unixSeconds(now)}
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
		// checked after the chain links, so that a run whose link failed
		// fails at once, even while the trainers are busy
		if e.active >= e.opt.MaxActive {
			r.info.Reason = e.waitReasonLocked()
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
		r.training = true
		r.pauseReq, r.stopReq = false, false
		r.done = make(chan struct{})
		e.active++
		e.wg.Add(1)
		go e.train(r)
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

// setState changes a run's state, stores it and publishes the change.
// Called with e.mu held.
func (e *Engine) setState(r *run, to State, reason string) {
	from := r.info.State
	r.info.State, r.info.Reason = to, reason
	r.info.Updated = time.Now()
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
		if r.lock == nil { // never so for a request (applyRequests): e.mu stays held there
			f, err := e.lockWaiting(r, "resumed", func() bool { return r.info.State == Stopped || r.info.State == Failed })
			if err != nil {
				return err
			}
			r.lock, r.lockedAt = f, unixSeconds(time.Now())
		}
		r.resume = true
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
