package engine

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"poselab/checkpoints"
	"poselab/datasets"
	"poselab/internal/atomicfile"
	"poselab/nn"
)

// session is one training goroutine's working set.
type session struct {
	e       *Engine
	r       *run
	spec    Spec
	dir     string
	task    Task
	prog    nn.Program
	backend nn.Backend // for device utilisation (nn.Utilizer)
	sched   Schedule
	hash    string

	n, spe, total    int // train samples, steps per epoch, total steps
	step, epoch, pos int
	best             float64
	bestEpoch        int    // the epoch (0-based) of the best validation, -1 before one
	early            string // why the run ended before its last epoch (Spec.Patience)
	lastVal          float64
	baseline         float64
	baselinePx       float64 // 2D models: the fixed-mean baseline on val, px (NaN: none)

	stepRows        []stepRow
	lastFlush       time.Time
	lastStepEv      time.Time
	newest          StepInfo // the newest step's event...
	unpublished     bool     // ...when thinning held it back
	lastResEv       time.Time
	lastResStore    time.Time // the last resource sample stored for other processes
	lastWeightCheck time.Time
	sessionStart    time.Time
	sessionSteps    int
	pausedFor       time.Duration // time held paused this session: not in the ETA's pace
	marks           []paceMark    // where the ETA's pace may start: the end of the session's first step, then epoch ends
	rate            float64       // samples/s, smoothed
	epochLossSum    float64
	epochLossN      int
	next            *pendingBatch // the next step's batch, cut while this step trains
	initMsg         string        // what Spec.Init loaded, logged once the run has started
}

// pendingBatch is a training batch being cut in the background, for the
// step, epoch and position it names; a session that moved elsewhere (a
// rewind after divergence, a resume) simply does not use it.
type pendingBatch struct {
	step, epoch, pos int
	done             chan struct{}
	b                nn.Batch
	err              error
}

// errStopped and errAbandoned end the loop without failing the run.
var (
	errStopped   = errors.New("stopped")
	errAbandoned = errors.New("abandoned")
)

// train runs in its own goroutine for one run.
func (e *Engine) train(r *run) {
	defer e.wg.Done()
	s := &session{e: e, r: r, best: math.NaN(), bestEpoch: -1, lastVal: math.NaN(), baseline: math.NaN(), baselinePx: math.NaN()}
	err := s.run()
	s.dropPending()
	e.mu.Lock()
	defer e.mu.Unlock()
	from := r.info.State // queued when setup failed, paused when stopped while paused
	switch {
	case errors.Is(err, errAbandoned):
		// Like a killed process: no final checkpoint, state left as is,
		// the lock gone with the "process".
		unlock(r.lock)
		r.lock = nil
	case errors.Is(err, errStopped):
		reason := "stopped by the user; resume continues from the last checkpoint"
		if e.closing { // a hang-up, SIGTERM or quit closed the engine
			reason = "stopped when poselab closed; resume continues from the last checkpoint"
		}
		if r.stopBy > 0 {
			reason = fmt.Sprintf("stopped from poselab process %d; resume continues from the last checkpoint", r.stopBy)
		}
		if r.diverged { // stopped while paused on a NaN/Inf: say why it paused
			reason = "stopped after it " + r.info.Reason
		}
		e.setState(r, Stopped, reason)
		e.emit(Event{Run: r.info.Spec.ID, Kind: EvLog, Log: "stopped at step " + fmt.Sprint(s.step)})
	case err != nil:
		r.info.Reason = err.Error()
		e.setState(r, Failed, err.Error())
		e.emit(Event{Run: r.info.Spec.ID, Kind: EvFailed, State: &StateInfo{From: from, To: Failed, Reason: err.Error()}, Result: s.result()})
	default:
		e.setState(r, Finished, s.early)
		e.emit(Event{Run: r.info.Spec.ID, Kind: EvFinished, State: &StateInfo{From: from, To: Finished, Reason: s.early}, Result: s.result()})
	}
	if s.prog != nil {
		s.prog.Close()
	}
	r.training = false
	e.releaseSlotLocked(r)
	if !r.info.State.Active() {
		unlock(r.lock)
		r.lock = nil
	}
	r.resume = false
	r.diverged = false
	r.stopBy, r.pauseBy = 0, 0
	e.active--
	close(r.done)
	e.scheduleLocked()
}

