package tui

import (
	"time"

	tea "charm.land/bubbletea/v2"

	"poselab/engine"
)

// frameInterval is how long events are gathered into one message: about
// 12 redraws per second at most, whatever the step rate.
const frameInterval = 80 * time.Millisecond

// maxBatch bounds one message so that a burst cannot stall the UI.
const maxBatch = 20000

// waitEvents reads the subscription off the UI goroutine: it blocks for the
// first event, then keeps what else arrives within one frame. The engine
// never waits for the TUI (its channel drops step events when full).
func waitEvents(ch <-chan engine.Event) tea.Cmd {
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		ev, ok := <-ch
		if !ok {
			return eventsMsg{closed: true}
		}
		batch := []engine.Event{ev}
		deadline := time.NewTimer(frameInterval)
		defer deadline.Stop()
		for len(batch) < maxBatch {
			select {
			case ev, ok := <-ch:
				if !ok {
					return eventsMsg{events: batch, closed: true}
				}
				batch = append(batch, ev)
			case <-deadline.C:
				return eventsMsg{events: batch}
			}
		}
		return eventsMsg{events: batch}
	}
}

// tickEvery refreshes the run summaries once a second.
func tickEvery() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}
