package tui

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
)

// A log line is shown with its time of day (its date only when it is not
// today's), wrapped under its text within the width; a line that is not
// the engine's ("time text") is shown whole.
func TestLogRows(t *testing.T) {
	long := "2026-11-26T21:15:06Z epoch 18 (step 576): train loss 0.36984, val loss 0.29816, val MPJPE 81.84 mm, P-MPJPE 65.08 mm, 3DPCK@150 86.4 %, AUC 53.0 %"
	rows := logRows(long, "2026-11-26", 60)
	if len(rows) < 3 || !strings.HasPrefix(ansi.Strip(rows[0]), "21:15:06 epoch 18 (step 576)") {
		t.Fatalf("rows %q", rows)
	}
	var text []string
	for i, r := range rows {
		plain := ansi.Strip(r)
		if n := ansi.StringWidth(plain); n > 60 {
			t.Fatalf("row %d is %d cells wide, want at most 60: %q", i, n, plain)
		}
		if i > 0 && !strings.HasPrefix(plain, strings.Repeat(" ", 9)) {
			t.Fatalf("row %d is not under the text: %q", i, plain)
		}
		text = append(text, strings.TrimSpace(strings.TrimPrefix(plain, "21:15:06")))
	}
	if got := strings.Join(text, " "); got != long[len("2026-11-26T21:15:06Z "):] {
		t.Fatalf("wrapped text lost or changed words:\n%s", got)
	}
	if r := ansi.Strip(logRows("2026-11-25T23:59:59Z state queued", "2026-11-26", 80)[0]); r != "11-25 23:59:59 state queued" {
		t.Fatalf("a line of another day: %q", r)
	}
	if r := ansi.Strip(logRows("panic: something odd", "2026-11-26", 80)[0]); r != "panic: something odd" {
		t.Fatalf("a foreign line: %q", r)
	}
}

// Scrolling stops at the oldest line, and another run's log starts at its
// end.
func TestLogViewScrollBounds(t *testing.T) {
	f := fixture()
	v := &logView{}
	out := renderLog(v, f, "sb-demo", "/runs", 80, 10)
	if !strings.Contains(ansi.Strip(out), "best.ckpt at step 2400") {
		t.Fatalf("the newest line is not shown:\n%s", ansi.Strip(out))
	}
	v.scroll(1 << 20)
	out = ansi.Strip(renderLog(v, f, "sb-demo", "/runs", 80, 10))
	if !strings.Contains(out, "state queued") || strings.Contains(out, "step 2400") {
		t.Fatalf("scrolled to the top:\n%s", out)
	}
	top := v.off
	v.scroll(-1)
	if renderLog(v, f, "sb-demo", "/runs", 80, 10); v.off != top-1 {
		t.Fatalf("one row down from the top: offset %d, want %d (scrolling past the top must not be stored)", v.off, top-1)
	}
	renderLog(v, f, "sb-lr3", "/runs", 80, 10)
	if v.off != 0 {
		t.Fatalf("another run's log starts scrolled by %d", v.off)
	}
	if out := ansi.Strip(renderLog(v, f, "sb-lr3", "/runs", 80, 10)); !strings.Contains(out, "0 lines · nothing written yet") {
		t.Fatalf("an empty log:\n%s", out)
	}
}

// Scrolled up, the view stays on the lines the user reads while the run
// writes more (also once the log is longer than the view keeps); following
// (scrolled to the end), it shows the new lines.
func TestLogViewKeepsPlaceAsLogGrows(t *testing.T) {
	for _, full := range []bool{false, true} {
		f := fixture()
		if full { // as long as the view keeps: new lines push old ones out
			for len(f.logs["sb-demo"]) < logKeep {
				f.logs["sb-demo"] = append(f.logs["sb-demo"], f.logs["sb-demo"][3])
			}
		}
		v := &logView{}
		renderLog(v, f, "sb-demo", "/runs", 80, 10)
		v.scroll(5)
		before := ansi.Strip(renderLog(v, f, "sb-demo", "/runs", 80, 10))
		f.mu.Lock()
		f.logs["sb-demo"] = append(f.logs["sb-demo"], "2025-03-14T09:03:00Z checkpoint last.ckpt at step 2500",
			"2025-03-14T09:03:01Z epoch 13 (step 2600): train loss 0.06, val loss 0.06, val MPJPE 70.00 mm, P-MPJPE 56.00 mm, 3DPCK@150 82.5 %, AUC 51.2 % (best)")
		f.mu.Unlock()
		v.dirty = true
		after := ansi.Strip(renderLog(v, f, "sb-demo", "/runs", 80, 10))
		// the title says how far below the end is; the rows must not move
		if b, a := strings.SplitN(before, "\n", 2)[1], strings.SplitN(after, "\n", 2)[1]; a != b {
			t.Errorf("full %v: the rows moved as the log grew:\nbefore\n%s\nafter\n%s", full, b, a)
		}
		v.off = 0
		if out := ansi.Strip(renderLog(v, f, "sb-demo", "/runs", 80, 10)); !strings.Contains(out, "epoch 13") {
			t.Errorf("full %v: following, the new line is not shown:\n%s", full, out)
		}
	}
}