func (s *session) result() *Result {
	el := time.Since(s.sessionStart).Seconds()
	step, epoch, last, best := s.step, s.epoch, s.lastVal, s.best
	if s.step == 0 && s.sessionSteps == 0 && s.r.info.Step > 0 {
		// It failed before loading its checkpoint (a corrupt last.ckpt):
		// the run stands where it stood, as runs show says, not at step 0
		// with no validation ("steps": 0 in the failed event). e.mu is
		// held by the caller.
		i := s.r.info
		step, epoch, last, best = i.Step, i.Epoch, i.LastValMPJPE, i.BestValMPJPE
	}
	r := &Result{ValMPJPE: last, BestValMPJPE: best, BaselineMPJPE: s.baseline, Steps: step, SessionSteps: s.sessionSteps,
		Epochs: epoch, Seconds: el, SamplesPerSec: s.rate}
	if _, ok := s.task.(baseline2D); ok || (s.task == nil && Exports2D(s.r.info.Spec.Model)) { // no task: failed before making it
		r.ValPx, r.BestValPx = last, best
		r.ValMPJPE, r.BestValMPJPE = math.NaN(), math.NaN()
		if !math.IsNaN(s.baselinePx) { // JSON has no NaN: omitted
			r.BaselinePx = s.baselinePx
		}
	}
	return r
}

// baseline2D is implemented by 2D tasks (SH), whose score is a pixel error.
type baseline2D interface {
	Baseline2D(split datasets.Split) (EpochInfo, error)
}

// update changes the run's summary under the engine lock.
func (s *session) update(f func(*RunInfo)) {
	s.e.mu.Lock()
	f(&s.r.info)
	s.e.mu.Unlock()
}

func (s *session) publish(ev Event) {
	ev.Run = s.spec.ID
	s.e.emit(ev)
}

func (s *session) run() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	s.sessionStart = time.Now()
	s.e.mu.Lock()
	s.spec = s.r.info.Spec
	resume := s.r.resume
	s.e.mu.Unlock()
	s.dir = s.e.st.runDir(s.spec.ID)
	s.hash = configHash(s.spec)
	if err := s.setup(resume); err != nil {
		return err
	}
	s.e.mu.Lock()
	// The last session's ETA (a run resumed in this process) is not this
	// one's, which has no pace yet: shown and stored as it was, it held
	// through the setup and first step.
	s.r.info.ETA = 0
	s.e.setState(s.r, Running, "")
	s.e.mu.Unlock()
	sp := s.spec
	s.publish(Event{Kind: EvStarted, Spec: &sp})
	if s.spec.Patience > 0 && s.task.Len(datasets.Val) == 0 {
		s.publish(Event{Kind: EvLog, Log: fmt.Sprintf("patience %d has no effect: the data has no validation split, so every epoch trains", s.spec.Patience)})
	}
	if s.initMsg != "" {
		s.publish(Event{Kind: EvLog, Log: s.initMsg})
	}
	s.resource()
	perm, permEpoch := []int(nil), -1
	for {
		// also once after the last epoch: a run that diverged in its last
		// validation or checkpoint pauses rather than finishing
		if err := s.control(); err != nil {
			return err
		}
		if s.epoch >= s.spec.Epochs {
			break
		}
		if s.pos == s.spe {
			if err := s.endEpoch(); err != nil {
				return err
			}
			s.markPace()
			if s.early = s.patienceOut(); s.early != "" {
				break // the reason goes with the finished state
			}
			continue
		}
		if permEpoch != s.epoch { // also after a rewind to an earlier epoch
			perm, permEpoch = epochOrder(s.spec.Seed, s.epoch, s.n), s.epoch
		}
		if err := s.trainStep(perm); err != nil {
			return err
		}
	}
	s.flushSteps()
	return s.finish()
}

