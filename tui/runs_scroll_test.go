package tui

import (
	"fmt"
	"math"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

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
		return strings.SplitN(ansi.Strip(renderRuns(rows, sel, map[string]int{}, nil, 100, h, "", false)), "\n", 2)[0]
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
	// Best first on 80 columns: the counts stay, the sort's label shortens
	// ("run · best first …" hid the runs below).
	hdr := strings.SplitN(ansi.Strip(renderRuns(rows, 0, map[string]int{}, nil, 80, 4, "", true)), "\n", 2)[0]
	if !strings.Contains(hdr, "run ↓4 · best") {
		t.Fatalf("best first on 80 columns: header %q", hdr)
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

// b lists runs best validation first, as a grid's table does: mm before
// px (they do not compare), runs without a validation last; b again goes
// back to the start order with its chain marks.
func TestRunsListBestFirst(t *testing.T) {
	nan := math.NaN()
	row := func(id string, best float64, px bool) listRow {
		return listRow{info: engine.RunInfo{Spec: engine.Spec{ID: id}, BestValMPJPE: best}, px: px, depth: 1}
	}
	rows := []listRow{row("none", nan, false), row("mm60", 60, false), row("px10", 10, true), row("mm50", 50, false)}
	sortByBest(rows)
	var got []string
	for _, r := range rows {
		got = append(got, r.info.Spec.ID)
		if r.depth != 0 {
			t.Fatalf("%s keeps its chain mark", r.info.Spec.ID)
		}
	}
	if strings.Join(got, " ") != "mm50 mm60 px10 none" {
		t.Fatalf("order %v", got)
	}
	m := New(fixture(), Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	press(m, "b")
	if scr := screen(m, 120, 40); !strings.Contains(scr, "run · best first") || strings.Contains(scr, "└▸sb-next") {
		t.Fatalf("sorted list:\n%s", scr)
	}
	press(m, "b")
	if scr := screen(m, 120, 40); strings.Contains(scr, "best first") || !strings.Contains(scr, "└▸sb-next") {
		t.Fatalf("list back in start order:\n%s", scr)
	}
}

// A wide rune across the cut of a name's end is dropped, not kept whole:
// kept, the end overflowed the column and fitWidth cut the grid's values
// ("sw…い-seed…" lost "=2", the very end cutMiddle keeps).
func TestRunNameCutKeepsItsEndAcrossAWideRune(t *testing.T) {
	for _, w := range []int{8, 9, 10, 11, 12, 16, 17} {
		for _, s := range []string{"sweep 実験の名前がとても長い-seed=2", "abc実験の名前がとても長い実験の名前がとても長い-s=2"} {
			got := cutMiddle(s, w)
			if ansi.StringWidth(got) != w || !strings.HasSuffix(strings.TrimRight(got, " "), "=2") {
				t.Errorf("cutMiddle(%q, %d) = %q (%d cells)", s, w, got, ansi.StringWidth(got))
			}
		}
	}
}

// fitStyled gives exactly w cells when a wide rune straddles the cut (the
// cut left w-1: a selected runs-list row's highlight, a chart's title,
// one cell short of the others).
func TestFitStyledCutThroughAWideRune(t *testing.T) {
	for _, w := range []int{3, 4, 8, 9} {
		for _, s := range []string{"ab実験の名前がとても長い", stTitle.Render("abc実験の名前がとても長い")} {
			if got := fitStyled(s, w); ansi.StringWidth(got) != w {
				t.Errorf("fitStyled(%q, %d) = %q (%d cells)", s, w, got, ansi.StringWidth(got))
			}
		}
	}
}

// Sorted best first on an 80-column terminal, the list's header still
// says how many runs are out of view (" · best first" ran the counts past
// the run column's width, and they were cut).
func TestRunsListBestFirstKeepsOutOfViewCounts(t *testing.T) {
	var rows []listRow
	for i := 0; i < 7; i++ {
		id := fmt.Sprintf("sb-%d", i)
		rows = append(rows, listRow{info: engine.RunInfo{Spec: engine.Spec{ID: id, Name: id}, State: engine.Finished}})
	}
	for _, w := range []int{80, 100} {
		hdr := strings.SplitN(ansi.Strip(renderRuns(rows, 4, map[string]int{}, nil, w, 4, "", true)), "\n", 2)[0]
		if !strings.Contains(hdr, "↑2") || !strings.Contains(hdr, "↓2") || !strings.Contains(hdr, "best") {
			t.Errorf("width %d: header %q", w, hdr)
		}
	}
}

// The per-action table's values line up under their header whatever the
// action's name: fitWidth gives it 16 cells, and "%-16s" padded it again
// by runes (a two-cell rune each: 8 more spaces for 歩行と会話).
func TestActionsTableAlignsWideNames(t *testing.T) {
	ep := &engine.EpochInfo{MPJPE: 60, PerAction: map[string]float64{"Walking": 55, "歩行と会話": 65}}
	for _, l := range strings.Split(ansi.Strip(renderActions(ep, nil, 40, 12)), "\n") {
		name := strings.TrimSpace(ansi.Cut(l, 0, 18))
		if v, ok := ep.PerAction[name]; ok && strings.TrimSpace(ansi.Cut(l, 18, 25)) != fmtMM(v) {
			t.Errorf("row %q: %s not under \"now\"", l, fmtMM(v))
		}
	}
}
