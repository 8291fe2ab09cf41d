package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
)

// screen renders the model at a size as plain text (colour profile pinned
// to none by stripping the escape codes).
func screen(m *Model, w, h int) string {
	// A size message returns no command but the stored steps' reads
	// (stepLoads), done here before the frame as the program would soon.
	_, cmd := m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	for cmd != nil {
		_, cmd = m.Update(cmd())
	}
	finishLoads(m)
	return ansi.Strip(m.render())
}

// finishLoads does the stored steps' reads planned by Updates whose
// commands a test dropped (press, an events message), as the program
// runs them.
func finishLoads(m *Model) {
	for again := true; again; {
		again = false
		for _, id := range m.st.order {
			if r := m.st.runs[id]; r != nil && r.loading != nil {
				l := r.loading
				l.read(m.hist)
				_, cmd := m.Update(stepsLoadedMsg{loads: []*stepLoad{l}})
				for cmd != nil {
					_, cmd = m.Update(cmd())
				}
				again = true
			}
		}
	}
}

func press(m *Model, keys ...string) {
	for _, k := range keys {
		m.Update(keyMsg(k))
	}
}

// keyMsg builds the key press message a terminal sends for a key name.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "left":
		return tea.KeyPressMsg{Code: tea.KeyLeft}
	case "right":
		return tea.KeyPressMsg{Code: tea.KeyRight}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "end":
		return tea.KeyPressMsg{Code: tea.KeyEnd}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

func checkBlock(t *testing.T, s string, w, h int) {
	t.Helper()
	lines := strings.Split(s, "\n")
	if len(lines) != h {
		t.Fatalf("%d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n != w {
			t.Fatalf("line %d is %d cells wide, want %d: %q", i, n, w, l)
		}
	}
}

// TestScreens renders the main views at 120x40 and 80x24 and compares them
// with golden files; with POSELAB_SCREENS=DIR it also writes them there
// (the docs/screens fixture-* captures).
func TestScreens(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		for _, tb := range []struct {
			name string
			keys []string
		}{
			{"curves", nil},
			{"curves-overlay-log", []string{"up", "space", "down", "g", "x"}},
			{"joints", []string{"2"}},
			{"skeleton", []string{"3", ">", ">"}},
			{"log", []string{"4"}},
			{"log-scrolled", []string{"4", "pgup"}},
			{"help", []string{"?"}},
			{"new-run", []string{"n"}},
			{"quit", []string{"q"}},
		} {
			name := tb.name + "-" + itoa(size[0]) + "x" + itoa(size[1])
			t.Run(name, func(t *testing.T) {
				m := New(fixture(), Options{RunsDir: "/tmp/runs"})
				m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				press(m, tb.keys...)
				out := screen(m, size[0], size[1])
				checkBlock(t, out, size[0], size[1])
				golden.RequireEqual(t, out)
				if os.Getenv("POSELAB_SCREENS") != "" {
					dir := os.Getenv("POSELAB_SCREENS")
					os.MkdirAll(dir, 0o755)
					os.WriteFile(filepath.Join(dir, "fixture-"+name+".txt"), []byte(strings.TrimRight(out, " \n")+"\n"), 0o644)
				}
			})
		}
	}
}

func itoa(n int) string { return fmtCount(n) }