// setup opens data, task and program and loads the starting state.
func (s *session) setup(resume bool) error {
	f, err := LookupTask(s.spec.Model)
	if err != nil {
		return err
	}
	// A process killed while writing a checkpoint leaves its temporary
	// file (hundreds of MB for the image models); this run holds the
	// folder's lock, so no writer of them is running.
	for _, which := range []string{"last", "best"} {
		if n, err := atomicfile.RemoveStale(CkptPath(s.dir, which)); err != nil {
			s.publish(Event{Kind: EvLog, Log: "checkpoints: " + err.Error()})
		} else if n > 0 {
			s.publish(Event{Kind: EvLog, Log: fmt.Sprintf("checkpoints: removed %d unfinished %s checkpoint file(s) of a killed process", n, which)})
		}
	}
	data, err := s.e.dataset(s.spec)
	if err != nil {
		return err
	}
	env := TaskEnv{Spec: s.spec, Data: data}
	for _, id := range s.spec.From {
		ro, err := readCheckedOutputs(s.e.st.runDir(id), data)
		if err != nil {
			return fmt.Errorf("from run %s: %w", id, err)
		}
		env.From = append(env.From, ro)
	}
	if s.task, err = f.New(env); err != nil {
		return err
	}
	s.baseline = s.task.BaselineMPJPE()
	if b, ok := s.task.(baseline2D); ok { // a 2D model: the run store keeps its px baseline as it does the mm one
		if info, err := b.Baseline2D(datasets.Val); err == nil && info.Pixel > 0 {
			s.baselinePx = info.Pixel
		}
	}
	g := s.task.Graph()
	s.n = s.task.Len(datasets.Train)
	if s.n < s.spec.Batch {
		return fmt.Errorf("the train split has %d samples, fewer than one batch of %d", s.n, s.spec.Batch)
	}
	s.spe = s.n / s.spec.Batch // the last partial batch is dropped: programs run full batches
	s.total = s.spe * s.spec.Epochs
	s.sched = s.spec.Schedule
	s.sched.StepsPerEpoch = s.spe
	if s.sched.Kind == "cosine" && s.sched.TotalSteps == 0 {
		s.sched.TotalSteps = s.total
	}
	if err := s.sched.Validate(); err != nil {
		return err
	}
	s.spec.Schedule = s.sched
	backend, err := s.e.opt.NewBackend(s.spec.Device)
	if err != nil {
		return err
	}
	s.backend = backend
	s.prog, err = backend.Compile(g, nn.Options{Batch: s.spec.Batch, Seed: s.spec.Seed, Adam: nn.DefaultAdam, TF32: s.spec.TF32})
	if err != nil {
		return fmt.Errorf("compile %s on %s: %w", s.spec.Model, s.spec.Device, err)
	}
	last := CkptPath(s.dir, "last")
	if _, statErr := os.Stat(last); resume && statErr == nil {
		if err := s.loadCheckpoint(last, g); err != nil {
			return err
		}
	} else {
		state, msg, err := s.freshState(g)
		if err != nil {
			return err
		}
		if err := s.prog.SetState(state); err != nil {
			return err
		}
		var stopped int
		s.update(func(ri *RunInfo) { stopped = ri.Step })
		if resume && stopped > 0 {
			// Resume refuses this where a best checkpoint would be
			// overwritten; otherwise the run starts over, and says so.
			msg = strings.TrimSpace(fmt.Sprintf("no checkpoint (%s): the run starts again from step 0, not at step %d where it stopped. %s", last, stopped, msg))
		}
		s.initMsg = msg
	}
	s.update(func(ri *RunInfo) {
		ri.Spec.Schedule = s.sched
		ri.TotalSteps, ri.StepsPerEpoch = s.total, s.spe
		ri.Step, ri.Epoch = s.step, s.epoch
		ri.BaselineMPJPE, ri.BaselinePx = s.baseline, s.baselinePx
		ri.BestValMPJPE = s.best
		ri.Device = backend.Device()
		ri.Started = s.sessionStart
	})
	return nil
}

// epochOrder is the data order of an epoch: a permutation seeded by (seed,
// epoch) only, so a resumed run sees the same order.
func epochOrder(seed int64, epoch, n int) []int {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(epoch)*0x9e3779b97f4a7c15+1))
	return r.Perm(n)
}

