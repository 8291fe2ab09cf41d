package tui

import (
	tea "charm.land/bubbletea/v2"
	"charm.land/huh/v2"
)

// unlessField is a form field that applies only while applies() holds:
// otherwise it reads "n/a" with why, and huh's navigation (Enter, Tab,
// Shift+Tab: huh's own key map, unchanged) passes over it, as it passes
// over any field whose Skip is true. Its value stays where the field
// keeps it, so it comes back as it was once the field applies again.
//
// The new-run form's Model and Init from do not apply to a pipeline: its
// stages have their own models, and the engine refuses an init for them;
// shown and editable, they took typing that did nothing or was refused.
type unlessField struct {
	huh.Field
	applies func() bool
	title   string // the field's title, kept in its place
	why     string // shown instead of its value
	theme   huh.Theme
	width   int
	dark    bool
}

func unless(f huh.Field, applies func() bool, title, why string) *unlessField {
	return &unlessField{Field: f, applies: applies, title: title, why: why}
}

// Skip: huh's groups move past a skipped field.
func (f *unlessField) Skip() bool { return !f.applies() || f.Field.Skip() }

func (f *unlessField) Update(msg tea.Msg) (huh.Model, tea.Cmd) {
	if bg, ok := msg.(tea.BackgroundColorMsg); ok {
		f.dark = bg.IsDark()
	}
	m, cmd := f.Field.Update(msg)
	f.Field = m.(huh.Field)
	return f, cmd // the group keeps this wrapper, not the field inside
}

// View keeps the field's two lines (title, value), so the form's layout
// does not jump as the pipeline changes.
func (f *unlessField) View() string {
	if f.applies() || f.theme == nil {
		return f.Field.View()
	}
	st := f.theme.Theme(f.dark).Blurred
	dim := st.TextInput.Placeholder
	return st.Base.Width(f.width).Render(dim.Render(f.title) + "\n" + dim.Render("n/a: "+f.why))
}

// The With* setters return the wrapper (a group sets them and keeps what
// it built, and the form compares focused fields by identity).

func (f *unlessField) WithTheme(t huh.Theme) huh.Field {
	f.theme = t
	f.Field = f.Field.WithTheme(t)
	return f
}

func (f *unlessField) WithKeyMap(k *huh.KeyMap) huh.Field {
	f.Field = f.Field.WithKeyMap(k)
	return f
}

func (f *unlessField) WithWidth(w int) huh.Field {
	f.width = w
	f.Field = f.Field.WithWidth(w)
	return f
}

func (f *unlessField) WithHeight(h int) huh.Field {
	f.Field = f.Field.WithHeight(h)
	return f
}

func (f *unlessField) WithPosition(p huh.FieldPosition) huh.Field {
	f.Field = f.Field.WithPosition(p)
	return f
}
