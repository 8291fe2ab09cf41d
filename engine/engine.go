package engine

import (
	"os"
	"sync"
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

	slots       map[string]bool      // the trainer slot files this engine's runs hold (engine_slots.go)
	slotsWarned bool                 // it said that slots cannot be had here
	slotRetry   *time.Timer          // looks at the queue again while a run waits for another process's slot
	waiting     map[string]waitEntry // waiter files of this engine's runs, by run id (engine_fifo.go)

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
	slot     *os.File      // flock on its device's trainer slot while training (nil: none, or slots unusable)
	slotWhy  string        // the wait for other processes' trainers it last logged
	lockedAt float64       // when it took the lock (Unix seconds): older requests were not for it
	queuedAt time.Time     // when it was last queued: its place among other processes' runs (engine_fifo.go)
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
	e := &Engine{opt: opt, st: st, hub: newHub(), runs: map[string]*run{}, slots: map[string]bool{}, waiting: map[string]waitEntry{}, data: map[string]datasets.Dataset{}}
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
	if e.slotRetry != nil {
		e.slotRetry.Stop()
		e.slotRetry = nil
	}
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
	for id := range e.waiting { // setState removed those of queued runs; none is left
		e.unregisterIDLocked(id)
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
