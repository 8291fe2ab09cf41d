package tui

import (
	"time"

	"poselab/engine"
)

// eventsMsg carries the engine events received during one frame interval:
// events are coalesced so that a fast run costs at most one redraw per
// frame, however many steps it publishes.
type eventsMsg struct {
	events []engine.Event
	closed bool // the subscription ended (engine shut down)
}

// tickMsg refreshes run summaries (ETA, throughput) between events.
type tickMsg time.Time

// actionDoneMsg reports a controller call made off the UI goroutine.
type actionDoneMsg struct {
	what string // past tense, for the status line: "paused run-3"
	err  error
	// stop names the run a stop was asked of: the engine only asks the
	// trainer to stop, which then saves a checkpoint, so "stopped" waits
	// for the run's state to say so.
	stop string
}

// submittedMsg reports a new run (or chain) accepted by the engine.
type submittedMsg struct {
	id  string
	err error
}

// stepsLoadedMsg brings the stored steps stepLoads read off the UI
// goroutine.
type stepsLoadedMsg struct{ loads []*stepLoad }
