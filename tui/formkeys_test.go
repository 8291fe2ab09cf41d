package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// typeLagged delivers msgs (keys, pastes) to m, running each one's command
// only after lag more have arrived: lag 0 is slow typing, a lag of len(msgs)
// has every key arrive before any of the form's own messages, as with a
// paste, a fast typist or an SSH link. wait is feedWithin's deadline.
func typeLagged(m *Model, lag int, wait time.Duration, msgs ...tea.Msg) {
	var held []tea.Cmd
	for _, msg := range msgs {
		_, cmd := m.Update(msg)
		held = append(held, cmd)
		if len(held) > lag {
			feedWithin(m, held[0], wait)
			held = held[1:]
		}
	}
	for _, c := range held {
		feedWithin(m, c, wait)
	}
}

func keys(ks ...string) []tea.Msg {
	out := make([]tea.Msg, len(ks))
	for i, k := range ks {
		out[i] = keyMsg(k)
	}
	return out
}

func newRunModel(t *testing.T) (*fakeCtrl, *Model) {
	t.Helper()
	fc := fixture()
	m := New(fc, Options{RunsDir: "/runs"})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	if m.Update(keyMsg("n")); m.form == nil {
		t.Fatal("n opened no form")
	}
	return fc, m
}

// Keys typed before the form's field change has happened land where slow
// typing puts them: the name stays "x", 7 goes to the epochs, and the "?"
// after the submitting Enter reaches the main screen (the help).
func TestNewRunFormKeysBeforeFieldChange(t *testing.T) {
	ks := keys("x", "enter", "enter", "right", "enter", "enter", "enter", "enter", "enter", "7", "enter", "enter", "enter", "enter", "enter", "enter", "?")
	want := "submit run-4 model=sh preset=tiny pipeline= after= epochs=7 seed=1 lr=0"
	for _, lag := range []int{0, 1, len(ks)} {
		fc, m := newRunModel(t)
		typeLagged(m, lag, 100*time.Millisecond, ks...)
		calls := fc.callLog()
		if len(calls) != 1 || calls[0] != want || m.newRun.name != "x" {
			t.Fatalf("lag %d: calls %q, name %q; want %q, name \"x\"", lag, calls, m.newRun.name, want)
		}
		if m.form != nil || !m.help || m.wait.from != nil || len(m.wait.queue) != 0 {
			t.Fatalf("lag %d: form open %v, help %v, wait %+v", lag, m.form != nil, m.help, m.wait)
		}
	}
}

// The export form's file field gets the whole path, typed or pasted right
// after the Enters that leave the split and format selects.
func TestExportFormKeysBeforeFieldChange(t *testing.T) {
	typed := append(keys("enter", "enter"), keys(strings.Split("/tmp/p.csv", "")...)...)
	pasted := append(keys("enter", "right", "enter"), tea.PasteMsg{Content: "/tmp/q.json"})
	for _, c := range []struct {
		msgs []tea.Msg
		want string
	}{
		{append(typed, keyMsg("enter")), "val csv /tmp/p.csv"},
		{append(pasted, keyMsg("enter")), "val json /tmp/q.json"},
	} {
		for _, lag := range []int{0, 1, len(c.msgs)} {
			fc := fixture()
			m := New(fc, Options{RunsDir: "/runs"})
			m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
			id := m.selID
			m.Update(keyMsg("e"))
			typeLagged(m, lag, 100*time.Millisecond, c.msgs...)
			if calls := fc.callLog(); len(calls) != 1 || calls[0] != "export "+id+" "+c.want {
				t.Fatalf("lag %d: calls %q, want export %s %s", lag, calls, id, c.want)
			}
		}
	}
}

