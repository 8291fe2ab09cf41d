package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// TestFormsFitNarrowTerminals: a form's box must fit the terminal; its
// one-line footer (68 cells) used to widen the box past a 60-column
// terminal, so every line of it was cut and its right side was lost.
func TestFormsFitNarrowTerminals(t *testing.T) {
	for _, w := range []int{40, 60, 76} {
		for _, k := range []string{"n", "c", "e"} {
			m := New(fixture(), Options{RunsDir: "/tmp/runs"})
			m.Update(tea.WindowSizeMsg{Width: w, Height: 40})
			press(m, k)
			out := screen(m, w, 40)
			checkBlock(t, out, w, 40)
			if !strings.Contains(out, "╮") || !strings.Contains(out, "╯") {
				t.Fatalf("%d columns, form %q: the box's right edge is cut:\n%s", w, k, out)
			}
			for i, l := range strings.Split(out, "\n") {
				if strings.HasSuffix(l, "…") && strings.Contains(l, "│") {
					t.Fatalf("%d columns, form %q: line %d is cut: %q\n%s", w, k, i, l, out)
				}
			}
		}
	}
}

// TestHelpScrollStopsAtTheEnd: scrolling the help past its end must not
// pile up presses that up then has to undo before the view moves, and a
// help opened again starts at the top.
func TestHelpScrollStopsAtTheEnd(t *testing.T) {
	m := New(fixture(), Options{})
	m.Update(tea.WindowSizeMsg{Width: 40, Height: 12})
	press(m, "?")
	top := screen(m, 40, 12)
	for i := 0; i < 200; i++ {
		press(m, "j")
	}
	end := screen(m, 40, 12)
	if end == top {
		t.Fatal("the help did not scroll at 40x12")
	}
	press(m, "k")
	if screen(m, 40, 12) == end {
		t.Fatal("up after scrolling past the end did not move the help")
	}
	press(m, "esc", "?")
	if screen(m, 40, 12) != top {
		t.Fatal("the help opened again does not start at the top")
	}
}