// control applies pause and stop requests between steps.
func (s *session) control() error {
	for {
		s.e.mu.Lock()
		r := s.r
		abandon, stop, pause := r.abandon, r.stopReq, r.pauseReq || r.diverged
		state := r.info.State
		s.e.mu.Unlock()
		switch {
		case abandon:
			return errAbandoned
		case stop:
			s.flushSteps()
			s.publishStep()
			s.e.mu.Lock()
			diverged := r.diverged
			s.e.mu.Unlock()
			if !diverged { // never overwrite the last good checkpoint with NaN weights
				if err := s.saveCheckpoint(false); err != nil {
					return err
				}
			}
			return errStopped
		case pause:
			if state != Paused {
				s.flushSteps()
				s.publishStep()
				s.e.mu.Lock()
				// A wake-up sent before this pause (a Resume while the run
				// trained) must not end it: drop it, and look at the
				// requests again under the same lock, so that one sent
				// since the check above is not lost.
				select {
				case <-r.wake:
				default:
				}
				if r.abandon || r.stopReq || !(r.pauseReq || r.diverged) {
					s.e.mu.Unlock()
					continue
				}
				reason := "paused by the user"
				if r.pauseBy > 0 { // as a stop from another process says
					reason = fmt.Sprintf("paused from poselab process %d", r.pauseBy)
				}
				if r.diverged {
					reason = r.info.Reason
				}
				s.e.setState(r, Paused, reason)
				s.e.mu.Unlock()
			}
			held := time.Now()
			<-r.wake
			s.pausedFor += time.Since(held)
			s.e.mu.Lock()
			if r.diverged && !r.pauseReq && !r.stopReq {
				// resumed after divergence: go back to the last checkpoint
				r.diverged = false
				s.e.mu.Unlock()
				if err := s.rewind(); err != nil {
					return err
				}
				continue
			}
			s.e.mu.Unlock()
		default:
			if state == Paused {
				s.e.mu.Lock()
				s.e.setState(r, Running, "")
				s.e.mu.Unlock()
			}
			return nil
		}
	}
}

// freshState is the state a run starts its first step from: the seeded
// init of every backend (the CUDA program takes the same state), with
// Spec.Init's tensors loaded over it, and the log line that says what
// these were ("" without Init).
func (s *session) freshState(g *nn.Graph) (*nn.State, string, error) {
	st := nn.InitState(g, s.spec.Seed)
	if s.spec.Init == "" {
		return st, "", nil
	}
	src, err := s.e.openInit(s.spec.Init, s.spec.Model)
	if err != nil {
		return nil, "", err
	}
	res, err := matchInit(s.spec.Model, g, src)
	if err != nil {
		return nil, "", err
	}
	res.apply(g, st)
	return st, res.summary(src.label), nil
}

// dropPending waits for a batch being cut in the background and forgets
// it, before anything the task reads changes (a checkpoint load) or the
// session ends.
func (s *session) dropPending() {
	if s.next != nil {
		<-s.next.done
		s.next = nil
	}
}

