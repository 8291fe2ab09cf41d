package engine

import (
	"sync"
	"time"
)

// hub fans events out to any number of subscribers without ever blocking
// the publisher (the training loop). Each subscriber gets its own queue
// drained by its own goroutine; when a queue holds more than
// subQueueSteps events, new step and resource events are dropped for that
// subscriber (epoch, state, checkpoint and log events are always kept).
// The hub also keeps the history that late subscribers receive first.
type hub struct {
	mu      sync.Mutex
	seq     int64
	history []Event
	steps   int // step/resource events in history
	subs    map[*subscriber]struct{}
}

// Limits of the hub.
const (
	subQueueSteps   = 256   // per-subscriber backlog beyond which step events are dropped
	historyMaxSteps = 20000 // step events kept in history (the run store keeps all)
)

type subscriber struct {
	mu     sync.Mutex
	queue  []Event
	wake   chan struct{}
	out    chan Event
	done   chan struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

func droppable(k EventKind) bool { return k == EvStep || k == EvResource }

// publish stamps and distributes an event; it never blocks on subscribers.
func (h *hub) publish(ev Event) Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev.Seq = h.seq
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	h.history = append(h.history, ev)
	if droppable(ev.Kind) {
		h.steps++
		if h.steps > historyMaxSteps {
			h.compact()
		}
	}
	for s := range h.subs {
		s.push(ev)
	}
	return ev
}

// compact drops the older half of the step events from the history.
func (h *hub) compact() {
	drop := h.steps / 2
	kept := h.history[:0]
	for _, e := range h.history {
		if droppable(e.Kind) && drop > 0 {
			drop--
			h.steps--
			continue
		}
		kept = append(kept, e)
	}
	h.history = kept
}

func (h *hub) subscribe() ([]Event, <-chan Event, func()) {
	s := &subscriber{wake: make(chan struct{}, 1), out: make(chan Event, 64), done: make(chan struct{})}
	h.mu.Lock()
	hist := append([]Event(nil), h.history...)
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go s.pump()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.mu.Unlock()
			s.mu.Lock()
			s.closed = true
			s.queue = nil
			s.mu.Unlock()
			close(s.done)
		})
	}
	return hist, s.out, cancel
}

func (s *subscriber) push(ev Event) {
	s.mu.Lock()
	if s.closed || (droppable(ev.Kind) && len(s.queue) >= subQueueSteps) {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// pump moves queued events to the subscriber's channel at its own pace and
// closes the channel when the subscription is cancelled.
func (s *subscriber) pump() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.done:
			return
		}
	}
}
