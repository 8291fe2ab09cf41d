package tui

import "testing"

// huh's own field-change messages name no form: one still in flight when
// esc closes form A must not reach form B opened right after (keys sent in
// one burst: Enter, esc, e). Here the new-run form's Enter asks for
// NextField, esc cancels, e opens the export form, and the late NextField
// must leave the export form's focus where it was (formMsg tags it).
func TestStaleFieldChangeDoesNotReachNextForm(t *testing.T) {
	_, m := newRunModel(t)
	m.Update(keyMsg("x"))
	_, enter := m.Update(keyMsg("enter"))
	m.Update(keyMsg("esc"))
	m.Update(keyMsg("e"))
	if m.form == nil || m.formFor != formExport {
		t.Fatal("e opened no export form")
	}
	first := m.form.GetFocusedField()
	feed(m, enter) // A's NextField (and the fallback tick) arrive now
	if m.form == nil || m.form.GetFocusedField() != first {
		t.Fatalf("a message of the cancelled form changed the export form (form open %v)", m.form != nil)
	}
}