// An Enter refused for an invalid value ("z" as epochs) moves nothing and
// holds nothing back: the following keys edit the same field, as when
// typed slowly, and the run is submitted with epochs 5.
func TestFormKeysAfterRefusedEnter(t *testing.T) {
	ks := keys("x", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "z", "enter", "backspace", "5", "enter", "enter", "enter", "enter", "enter", "enter")
	want := "submit run-4 model=sb preset=tiny pipeline= after= epochs=5 seed=1 lr=0"
	for _, lag := range []int{0, len(ks)} {
		fc, m := newRunModel(t)
		typeLagged(m, lag, 100*time.Millisecond, ks...)
		if calls := fc.callLog(); len(calls) != 1 || calls[0] != want || m.newRun.name != "x" {
			t.Fatalf("lag %d: calls %q, name %q", lag, calls, m.newRun.name)
		}
	}
	// Directly: on the epochs field, "z" Enter leaves no wait behind.
	_, m := newRunModel(t)
	typeLagged(m, 0, 100*time.Millisecond, keys("enter", "enter", "enter", "enter", "enter", "enter", "enter", "z")...)
	m.Update(keyMsg("enter"))
	if m.wait.from != nil || !strings.Contains(screen(m, 120, 40), "a whole number") {
		t.Fatalf("refused Enter: wait %+v, no error shown", m.wait)
	}
}

// When the field change a key asked for never comes (huh v2.0.3 always
// sends it, or returns no command; this guards the wait), the held keys
// are released by the fallback tick: here the NextField message of the
// Enter is dropped and only the tick is delivered.
func TestFormKeysReleasedWithoutFieldChange(t *testing.T) {
	defer func(w time.Duration) { formKeyWait = w }(formKeyWait)
	formKeyWait = time.Second // over the cursor blink (530 ms), which this test tells from the tick by time
	_, m := newRunModel(t)
	var enter tea.Cmd
	for _, k := range keys("x", "enter", "a", "b") {
		if _, cmd := m.Update(k); k == keyMsg("enter") {
			enter = cmd
		}
	}
	if len(m.wait.queue) != 2 {
		t.Fatalf("%d keys held after enter, want 2", len(m.wait.queue))
	}
	batch, _ := enter().(tea.BatchMsg)
	ticks := 0
	for _, c := range batch {
		done := make(chan tea.Msg, 1)
		go func() { done <- c() }()
		select {
		case msg := <-done:
			if f, ok := msg.(formFlushMsg); ok {
				ticks++
				m.Update(f)
			}
		case <-time.After(formKeyWait + 500*time.Millisecond): // the cursor blink comes sooner
		}
	}
	if ticks != 1 || m.form == nil || m.newRun.name != "xab" || m.wait.from != nil || len(m.wait.queue) != 0 {
		t.Fatalf("%d ticks; name %q, wait %+v", ticks, m.newRun.name, m.wait)
	}
}

// esc cancels at once even with keys held; they are dropped, not sent to
// the main screen ("d" there would ask to delete the selected run).
func TestFormEscDropsHeldKeys(t *testing.T) {
	fc, m := newRunModel(t)
	var cmds []tea.Cmd
	for _, k := range keys("x", "enter", "d", "esc") {
		_, cmd := m.Update(k)
		cmds = append(cmds, cmd)
	}
	if m.form != nil || m.status != "cancelled" || m.wait.from != nil || len(m.wait.queue) != 0 {
		t.Fatalf("after esc: form open %v, status %q, wait %+v", m.form != nil, m.status, m.wait)
	}
	for _, c := range cmds {
		feed(m, c)
	}
	if m.form != nil || m.confirm != nil || len(fc.callLog()) != 0 {
		t.Fatalf("after the pending messages: form open %v, confirm %v, calls %q", m.form != nil, m.confirm != nil, fc.callLog())
	}
}