func (s *session) trainStep(perm []int) error {
	B := s.spec.Batch
	t0 := time.Now()
	var batch nn.Batch
	var err error
	if p := s.next; p != nil && p.step == s.step && p.epoch == s.epoch && p.pos == s.pos {
		<-p.done
		batch, err = p.b, p.err
	} else {
		batch, err = s.task.Batch(datasets.Train, perm[s.pos*B:(s.pos+1)*B], true, s.spec.Seed, s.step)
	}
	s.next = nil
	if err != nil {
		return err
	}
	// Cut the next batch (rendering crops, for image models) while the
	// backend trains on this one. Batches depend only on (indices, seed,
	// step), so this changes no number. A backend that can (nn.Stager)
	// also copies it to its device meanwhile; the next step waits for
	// that, so the staged copy is ready when it starts.
	if s.pos+1 < s.spe {
		p := &pendingBatch{step: s.step + 1, epoch: s.epoch, pos: s.pos + 1, done: make(chan struct{})}
		idx := perm[(s.pos+1)*B : (s.pos+2)*B]
		stager, _ := s.prog.(nn.Stager)
		go func() {
			defer close(p.done)
			defer func() {
				if r := recover(); r != nil {
					p.err = fmt.Errorf("preparing the batch of step %d: %v", p.step, r)
				}
			}()
			p.b, p.err = s.task.Batch(datasets.Train, idx, true, s.spec.Seed, p.step)
			if p.err == nil && stager != nil {
				stager.Stage(p.b)
			}
		}()
		s.next = p
	}
	lr := s.sched.LR(s.step)
	loss, err := s.prog.TrainStep(batch, s.step, lr)
	if err != nil {
		return fmt.Errorf("step %d: %w", s.step, err)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		s.diverge(loss, lr)
		return nil
	}
	now := time.Now()
	dt := now.Sub(t0).Seconds()
	if dt > 0 {
		inst := float64(B) / dt
		if s.rate == 0 {
			s.rate = inst
		} else {
			s.rate = 0.9*s.rate + 0.1*inst
		}
	}
	s.stepRows = append(s.stepRows, stepRow{Step: s.step, Epoch: s.epoch, Loss: loss, LR: lr, Time: now})
	s.epochLossSum += loss
	s.epochLossN++
	s.step++
	s.pos++
	s.sessionSteps++
	if len(s.marks) == 0 { // the session's first step, or the first after a rewind
		s.marks = []paceMark{{at: now, step: s.step, paused: s.pausedFor}}
	}
	// How the backend runs, once it has settled (a CUDA program captures
	// its graph in the first step and stages batches from the second).
	if s.sessionSteps == 2 {
		if d, ok := s.prog.(nn.Describer); ok {
			s.publish(Event{Kind: EvLog, Log: "backend: " + d.Describe()})
		}
	}
	eta := s.eta()
	s.update(func(ri *RunInfo) {
		ri.Step, ri.Epoch, ri.LastLoss, ri.SamplesPerSec, ri.ETA, ri.Updated = s.step, s.epoch, loss, s.rate, eta, now
	})
	st := StepInfo{Step: s.step, Epoch: s.epoch, Loss: loss, LR: lr,
		SamplesPerSec: s.rate, ETASeconds: eta.Seconds(), TotalSteps: s.total}
	s.newest, s.unpublished = st, true
	if now.Sub(s.lastStepEv) >= s.e.opt.StepEvery || s.pos == s.spe {
		s.publishStep()
	}
	if now.Sub(s.lastFlush) >= time.Second {
		s.flushSteps()
	}
	if s.lastWeightCheck.IsZero() {
		s.lastWeightCheck = now
	} else if now.Sub(s.lastWeightCheck) >= s.e.opt.WeightCheckEvery {
		s.lastWeightCheck = now
		if _, diverged, err := s.checkWeights(); err != nil || diverged {
			return err // a diverged run pauses before the next step
		}
	}
	if now.Sub(s.lastResEv) >= 2*time.Second {
		s.resource()
	}
	if s.spec.CkptEvery > 0 && s.step%s.spec.CkptEvery == 0 && s.pos < s.spe {
		if err := s.saveCheckpoint(false); err != nil {
			return err
		}
	}
	return nil
}

// patienceOut says why the run ends now, after the epoch just validated,
// when its best validation is Spec.Patience epochs old ("": it goes on).
// A run that diverged in that epoch's checkpoint pauses instead, as
// always: its last good checkpoint may come before its best epoch.
func (s *session) patienceOut() string {
	done := s.epoch // epochs validated
	if s.spec.Patience <= 0 || s.bestEpoch < 0 || done >= s.spec.Epochs || done-1-s.bestEpoch < s.spec.Patience {
		return ""
	}
	s.e.mu.Lock()
	diverged := s.r.diverged
	s.e.mu.Unlock()
	if diverged {
		return ""
	}
	what, unit := "val MPJPE", "mm"
	if _, px := s.task.(baseline2D); px { // a 2D model: scored in pixels
		what, unit = "val 2D error", "px"
	}
	since := fmt.Sprintf("%d epochs", done-1-s.bestEpoch)
	if done-1-s.bestEpoch == 1 { // patience 1 said "in the 1 epochs since"
		since = "1 epoch"
	}
	return fmt.Sprintf("early stop: best %s %.2f %s at epoch %d, none better in the %s since (patience %d)",
		what, s.best, unit, s.bestEpoch+1, since, s.spec.Patience)
}

