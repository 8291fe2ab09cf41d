package engine

import (
	"time"

	"poselab/internal/procmem"
	"poselab/nn"
)

// paceMark is a point the ETA's pace can be measured from.
type paceMark struct {
	at     time.Time
	step   int
	paused time.Duration // the session's pausedFor then
}

// paceWindow is how much of the recent past the ETA's pace covers (at
// least; from an epoch's end, with one more in it, so validations count):
// the session's whole past kept the pace of a busier time (another run
// sharing the CPU) long after it ended, and the ETA read 6m14s where
// 4m46s were left.
var paceWindow = 2 * time.Minute

// markPace notes an epoch's end (after its validation and checkpoint),
// dropping the marks that a newer one at least paceWindow old, with a
// later one after it, replaces.
func (s *session) markPace() {
	if len(s.marks) == 0 {
		return // no pace yet: the first step sets the first mark
	}
	now := time.Now()
	s.marks = append(s.marks, paceMark{at: now, step: s.step, paused: s.pausedFor})
	for len(s.marks) > 2 && now.Sub(s.marks[1].at) >= paceWindow {
		s.marks = s.marks[1:]
	}
}

// eta is the time left at the session's recent pace (from the newest epoch
// end at least paceWindow old that a later one follows, else the whole
// session), validations and checkpoints included; 0 (unknown) until the
// session has a pace. The pace starts after the first step: setting up
// (data, compiling, a checkpoint to load) and the first step (a CUDA
// graph's capture, first touches of memory) are not what the rest will
// take, and counting them made the first ETAs of a 4-minute run read
// hours.
func (s *session) eta() time.Duration {
	if len(s.marks) == 0 {
		return 0
	}
	// Not from the newest epoch end: with epochs longer than the window,
	// the pace since it holds no validation (an ETA of 10-minute epochs
	// read 17 % short).
	now := time.Now()
	m := s.marks[0]
	for i := 1; i < len(s.marks)-1; i++ {
		if now.Sub(s.marks[i].at) >= paceWindow {
			m = s.marks[i]
		}
	}
	steps := s.step - m.step
	if steps <= 0 {
		return 0
	}
	el := now.Sub(m.at) - (s.pausedFor - m.paused)
	per := el.Seconds() / float64(steps)
	return time.Duration(per * float64(s.total-s.step) * float64(time.Second))
}

func (s *session) resource() {
	now := time.Now()
	s.lastResEv = now
	m := s.prog.Memory()
	if m.Used == 0 { // a backend that does not count: the process's memory
		m.Used, m.Host = procmem.RSS(), true
		m.Total, _ = procmem.RAM()
	}
	kind := MemDevice
	if m.Host {
		kind = MemHost
	}
	s.e.mu.Lock()
	dev := s.r.info.Device
	s.e.mu.Unlock()
	res := &Resource{Device: dev, MemUsedBytes: m.Used, MemTotalBytes: m.Total, MemKind: kind, SamplesPerSec: s.rate}
	if u, ok := s.backend.(nn.Utilizer); ok {
		if pct, err := u.Utilization(); err == nil {
			res.GPUUtil = pct
		}
	}
	s.update(func(ri *RunInfo) { ri.Resource, ri.ResourceAt = res, now })
	// The other processes know the run only from the store: they show
	// the sample stored last (watch.go). The first one goes at once,
	// so that they have one while the run's first steps train.
	if s.lastResStore.IsZero() || now.Sub(s.lastResStore) >= resourceStoreEvery {
		s.lastResStore = now
		if err := s.e.st.putResource(s.spec.ID, res, now); err != nil {
			s.publish(Event{Kind: EvLog, Log: err.Error()})
		}
	}
	s.publish(Event{Time: now, Kind: EvResource, Res: res})
}

// publishStep sends the newest step's event if it has not gone out: step
// events are thinned to one per StepEvery, and a run that pauses or stops
// between them must still show viewers the step it stopped at.
func (s *session) publishStep() {
	if !s.unpublished {
		return
	}
	st := s.newest
	s.lastStepEv = time.Now()
	s.publish(Event{Kind: EvStep, Step: &st})
	s.unpublished = false
}

func (s *session) flushSteps() {
	s.lastFlush = time.Now()
	if err := s.e.st.addSteps(s.spec.ID, s.stepRows); err != nil {
		s.publish(Event{Kind: EvLog, Log: "run store: " + err.Error()})
		return
	}
	s.stepRows = s.stepRows[:0]
	// The run's row follows its steps (once a second): other processes
	// list and follow the run from it.
	s.e.mu.Lock()
	s.e.st.updateRun(s.r.info)
	s.e.mu.Unlock()
}
