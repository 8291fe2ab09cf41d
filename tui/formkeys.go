package tui

import (
	"reflect"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
)

// Keys typed right after Enter must not land in the field being left.
//
// A huh field does not move the focus when it sees Enter (or Tab,
// Shift+Tab): it returns a command whose message (NextField, then
// nextGroup at the end of a column) moves it when Bubble Tea delivers that
// message. Keys already on their way, pasted text, a fast typist or an SSH
// link, reach the form first and are typed into the old field ("x⏎7" gave
// the name "x7"). So after such a key the form's keys and pastes wait in
// formWait.queue until the focus has moved or the form closed, and are then
// replayed in order, as if typed slowly. A key that huh refuses (an
// invalid value, Shift+Tab on the first field) returns no command and
// starts no wait; should a change still not come, a short tick releases
// the keys. esc cancels at once and drops them.

// formNavKeys are the keys with which huh's inputs and selects ask for a
// field change (our forms use huh's default key map).
var formNavKeys = func() []key.Binding {
	km := huh.NewDefaultKeyMap()
	return []key.Binding{km.Input.Next, km.Input.Prev, km.Select.Next, km.Select.Prev}
}()

// formKeyWait bounds how long keys wait for a field change that does not
// come. A real one arrives within milliseconds on an idle machine, but a
// busy one (training on every core) can take well over 150 ms to deliver
// a command's message; with a 150 ms bound, keys were released early into
// the field being left (TestNewRunFormKeysInProgram failed 2 runs in 8),
// and with 1 s they still were on a loaded machine (it failed 2 runs in 2
// beside two busy loops, under nice). The bound only matters if huh ever
// asks for a change and does not make it (v2.0.3 does not), so it is
// generous: keys held that long then beat keys typed into the wrong field
// (a var for tests).
var formKeyWait = 5 * time.Second

type formWait struct {
	from  huh.Field // the focused field when the change was asked for; nil: no wait
	gen   int       // tells this wait's fallback tick from older ones
	queue []tea.Msg // key presses and pastes held back, in order
}

// formFlushMsg is the fallback tick of wait gen.
type formFlushMsg struct{ gen int }

// holdFormKey queues msg when the form waits for a field change.
func (m *Model) holdFormKey(msg tea.Msg) bool {
	switch msg.(type) {
	case tea.KeyPressMsg, tea.PasteMsg:
		if m.wait.from != nil {
			m.wait.queue = append(m.wait.queue, msg)
			return true
		}
	}
	return false
}

// afterFormMsg starts a wait when msg was a navigation key whose field change
// is still to come, or ends one when the focus has moved or the form closed.
// from is the field focused before msg; cmd is what the form returned.
func (m *Model) afterFormMsg(msg tea.Msg, from huh.Field, cmd tea.Cmd) tea.Cmd {
	if m.wait.from != nil {
		if m.form == nil || m.form.GetFocusedField() != m.wait.from {
			return tea.Batch(cmd, m.replayFormKeys())
		}
		return cmd
	}
	k, ok := msg.(tea.KeyPressMsg)
	if !ok || cmd == nil || m.form == nil || m.form.GetFocusedField() != from || !key.Matches(k, formNavKeys...) {
		return cmd // no command: a refused Enter (invalid value) moves nothing
	}
	m.wait.gen++
	m.wait.from = from
	gen := m.wait.gen
	return tea.Batch(cmd, tea.Tick(formKeyWait, func(time.Time) tea.Msg { return formFlushMsg{gen} }))
}

// replayFormKeys delivers the held keys in order, to the form or, once it
// has closed, to the main screen; when one of them asks for another field
// change, the rest wait for that one.
func (m *Model) replayFormKeys() tea.Cmd {
	q := m.wait.queue
	m.wait.from, m.wait.queue = nil, nil
	var cmds []tea.Cmd
	for i, msg := range q {
		if m.wait.from != nil {
			m.wait.queue = append(m.wait.queue, q[i:]...)
			break
		}
		_, cmd := m.Update(msg)
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

// formMsg is the message of a form's own command, tagged with the form.
// huh's field changes travel as messages that name no form, so one still
// in flight when a form closes (Enter, esc and e typed in one burst) would
// otherwise move the focus of, or even submit, the form opened next.
type formMsg struct {
	form *huh.Form
	msg  tea.Msg
}

// tagged wraps a form's command so that its message comes back as a
// formMsg from that form.
func tagged(f *huh.Form, cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() tea.Msg { return formMsg{form: f, msg: cmd()} }
}

// untag delivers a form's message to it while it is the open form, and
// drops it otherwise. A batch's commands are tagged in turn; Bubble Tea's
// own messages (window size requests and the like) go back to the
// runtime, which acts on them.
func (m *Model) untag(fm formMsg) tea.Cmd {
	if fm.form != m.form || m.form == nil || fm.msg == nil {
		return nil
	}
	switch msg := fm.msg.(type) {
	case tea.BatchMsg:
		cmds := make([]tea.Cmd, len(msg))
		for i, c := range msg {
			cmds[i] = tagged(fm.form, c)
		}
		return tea.Batch(cmds...)
	}
	if reflect.TypeOf(fm.msg).PkgPath() == reflect.TypeOf(tea.BatchMsg{}).PkgPath() {
		return func() tea.Msg { return fm.msg }
	}
	return m.updateForm(fm.msg)
}