// endEpoch validates, stores and checkpoints at the end of an epoch.
func (s *session) endEpoch() error {
	s.flushSteps()
	// Weights gone NaN can still validate to a finite (even best) score
	// (ReLU masks NaN activations), but the checkpoint that follows is
	// refused: the epoch row and the run's best would name weights no
	// checkpoint holds. Diverge before validating; the run loop pauses
	// with the epoch unfinished, so a resume goes back to the checkpoint.
	// Validation (evaluation mode) changes no weight or buffer: the
	// epoch's checkpoint saves the state read here.
	checked, diverged, err := s.checkWeights()
	if err != nil || diverged {
		return err
	}
	ep := EpochInfo{}
	if s.task.Len(datasets.Val) > 0 {
		preds, err := predictSplit(s.task, s.prog, datasets.Val, s.spec.Batch, s.spec.Seed)
		if err != nil {
			return fmt.Errorf("validation: %w", err)
		}
		if ep, err = s.task.Evaluate(datasets.Val, preds); err != nil {
			return fmt.Errorf("validation: %w", err)
		}
		ep.ValLoss = valLoss(s.task, s.prog, s.spec.Batch, s.spec.Seed)
		scoreSamples(ep.Samples) // each comes with its error, stored and published
	}
	ep.Epoch, ep.Step = s.epoch, s.step
	ep.TrainLoss = math.NaN()
	if s.epochLossN > 0 {
		ep.TrainLoss = s.epochLossSum / float64(s.epochLossN)
	}
	s.epochLossSum, s.epochLossN = 0, 0
	score := ep.MPJPE
	if score == 0 {
		score = ep.Pixel
	}
	if score > 0 && (math.IsNaN(s.best) || score < s.best) {
		s.best, s.bestEpoch = score, s.epoch
		ep.Best = true
	}
	s.lastVal = math.NaN() // no validation split: no score, not 0 mm
	if score > 0 {
		s.lastVal = score
	}
	// Kept for viewers in other processes and later sessions: the
	// skeleton views of a stored run. Stored before the epoch's row: a
	// watcher publishes an epoch with the samples stored for it, and one
	// that looked between the two writes published the epoch without
	// them (TestWatchFollowsARunOfAnotherProcess failed so, now and then).
	if err := s.e.st.putSamples(s.spec.ID, ep.Epoch, ep.Step, ep.Samples); err != nil {
		s.publish(Event{Kind: EvLog, Log: "run store: " + err.Error()})
	}
	if err := s.e.st.addEpoch(s.spec.ID, &ep); err != nil {
		s.publish(Event{Kind: EvLog, Log: "run store: " + err.Error()})
	}
	s.epoch++
	s.pos = 0
	s.update(func(ri *RunInfo) {
		ri.Epoch, ri.LastValMPJPE, ri.BestValMPJPE = s.epoch, s.lastVal, s.best
	})
	s.e.mu.Lock()
	s.e.st.updateRun(s.r.info)
	s.e.mu.Unlock()
	s.publish(Event{Kind: EvEpoch, Epoch: &ep})
	return s.saveState(checked, ep.Best)
}

// finish writes the run's outputs (predictions of every split the task can
// predict, from the best checkpoint when there is one).
func (s *session) finish() error {
	s.dropPending()
	bp := CkptPath(s.dir, "best")
	if _, err := os.Stat(bp); err == nil {
		c, err := checkpoints.Load(bp)
		if err != nil {
			return err
		}
		if err := s.prog.SetState(c.State); err != nil {
			return err
		}
		if err := s.task.SetState(c.Task); err != nil {
			return err
		}
	}
	data, err := s.e.dataset(s.spec)
	if err != nil {
		return err
	}
	for _, split := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		if s.task.Len(split) == 0 {
			continue
		}
		preds, err := predictSplit(s.task, s.prog, split, s.spec.Batch, s.spec.Seed)
		if err != nil {
			return fmt.Errorf("outputs %s: %w", split, err)
		}
		digest := ""
		if recs, err := data.Records(split); err == nil {
			digest = datasets.Digest(recs)
		}
		if err := WriteOutputs(s.dir, &Outputs{Run: s.spec.ID, Model: s.spec.Model, Split: split, Data: digest, Preds: preds}); err != nil {
			return fmt.Errorf("outputs %s: %w", split, err)
		}
	}
	s.e.mu.Lock()
	s.e.st.updateRun(s.r.info)
	s.e.mu.Unlock()
	return nil
}
