package tui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"

	"poselab/engine"
)

// A runs list longer than its pane says how many runs are scrolled out of
// view above and below (7 runs in 3 rows showed no sign of the others).
func TestRunsListCountsRowsOutOfView(t *testing.T) {
	var rows []listRow
	for i := 0; i < 7; i++ {
		id := fmt.Sprintf("sb-%d", i)
		rows = append(rows, listRow{info: engine.RunInfo{Spec: engine.Spec{ID: id, Name: id}, State: engine.Finished}})
	}
	header := func(sel, h int) string {
		return strings.SplitN(ansi.Strip(renderRuns(rows, sel, map[string]int{}, nil, 100, h, "")), "\n", 2)[0]
	}
	if got := header(4, 4); !strings.Contains(got, "run ↑2 ↓2") {
		t.Fatalf("selected 5th of 7 in 3 rows: header %q", got)
	}
	if got := header(0, 4); !strings.Contains(got, "run ↓4") || strings.Contains(got, "↑") {
		t.Fatalf("first selected: header %q", got)
	}
	if got := header(0, 10); strings.ContainsAny(got, "↑↓") {
		t.Fatalf("all rows visible: header %q", got)
	}
}

// A name too long for the list's column loses its middle, not its end:
// the runs of one grid differ at the end of their names.
func TestRunNamesLoseTheirMiddle(t *testing.T) {
	if got := cutMiddle("sweep lr=1e-3,seed=1", 16); got != "swee…1e-3,seed=1" {
		t.Fatalf("cut %q", got)
	}
	if got := cutMiddle("└▸short", 16); got != "└▸short         " {
		t.Fatalf("short %q", got)
	}
	if got := cutMiddle("実験の名前がとても長い-seed=2", 16); ansi.StringWidth(got) != 16 || !strings.HasSuffix(got, "seed=2") {
		t.Fatalf("wide runes %q (%d cells)", got, ansi.StringWidth(got))
	}
}
