package tui

import (
	"errors"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"poselab/engine"
)

// The keys a read-only session must refuse, written out by hand (not read
// from the key table) so that a binding that loses its mark fails here.
var refusedKeys = []struct{ key, word string }{
	{"n", "new"}, {"c", "chain"}, {"p", "pause"}, {"r", "resume"},
	{"s", "stop"}, {"e", "export"}, {"d", "delete"},
}

func TestKeyMapMarksExactlyTheMutatingKeys(t *testing.T) {
	want := map[string]bool{}
	for _, k := range refusedKeys {
		want[k.key] = true
	}
	for _, g := range keyMap {
		for _, b := range g.bindings {
			k := b.key.Keys()[0]
			if b.mutates != want[k] {
				t.Errorf("key %q (%s): mutates=%v, want %v", k, b.key.Help().Desc, b.mutates, want[k])
			}
		}
	}
}

// Every mutating key is refused with a message naming it, opens no form
// or question, returns no command and never reaches the controller; the
// same keys in a normal session do reach it.
func TestReadOnlyRefusesMutatingKeys(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{ReadOnly: true, Remote: true})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	for _, sel := range []string{"sb-demo", "sb-next", "sb-lr3"} { // running, queued, finished
		m.selID = sel
		for _, k := range refusedKeys {
			_, cmd := m.Update(keyMsg(k.key)) // not run: a form's command would blink on
			want := "read-only session: " + k.key + " (" + k.word + ") is not available"
			if cmd != nil || m.form != nil || m.confirm != nil || m.status != want || !m.statusErr {
				t.Fatalf("%s on %s: cmd %v, form %v, confirm %v, status %q (error %v); want %q", k.key, sel,
					cmd != nil, m.form != nil, m.confirm != nil, m.status, m.statusErr, want)
			}
			if got := screen(m, 120, 40); !strings.Contains(got, want) {
				t.Fatalf("%s: the status line does not show the refusal:\n%s", k.key, got)
			}
		}
		m.Update(keyMsg("y")) // would confirm a delete had one been asked
	}
	if calls := fc.callLog(); len(calls) != 0 {
		t.Fatalf("a read-only session reached the controller: %q", calls)
	}
	// Control: the same keys in a normal session do act.
	nc := fixture()
	n := New(nc, Options{Remote: true})
	pressRun(n, "p", "r", "s")
	if calls := nc.callLog(); len(calls) != 3 {
		t.Fatalf("normal session: calls %q", calls)
	}
	n.Update(keyMsg("n"))
	if n.form == nil {
		t.Fatal("normal session: n opened no form")
	}
}

// The second wall: the controller of a read-only session refuses every
// changing call itself, and still reads through (runs, stored history).
func TestReadOnlyControllerRefusesCalls(t *testing.T) {
	fc := &storedFake{fakeCtrl: newFake()}
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "old", Model: "sb", Preset: "tiny", Epochs: 1}, State: engine.Finished}, engine.Schedule{})
	m := New(fc, Options{ReadOnly: true})
	c := m.ctrl
	_, err := c.Submit(engine.Spec{Model: "sb"})
	_, exportErr := c.Export("old", "val", "csv", "/tmp/x.csv")
	errs := []error{err, c.Pause("old"), c.Resume("old"), c.Stop("old"), c.Delete("old"), exportErr}
	for i, err := range errs {
		if !errors.Is(err, errReadOnly) {
			t.Fatalf("call %d: err %v, want errReadOnly", i, err)
		}
	}
	if calls := fc.callLog(); len(calls) != 0 {
		t.Fatalf("calls reached the engine: %q", calls)
	}
	if len(c.Runs()) != 1 {
		t.Fatalf("runs: %v", c.Runs())
	}
	// The stored steps of a run no event described are still loaded
	// (when it is drawn).
	screen(m, 120, 40)
	if got := len(m.st.run("old").step); got != 3 {
		t.Fatalf("%d stored steps loaded, want 3", got)
	}
}

// storedFake is a fake engine that also keeps stored history.
type storedFake struct{ *fakeCtrl }

func (storedFake) Steps(string) ([]engine.StepPoint, error) {
	return []engine.StepPoint{{Step: 0, Loss: 1}, {Step: 1, Loss: 0.5}, {Step: 2, Loss: 0.25}}, nil
}
func (storedFake) Epochs(string) ([]engine.EpochInfo, error) { return nil, nil }