// A log line's control characters (a failure reason quoting a damaged
// file, a foreign line) are shown, not sent to the terminal: an escape
// sequence in it cleared the screen or retitled the window, a carriage
// return broke the line. Wide characters wrap within the width.
func TestLogRowsControlCharacters(t *testing.T) {
	line := "2026-11-26T21:15:01Z failed: init /tmp/a\tb\rc\x1b[2Jd\x1b]0;title\x07e\u009b1m 日本語の文字列が長く続く"
	rows := logRows(line, "2026-11-26", 30)
	var text []string
	for i, r := range rows {
		for _, bad := range []string{"\x1b[2J", "\x1b]", "\a", "\r", "\t", "\u009b"} {
			if strings.Contains(r, bad) {
				t.Errorf("row %d holds %q: %q", i, bad, r)
			}
		}
		plain := ansi.Strip(r)
		if n := ansi.StringWidth(plain); n > 30 {
			t.Errorf("row %d is %d cells wide: %q", i, n, plain)
		}
		text = append(text, strings.TrimSpace(plain))
	}
	if all := strings.Join(text, ""); !strings.Contains(all, "日本語") || !strings.Contains(all, "[2J") {
		t.Errorf("the text is not all shown: %q", all)
	}
}

// A log longer than the view holds says so in the title, and where the
// rest is.
func TestLogViewSaysItIsCut(t *testing.T) {
	f := fixture()
	long := make([]string, logKeep+5)
	for i := range long {
		long[i] = fmt.Sprintf("2025-03-14T09:00:00Z note %d", i)
	}
	f.logs["sb-demo"] = long
	out := ansi.Strip(renderLog(&logView{}, f, "sb-demo", "/runs", 120, 10))
	if !strings.Contains(out, "2000 lines (its last; older ones: poselab runs log)") {
		t.Fatalf("title of a cut log:\n%s", out)
	}
	f.logs["sb-demo"] = long[:10]
	if out := ansi.Strip(renderLog(&logView{}, f, "sb-demo", "/runs", 120, 10)); strings.Contains(out, "older ones") {
		t.Fatalf("a whole log called cut:\n%s", out)
	}
}

// Scrolled to the top of a full log, a frame costs about what wrapping
// every line did: each line's rows were put before all the newer ones,
// copying them again, 71 MB and 167 ms a frame for logKeep lines (every
// line wrapped, as before the view wrapped only what it shows: 2.5 MB).
func TestLogViewScrolledToTheTopIsNotQuadratic(t *testing.T) {
	f := fixture()
	long := make([]string, logKeep)
	for i := range long {
		long[i] = fmt.Sprintf("2025-03-14T09:00:00Z epoch %d (step %d): train loss 0.36984, val loss 0.29816, val MPJPE 81.84 mm, P-MPJPE 65.08 mm, 3DPCK@150 86.4 %%, AUC 53.0 %% (best)", i, 32*i)
	}
	f.logs["sb-demo"] = long
	v := &logView{}
	renderLog(v, f, "sb-demo", "/runs", 120, 35)
	v.scroll(1 << 20)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	out := ansi.Strip(renderLog(v, f, "sb-demo", "/runs", 120, 35))
	runtime.ReadMemStats(&m1)
	if !strings.Contains(out, "epoch 0 (step 0)") {
		t.Fatalf("not at the top:\n%s", out)
	}
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 8<<20 {
		t.Errorf("one frame at the top allocated %.1f MB (wrapping every line: about 2.5 MB)", float64(got)/(1<<20))
	}
}