// The same in a running Bubble Tea program: the keys are sent at once,
// ahead of the messages of the form's commands.
func TestNewRunFormKeysInProgram(t *testing.T) {
	fc := fixture()
	tm := teatest.NewTestModel(t, New(fc, Options{}), teatest.WithInitialTermSize(120, 40))
	tm.Send(keyMsg("n"))
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return strings.Contains(string(b), "New run") },
		teatest.WithDuration(time.Minute)) // its default, 1 s, a loaded machine can take to draw
	for _, k := range keys("x", "enter", "enter", "right", "enter", "enter", "enter", "enter", "enter", "7", "enter", "enter", "enter", "enter", "enter", "enter") {
		tm.Send(k)
	}
	deadline := time.Now().Add(time.Minute)
	for len(fc.callLog()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	tm.Send(keyMsg("q"))
	tm.Send(keyMsg("s"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(time.Minute))
	want := "submit run-4 model=sh preset=tiny pipeline= after= epochs=7 seed=1 lr=0"
	if calls := fc.callLog(); len(calls) != 1 || calls[0] != want {
		t.Fatalf("calls %q, want %q", calls, want)
	}
}

// The new-run form's two columns share the form's width from the start:
// until a window size message came after it opened (none does in a
// `poselab serve` session), each column was as wide as the whole form,
// and the dialog ran off the right edge of the screen.
func TestNewRunFormFitsItsWidthWhenOpened(t *testing.T) {
	_, m := newRunModel(t)
	w := 0
	for _, l := range strings.Split(m.form.View(), "\n") {
		w = max(w, lipgloss.Width(l))
	}
	if w > m.formWidth() {
		t.Fatalf("the form is %d wide, its width is %d:\n%s", w, m.formWidth(), m.form.View())
	}
}

// TF32 "on" with device cpu does not trap the focus: shift+tab goes back
// to Device (a field check on the select refused leaving it either way),
// and the engine refuses the combination only if it is submitted.
func TestTF32FieldDoesNotTrapTheFocus(t *testing.T) {
	_, m := newRunModel(t)
	typeLagged(m, 0, 100*time.Millisecond, keys("enter", "enter", "enter", "enter", "enter", "right", "shift+tab")...)
	if m.newRun.tf32 != "on" {
		t.Fatalf("tf32 %q, want on", m.newRun.tf32)
	}
	if out := screen(m, 120, 40); !strings.Contains(out, "┃ Device") {
		t.Fatalf("shift+tab from TF32 did not reach Device:\n%s", out)
	}
}

// The preset field offers the chosen model's presets, as the engine
// registered them: IR's after tiny is seed (it offered SB's "small" for
// every model, which the engine then refused); pipeline D offers what
// both its stages (SH, SB) have, so no "small" either.
func TestNewRunFormOffersTheModelsPresets(t *testing.T) {
	_, m := newRunModel(t)
	// name, pipeline (single model), model: sb -> sh -> ir, preset: one on.
	typeLagged(m, 0, 100*time.Millisecond, keys("enter", "enter", "right", "right", "enter", "right")...)
	if m.newRun.model != "ir" || m.newRun.preset != "seed" {
		t.Fatalf("model %q preset %q, want ir and seed (after tiny)", m.newRun.model, m.newRun.preset)
	}
	for range 5 { // round the options: tiny, seed, test, tiny, ...
		typeLagged(m, 0, 100*time.Millisecond, keyMsg("right"))
		if p := m.newRun.preset; p == "small" || p == "seed-n1" {
			t.Fatalf("IR offered preset %q", p)
		}
	}

	_, m = newRunModel(t)
	// pipeline: single -> C -> D; Enter passes over Model (n/a for a pipeline) to Preset.
	typeLagged(m, 0, 100*time.Millisecond, keys("enter", "right", "right", "enter")...)
	seen := map[string]bool{}
	for range 6 {
		typeLagged(m, 0, 100*time.Millisecond, keyMsg("right"))
		seen[m.newRun.preset] = true
	}
	if m.newRun.pipeline != "D" || seen["small"] || !seen["seed"] || !seen["test"] || !seen["tiny"] {
		t.Fatalf("pipeline %q offered presets %v, want tiny, seed, test", m.newRun.pipeline, seen)
	}
}