// Viewing keys and the mouse do in a read-only session what they do in a
// normal one.
func TestReadOnlyViewingKeysWork(t *testing.T) {
	ro := New(fixture(), Options{ReadOnly: true, Remote: true})
	rw := New(fixture(), Options{Remote: true})
	keys := []string{"down", "space", "up", "+", "+", "left", "[", "g", "x", "v", "2", "o", "3", ".", "<", "t", "tab", "pgup", "pgup", "pgdown", "tab", "f", "a"}
	for _, m := range []*Model{ro, rw} {
		m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		press(m, keys...)
	}
	if ro.tab != rw.tab || ro.selID != rw.selID || ro.cv != rw.cv || ro.sk != rw.sk || ro.jSorted != rw.jSorted || ro.lg.off != rw.lg.off ||
		(ro.frozen == nil) != (rw.frozen == nil) || len(ro.marked) != len(rw.marked) {
		t.Fatalf("read-only view state differs:\n%+v %+v %+v\n%+v %+v %+v", ro.cv, ro.sk, ro.tab, rw.cv, rw.sk, rw.tab)
	}
	// ...and the keys did something (hand-checked against the sequence).
	if ro.tab != tabCurves || ro.cv.zoom != 2.25 || ro.cv.smooth != 4 || !ro.cv.logY || ro.cv.x != 1 || !ro.cv.valX ||
		!ro.jSorted || ro.sk.sample != 1 || ro.sk.yaw != -15 || ro.sk.layers != 1 || ro.frozen == nil || len(ro.marked) != 3 ||
		ro.lg.off != ro.logPage() {
		t.Fatalf("viewing keys: cv %+v sk %+v tab %d sorted %v frozen %v marked %v", ro.cv, ro.sk, ro.tab, ro.jSorted, ro.frozen != nil, ro.marked)
	}
	// Help opens and closes.
	press(ro, "?")
	if !ro.help {
		t.Fatal("? did not open the help")
	}
	press(ro, "?")
	// The mouse finds the tabs where they are drawn (the badge moves them).
	first := strings.Split(screen(ro, 120, 40), "\n")[0]
	x := ansi.StringWidth(first[:strings.Index(first, "2 Joints")])
	ro.Update(tea.MouseClickMsg{X: x + 1, Y: 0, Button: tea.MouseLeft})
	if ro.tab != tabJoints {
		t.Fatalf("click on %q at x=%d: tab %d", first, x+1, ro.tab)
	}
	ro.Update(tea.MouseClickMsg{X: 10, Y: 2, Button: tea.MouseLeft}) // first list row
	if ro.selID != "sb-lr3" {
		t.Fatalf("click selected %q", ro.selID)
	}
}

// Quitting a read-only session with active runs neither asks nor stops
// them.
func TestReadOnlyQuitLeavesRunsAlone(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		fc := fixture()
		m := New(fc, Options{ReadOnly: true, Remote: true})
		msg := tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
		if k == "q" {
			msg = keyMsg("q")
		}
		_, cmd := m.Update(msg)
		if cmd == nil || m.confirm != nil || cmd() != tea.Quit() {
			t.Fatalf("%s: confirm %v, cmd %v; want to quit at once", k, m.confirm != nil, cmd != nil)
		}
		if m.QuitChoice() != QuitKeepRuns || len(fc.callLog()) != 0 {
			t.Fatalf("%s: choice %d, calls %q", k, m.QuitChoice(), fc.callLog())
		}
	}
}

// The help and the hint line of a read-only session leave the refused keys
// out; a normal session's show them; the header says "read-only".
func TestReadOnlyHelpAndHintsLeaveOutRefusedKeys(t *testing.T) {
	for _, ro := range []bool{false, true} {
		m := New(fixture(), Options{ReadOnly: ro, Remote: true})
		scr := screen(m, 160, 50)
		if got := strings.Contains(strings.Split(scr, "\n")[0], "read-only"); got != ro {
			t.Fatalf("read-only %v: header %q", ro, strings.Split(scr, "\n")[0])
		}
		if got := strings.Contains(m.View().WindowTitle, "read-only"); got != ro {
			t.Fatalf("read-only %v: window title %q", ro, m.View().WindowTitle)
		}
		for _, tb := range []string{"1", "2", "3"} {
			press(m, tb)
			hints := ansi.Strip(m.hintLine(200))
			for _, k := range []struct{ key, word string }{{"n", "new"}, {"p", "pause"}, {"r", "resume"}, {"s", "stop"}} {
				if got := strings.Contains(hints, " "+k.key+" "+k.word+" "); got == ro {
					t.Fatalf("read-only %v, tab %s: hint %q has %q: %v", ro, tb, hints, k.word, got)
				}
			}
			if !strings.Contains(hints, "? help") || !strings.Contains(hints, "q quit") {
				t.Fatalf("tab %s: hint line lost help/quit: %q", tb, hints)
			}
		}
		press(m, "?")
		help := screen(m, 200, 60)
		for _, desc := range []string{"new run (form)", "chain: new run after", "pause the selected run", "resume or start",
			"stop the selected run", "export predictions", "delete the selected run", "asks about active runs"} {
			if got := strings.Contains(help, desc); got == ro {
				t.Fatalf("read-only %v: help has %q: %v\n%s", ro, desc, got, help)
			}
		}
		for _, desc := range []string{"select next run", "zoom in on steps", "more EMA smoothing", "rotate the views left"} {
			if !strings.Contains(help, desc) {
				t.Fatalf("read-only %v: help lacks %q\n%s", ro, desc, help)
			}
		}
		if got := strings.Contains(help, "quit (runs keep training)"); got != ro {
			t.Fatalf("read-only %v: viewer's quit text shown: %v", ro, got)
		}
	}
	// An empty read-only workbench does not invite the viewer to press n.
	empty := screen(New(newFake(), Options{ReadOnly: true}), 120, 30)
	if strings.Contains(empty, "press n") || strings.Contains(empty, "Press n") || !strings.Contains(empty, "No runs yet") {
		t.Fatalf("empty read-only screen:\n%s", empty)
	}
}

// The terminal's title tells a user in another tab how training goes: the
// selected running run's progress and time left, and how many more run.
func TestWindowTitleShowsProgress(t *testing.T) {
	m := New(fixture(), Options{Title: "poselab"})
	if got, want := m.View().WindowTitle, "poselab · sb-demo 59% ETA 1m34s"; got != want {
		t.Fatalf("title %q, want %q", got, want)
	}
	m.selID = "sb-lr3" // finished: the running one stays in the title
	if got := m.View().WindowTitle; !strings.Contains(got, "sb-demo 59%") {
		t.Fatalf("title %q", got)
	}
}
