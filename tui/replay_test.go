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

// TestReplayPanels renders each panel, at fixed sizes, from the recorded
// events of a real tiny SB run (testdata/sb-tiny-run.jsonl) and compares
// them with golden files (go test ./tui -update rewrites them).
func TestReplayPanels(t *testing.T) {
	fc := replay(t)
	m := New(fc, Options{RunsDir: "runs"})
	id := fc.order[0]
	r := m.visible(id)
	info, _ := fc.Run(id)
	sched, _ := fc.Schedule(id)
	runs := []plotted{{r: r, info: info, selected: true}}
	for _, size := range [][2]int{{120, 30}, {80, 18}} {
		w, h := size[0], size[1]
		sz := itoa(w) + "x" + itoa(h)
		panels := map[string]string{
			"runs":          renderRuns(m.rows, 0, map[string]int{id: 0}, nil, w, 3, "", false),
			"loss":          lossChart(newCurvesView(), runs, w, h),
			"loss-log-raw":  lossChart(curvesView{zoom: 1, logY: true}, runs, w, h),
			"loss-zoom-pan": lossChart(curvesView{zoom: 4, pan: 1, smooth: 5}, runs, w, h),
			"val":           valChart(newCurvesView(), runs, w, h),
			"lr":            lrChart(&runs[0], &sched, w, h/2),
			"joints":        renderJoints(r, false, w, h),
			"joints-sorted": renderJoints(r, true, w, h),
			"skeleton":      renderSkeleton(r, skelView{}, w, h),
			"skeleton-yaw":  renderSkeleton(r, skelView{sample: 1, yaw: 90, layers: 2}, w, h),
		}
		for name, out := range panels {
			t.Run(name+"-"+sz, func(t *testing.T) {
				plain := ansi.Strip(out)
				wantH := h
				switch name {
				case "runs":
					wantH = 3
				case "lr":
					wantH = h / 2
				}
				checkBlock(t, plain, w, wantH)
				golden.RequireEqual(t, plain)
			})
		}
	}
}

// TestReplayScreens renders whole screens from the recording at 120x40 and
// 80x24; with POSELAB_SCREENS=DIR they are also written there (the
// docs/screens captures).
func TestReplayScreens(t *testing.T) {
	for _, size := range [][2]int{{120, 40}, {80, 24}} {
		for _, tc := range []struct {
			name string
			keys []string
		}{
			{"curves", nil},
			{"curves-log-elapsed", []string{"g", "x", "]", "]"}},
			{"joints", []string{"2"}},
			{"skeleton", []string{"3", "."}},
			{"help", []string{"?"}},
			{"new-run", []string{"n"}},
			{"export", []string{"e"}},
			{"delete", []string{"d"}},
		} {
			name := tc.name + "-" + itoa(size[0]) + "x" + itoa(size[1])
			t.Run(name, func(t *testing.T) {
				m := New(replay(t), Options{RunsDir: "runs"})
				m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
				press(m, tc.keys...)
				out := screen(m, size[0], size[1])
				checkBlock(t, out, size[0], size[1])
				golden.RequireEqual(t, out)
				if dir := os.Getenv("POSELAB_SCREENS"); dir != "" {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(strings.TrimRight(out, " \n")+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			})
		}
	}
}
