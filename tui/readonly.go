package tui

import (
	"errors"
	"fmt"

	"poselab/engine"
)

// A read-only session (Options.ReadOnly) watches runs without changing
// them. Two walls keep it from the engine: do refuses every key the key
// table marks as mutating, with a message that names the key, before any
// form, question or call is made; and the session's controller is wrapped
// in viewOnly, which refuses every changing call, so that no other code
// path (a future action, a form left over) can reach the engine either.

// errReadOnly is what viewOnly answers to every changing call.
var errReadOnly = errors.New("read-only session: runs cannot be changed")

// viewOnly reads through to the engine and refuses everything else. It
// names every method instead of embedding the controller, so that a
// method added to engine.Controller later fails to compile here until
// someone decides which side it is on.
type viewOnly struct{ c engine.Controller }

func (v viewOnly) Runs() []engine.RunInfo                     { return v.c.Runs() }
func (v viewOnly) Run(id string) (engine.RunInfo, bool)       { return v.c.Run(id) }
func (v viewOnly) Schedule(id string) (engine.Schedule, bool) { return v.c.Schedule(id) }
func (v viewOnly) Subscribe() ([]engine.Event, <-chan engine.Event, func()) {
	return v.c.Subscribe()
}

var _ engine.Controller = viewOnly{}

func (viewOnly) Submit(engine.Spec) (string, error) { return "", errReadOnly }
func (viewOnly) Pause(string) error                 { return errReadOnly }
func (viewOnly) Resume(string) error                { return errReadOnly }
func (viewOnly) Stop(string) error                  { return errReadOnly }
func (viewOnly) Delete(string) error                { return errReadOnly }
func (viewOnly) Export(_, _, _, _ string) (engine.ExportInfo, error) {
	return engine.ExportInfo{}, errReadOnly
}

// refusal is the status line's answer to a mutating key in a read-only
// session, e.g. "read-only session: p (pause) is not available".
func refusal(a action) string {
	b := bindingOf(a)
	return fmt.Sprintf("read-only session: %s (%s) is not available", b.key.Keys()[0], b.short)
}
