package tui

import (
	"errors"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"poselab/engine"
	"poselab/pose"
)

// TestFormsFitNarrowTerminals: a form's box must fit the terminal; its
// one-line footer (68 cells) used to widen the box past a 60-column
// terminal, so every line of it was cut and its right side was lost.
func TestFormsFitNarrowTerminals(t *testing.T) {
	for _, w := range []int{40, 60, 76} {
		for _, k := range []string{"n", "c", "e"} {
			fc := fixture()
			// The fixture's runs are SB's, whose 3D outputs nothing chains on.
			fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh-1", Model: "sh", Preset: "tiny", Data: "synth", Device: "cpu"}, State: engine.Finished}, engine.Schedule{})
			m := New(fc, Options{RunsDir: "/tmp/runs"})
			m.Update(tea.WindowSizeMsg{Width: w, Height: 40})
			if k == "c" {
				m.selID = "sh-1"
			}
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

// TestStepsRewindAfterDivergence: a run resumed after divergence (or a
// failed run resumed) trains again from its last checkpoint, so its step
// numbers go back. The abandoned steps and validations must go: left in,
// the series was no longer ascending, the chart's window ended at the new
// (lower) step and cut off every new point, and the validation chart
// showed epochs twice.
func TestStepsRewindAfterDivergence(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "a", Model: "sb"}, State: engine.Running, Step: 100, TotalSteps: 200}, engine.Schedule{Kind: "constant", BaseLR: 1e-3})
	var seq int64
	ev := func(e engine.Event) engine.Event {
		seq++
		e.Seq, e.Run = seq, "a"
		return e
	}
	step := func(s int, loss float64) engine.Event {
		return ev(engine.Event{Kind: engine.EvStep, Step: &engine.StepInfo{Step: s, Loss: loss, LR: 1e-3}})
	}
	for s := 1; s <= 100; s++ {
		f.hist = append(f.hist, step(s, 1))
		if s%50 == 0 {
			f.hist = append(f.hist, ev(engine.Event{Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: s / 50, Step: s, MPJPE: 100 - float64(s)/10, Best: true,
				Samples: []engine.PoseSample{{Index: s}}}}))
		}
	}
	m := New(f, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	press(m, "f") // frozen at 100 steps, 2 epochs
	// Diverged at step 100, resumed: back to the checkpoint of epoch 1.
	var again []engine.Event
	for s := 51; s <= 60; s++ {
		again = append(again, step(s, 0.5))
	}
	m.Update(eventsMsg{events: again})
	// Frozen beyond the data now: what shows is the data that is left,
	// not what lies past its end in memory.
	if out := screen(m, 120, 40); strings.Contains(out, ") @ step 100") || !strings.Contains(out, ") @ step 60") {
		t.Fatalf("the frozen chart shows abandoned steps:\n%s", out)
	}
	press(m, "f")
	r := m.st.runs["a"]
	if n := len(r.step); n != 60 || r.step[n-1] != 60 || len(r.loss) != 60 || len(r.wall) != 60 || len(r.lr) != 60 {
		t.Fatalf("after the rewind: %d steps, last %v; want 60 steps ending at 60", n, r.step[n-1])
	}
	if !sort.Float64sAreSorted(r.step) {
		t.Fatal("steps are not ascending after the rewind")
	}
	if len(r.epochs) != 1 || r.epochs[0].Epoch != 1 || r.bestEpoch != 0 {
		t.Fatalf("validations after the rewind: %+v (best %d); want epoch 1 only", r.epochs, r.bestEpoch)
	}
	if len(r.samples) != 0 {
		t.Fatalf("the abandoned epoch 2's samples are still shown: %+v", r.samples)
	}
	// The new points are drawn: the newest bucket holds the new loss.
	xs := r.xs(xStep, len(r.step))
	x0, x1 := m.cv.window(0, xs[len(xs)-1])
	bs := bucketize(xs, r.loss, x0, x1, 50)
	if last := bs[len(bs)-1]; !last.ok || last.last != 0.5 {
		t.Fatalf("newest column %+v; want the resumed loss 0.5", last)
	}
	out := screen(m, 120, 40)
	if !strings.Contains(out, "@ step 60") {
		t.Fatalf("loss chart does not end at step 60:\n%s", out)
	}
}

// TestMarkAllAfterUnmarking: a overlays every run unless all are overlaid;
// runs marked and unmarked again (or deleted since) used to count as
// overlaid, so a cleared the overlay instead of filling it.
func TestMarkAllAfterUnmarking(t *testing.T) {
	m := New(fixture(), Options{})
	for i := range m.rows {
		m.selID = m.rows[i].info.Spec.ID
		press(m, "space", "space") // overlay, and take it back
	}
	press(m, "a")
	for _, r := range m.rows {
		if !m.marked[r.info.Spec.ID] {
			t.Fatalf("a left %s off the overlay: %v", r.info.Spec.ID, m.marked)
		}
	}
	press(m, "a")
	for id, on := range m.marked {
		if on {
			t.Fatalf("a again left %s on the overlay", id)
		}
	}
}

// TestFormShowsFocusedFieldOnShortTerminals: on a terminal too short for
// the whole form, the focused field must stay on screen; the box was cut
// at the bottom, so the lower fields were typed into unseen.
func TestFormShowsFocusedFieldOnShortTerminals(t *testing.T) {
	m := New(fixture(), Options{})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 14})
	press(m, "n")
	if out := screen(m, 80, 14); !strings.Contains(out, "automatic") {
		t.Fatalf("the first field is not on screen:\n%s", out)
	}
	// Name, pipeline, model, preset: on to device, low in the left column.
	for _, k := range []string{"enter", "enter", "enter", "enter"} {
		_, cmd := m.Update(keyMsg(k))
		feed(m, cmd)
	}
	out := screen(m, 80, 14)
	checkBlock(t, out, 80, 14)
	if !strings.Contains(out, "┃ Device") || !strings.Contains(out, "cpu") {
		t.Fatalf("the focused device field is not on screen:\n%s", out)
	}
}

// TestStopReportsStoppedOnlyOnceStopped: the engine's Stop only asks the
// trainer to stop; it finishes its step and saves a checkpoint later (and
// may fail doing so). The status said "stopped (checkpointed)" at once.
func TestStopReportsStoppedOnlyOnceStopped(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	pressRun(m, "s")
	if !strings.Contains(m.status, "stopping sb-demo") {
		t.Fatalf("status %q while the run still trains; want it stopping", m.status)
	}
	info, _ := fc.Run("sb-demo")
	info.State = engine.Stopped
	fc.addRun(info, engine.Schedule{})
	m.Update(tickMsg{})
	if m.status != "stopped sb-demo (checkpointed)" {
		t.Fatalf("status %q once the run stopped", m.status)
	}
	// A run that fails while it saves says so.
	info.State = engine.Running
	fc.addRun(info, engine.Schedule{})
	pressRun(m, "s")
	info.State, info.Reason = engine.Failed, "disk full"
	fc.addRun(info, engine.Schedule{})
	m.Update(tickMsg{})
	if !m.statusErr || !strings.Contains(m.status, "disk full") {
		t.Fatalf("status %q (error %v) after failing to stop", m.status, m.statusErr)
	}
}

// TestWideShortTerminalKeepsTheLossChart: on a wide but short terminal
// (a tmux split of 160x15) the learning-rate chart took its 5 lines first
// and left the loss and validation charts their titles only.
func TestWideShortTerminalKeepsTheLossChart(t *testing.T) {
	for _, h := range []int{15, 17} {
		m := New(fixture(), Options{})
		out := screen(m, 160, h)
		checkBlock(t, out, 160, h)
		plotRows := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimLeft(l, " 0123456789.e-k"), "┤") || strings.HasPrefix(strings.TrimLeft(l, " "), "│") {
				plotRows++
			}
		}
		if plotRows < 2 || !strings.Contains(out, "train loss") || !strings.Contains(out, "learning rate") {
			t.Fatalf("160x%d: %d chart rows with an axis:\n%s", h, plotRows, out)
		}
		lossAxis := false
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "└┬") && strings.Contains(l, "        └") {
				lossAxis = true // the loss and validation x axes share a line
			}
		}
		if !lossAxis {
			t.Fatalf("160x%d: no loss chart axis:\n%s", h, out)
		}
	}
}

// TestCtrlCQuitsFromTheHelp: the help lists ctrl+c as quit, but while the
// help was open it was swallowed.
func TestCtrlCQuitsFromTheHelp(t *testing.T) {
	m := New(fixture(), Options{})
	press(m, "?")
	m.Update(tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl})
	if m.help || m.confirm == nil {
		t.Fatalf("ctrl+c in the help: help open %v, quit question %v", m.help, m.confirm != nil)
	}
}

// TestMouseLeavesWhatIsBehindADialog: a click or wheel on the runs list
// changed the selected run (and the tab) behind "delete <run>?" and behind
// the help, whose y and keys then acted on a run the screen no longer
// showed as selected.
func TestMouseLeavesWhatIsBehindADialog(t *testing.T) {
	m := New(fixture(), Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	press(m, "d")
	m.Update(tea.MouseClickMsg{X: 10, Y: 2, Button: tea.MouseLeft})    // first list row
	m.Update(tea.MouseWheelMsg{X: 10, Y: 2, Button: tea.MouseWheelUp}) // over the list
	m.Update(tea.MouseClickMsg{X: 22, Y: 0, Button: tea.MouseLeft})    // "2 Joints"
	if info, _ := m.selected(); info.Spec.ID != "sb-demo" || m.tab != tabCurves {
		t.Fatalf("behind the delete question: selected %q, tab %d", info.Spec.ID, m.tab)
	}
	press(m, "esc", "?")
	m.Update(tea.MouseWheelMsg{X: 10, Y: 2, Button: tea.MouseWheelDown})
	if info, _ := m.selected(); info.Spec.ID != "sb-demo" {
		t.Fatalf("behind the help: selected %q", info.Spec.ID)
	}
}

// TestNumbersKeepTheirMagnitude: a tick just below zero printed "-0", and
// a validation error too long for its column lost its leading digits in
// the runs list (2345052.0 mm showed as 45052.0).
func TestNumbersKeepTheirMagnitude(t *testing.T) {
	if s := fmtNum(math.Copysign(0, -1)); s != "0" {
		t.Fatalf("fmtNum(-0) = %q", s)
	}
	for _, tc := range []struct {
		v    float64
		px   bool
		unit string // the list's (listUnit): "" puts each run's in its cells
		want string
	}{{51.3, false, "mm", "51.3"}, {2345052.0, false, "mm", "2.3e+06"}, {123456.7, false, "mm", "123457"}, {45052.04, false, "mm", "45052.0"},
		{12345.6, true, "", "12346px"}, {2345.6, false, "", "2346mm"}, {math.NaN(), true, "", "–"}, {40.94, true, "px", "40.9"}} {
		got := valCell(listRow{px: tc.px}, tc.v, tc.unit)
		if got != tc.want || len([]rune(got)) > valW {
			t.Errorf("valCell(%v, px %v, list unit %q) = %q, want %q", tc.v, tc.px, tc.unit, got, tc.want)
		}
	}
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "div", Model: "sb"}, State: engine.Finished, Step: 10, LastValMPJPE: 2345052.0, BestValMPJPE: 237.9}, engine.Schedule{})
	if out := screen(New(f, Options{}), 100, 30); !strings.Contains(out, "2.3e+06") {
		t.Fatalf("runs list:\n%s", out)
	}
}

// TestRightAlignedCellsCutVisibly: a right-aligned runs-list cell too long
// for its column kept its last cells, which read as another number.
func TestRightAlignedCellsCutVisibly(t *testing.T) {
	if got := cellText("123/1000", 7, true); got != "123/10…" {
		t.Fatalf("cellText = %q, want the head and an ellipsis", got)
	}
	if got := cellText("12/20", 7, true); got != "  12/20" {
		t.Fatalf("cellText = %q", got)
	}
}

// TestStoredStepsOnATimeAxisSayWhy: steps loaded from the run store have
// no times, so the elapsed and wall-clock axes cannot draw them; the chart
// said "waiting for the first training step" for a run with hundreds.
func TestStoredStepsOnATimeAxisSayWhy(t *testing.T) {
	r := &runData{id: "old", bestEpoch: -1, ema: &emaCache{}}
	for i := 0; i < 100; i++ {
		r.step = append(r.step, float64(i))
		r.wall = append(r.wall, math.NaN())
		r.loss = append(r.loss, 1)
		r.lr = append(r.lr, 1e-3)
	}
	v := newCurvesView()
	v.x = xElapsed
	out := ansi.Strip(lossChart(v, []plotted{{r: r, selected: true}}, 100, 20))
	if strings.Contains(out, "waiting for the first training step") || !strings.Contains(out, "no times") {
		t.Fatalf("elapsed axis of stored steps:\n%s", out)
	}
	v.x = xStep
	if out := ansi.Strip(lossChart(v, []plotted{{r: r, selected: true}}, 100, 20)); strings.Contains(out, "no times") {
		t.Fatalf("step axis:\n%s", out)
	}
}

// TestJointsSayWhatIsCut: on a short terminal the per-joint list was cut
// without a word (the per-action table beside it says "… N more").
func TestJointsSayWhatIsCut(t *testing.T) {
	m := New(fixture(), Options{})
	press(m, "2")
	out := screen(m, 160, 15)
	checkBlock(t, out, 160, 15)
	if !strings.Contains(out, "more joints") {
		t.Fatalf("joints at 160x15:\n%s", out)
	}
	if out := screen(m, 120, 40); strings.Contains(out, "more joints") {
		t.Fatalf("joints at 120x40 claim a cut:\n%s", out)
	}
}

// TestFrozenBadgeOnNarrowTerminals: below about 75 columns the header
// dropped its right side, FROZEN included, so frozen charts looked like a
// stalled run.
func TestFrozenBadgeOnNarrowTerminals(t *testing.T) {
	for _, w := range []int{40, 60, 120} {
		m := New(fixture(), Options{})
		press(m, "f")
		out := screen(m, w, 20)
		checkBlock(t, out, w, 20)
		if first := strings.SplitN(out, "\n", 2)[0]; !strings.Contains(first, "FROZEN") {
			t.Fatalf("%d columns: header %q", w, first)
		}
	}
}

// TestShort2DSkeletonDoesNotPanic: the skeleton view of a 2D model (an
// image sample) on a terminal that leaves the content one line (3 runs in
// 7 lines) asked padBlock for -1 lines and panicked, ending the program.
func TestShort2DSkeletonDoesNotPanic(t *testing.T) {
	f := fixture()
	m := New(f, Options{})
	img := &engine.Thumb{W: 8, H: 8, Pix: make([]uint8, 64)}
	m.st.runs["sb-demo"].samples = []engine.PoseSample{{Index: 3, Image: img, GT2D: make([]pose.Vec2, pose.NumJoints), Pred2D: make([]pose.Vec2, pose.NumJoints)}}
	press(m, "3")
	for h := 4; h <= 12; h++ {
		out := screen(m, 60, h)
		checkBlock(t, out, 60, max(h, 6))
	}
}

// TestResourceLineOfAFinishedRun: the status line kept showing the last
// memory and throughput sample of a run that had finished, as if current.
func TestResourceLineOfAFinishedRun(t *testing.T) {
	m := New(fixture(), Options{})
	if line := m.statusLine(120); !strings.Contains(line, "samples/s") {
		t.Fatalf("running run: %q", line)
	}
	press(m, "up") // sb-lr3, finished
	if info, _ := m.selected(); info.State != engine.Finished {
		t.Fatalf("selected %s (%s)", info.Spec.ID, info.State)
	}
	line := ansi.Strip(m.statusLine(120))
	if strings.Contains(line, "samples/s") || strings.Contains(line, "mem ") || strings.Contains(line, "RSS ") || !strings.Contains(line, "device cpu") {
		t.Fatalf("finished run: %q", line)
	}
	// A run from the store has no resource sample, only its summary's
	// last throughput.
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "old", Model: "sb", Device: "cpu"}, State: engine.Stopped, SamplesPerSec: 13000}, engine.Schedule{})
	if line := ansi.Strip(New(f, Options{}).statusLine(120)); strings.Contains(line, "samples/s") {
		t.Fatalf("stopped run from the store: %q", line)
	}
}

// TestPanStopsAtTheFirstStep: panning past the oldest step (or panning
// unzoomed, which shows "panned" and moves nothing) piled up, and the
// first presses back towards the newest steps then did nothing.
func TestPanStopsAtTheFirstStep(t *testing.T) {
	v := newCurvesView()
	v.panBy(0.25)
	if v.pan != 0 {
		t.Fatalf("unzoomed pan %g", v.pan)
	}
	v.zoomBy(4)
	for i := 0; i < 100; i++ {
		v.panBy(0.25)
	}
	if a, b := v.window(0, 1000); a != 0 || b != 250 {
		t.Fatalf("window %g..%g at the first step", a, b)
	}
	v.panBy(-0.25)
	if a, _ := v.window(0, 1000); a <= 0 {
		t.Fatalf("one pan towards the newest steps did not move the window (%g)", a)
	}
	v.zoomBy(1 / 4.0)
	v.zoomBy(2)
	if a, b := v.window(0, 1000); b <= a || a < 0 || v.pan > v.zoom-1 {
		t.Fatalf("after zooming out and in: window %g..%g, pan %g", a, b, v.pan)
	}
}

// countingStore is an engine store that counts the step histories read.
type countingStore struct {
	*fakeCtrl
	reads map[string]int
}

func (c *countingStore) Steps(id string) ([]engine.StepPoint, error) {
	c.reads[id]++
	return []engine.StepPoint{{Step: 0, Loss: 1}, {Step: 1, Loss: 0.5}, {Step: 2, Loss: 0.25}}, nil
}
func (c *countingStore) Epochs(string) ([]engine.EpochInfo, error) {
	return []engine.EpochInfo{{Epoch: 1, Step: 3, MPJPE: 80, Best: true}}, nil
}

// TestStoredStepsLoadWhenDrawn: the workbench read every step of every
// stored run before its first frame (0.2 s per 100,000 steps, on the UI
// goroutine); a run's steps are now read when its curves are first drawn,
// and steps that came in events meanwhile follow them.
func TestStoredStepsLoadWhenDrawn(t *testing.T) {
	c := &countingStore{fakeCtrl: newFake(), reads: map[string]int{}}
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"a", "b", "c"} {
		c.addRun(engine.RunInfo{Spec: engine.Spec{ID: id, Model: "sb"}, State: engine.Finished, Started: t0.Add(time.Duration(i) * time.Minute)}, engine.Schedule{})
	}
	m := New(c, Options{})
	if len(c.reads) != 0 {
		t.Fatalf("steps read before any frame: %v", c.reads)
	}
	if len(m.st.runs["a"].epochs) != 1 {
		t.Fatal("stored validations are not loaded at once")
	}
	screen(m, 120, 40) // "c", the newest, is selected
	press(m, "up")
	screen(m, 120, 40)
	screen(m, 120, 40)
	if c.reads["a"] != 0 || c.reads["b"] != 1 || c.reads["c"] != 1 {
		t.Fatalf("steps read %v; want b and c once", c.reads)
	}
	// "a" is resumed before it is drawn: its new steps follow the stored
	// (stored step k, from 0, plots at k+1 steps done, as events count).
	m.Update(eventsMsg{events: []engine.Event{{Seq: 1, Run: "a", Time: t0, Kind: engine.EvStep, Step: &engine.StepInfo{Step: 2, Loss: 0.2}},
		{Seq: 2, Run: "a", Time: t0, Kind: engine.EvStep, Step: &engine.StepInfo{Step: 3, Loss: 0.1}}}})
	press(m, "up")
	screen(m, 120, 40)
	if r := m.st.runs["a"]; len(r.step) != 3 || r.step[0] != 1 || r.step[1] != 2 || r.step[2] != 3 || r.loss[0] != 1 || r.loss[1] != 0.2 {
		t.Fatalf("run a: steps %v losses %v", r.step, r.loss)
	}
}

// TestQuestionsFitTheTerminal: the quit question names every active run
// on one line; with a few runs it was wider than an 80-column terminal,
// which cut every line of its box.
func TestQuestionsFitTheTerminal(t *testing.T) {
	f := newFake()
	for _, id := range []string{"sb-261126-163434", "sb-261126-163435", "sb-261126-163436", "sb-261126-163437"} {
		f.addRun(engine.RunInfo{Spec: engine.Spec{ID: id, Model: "sb"}, State: engine.Running}, engine.Schedule{})
	}
	for _, tc := range []struct {
		keys []string
		w    int
	}{{[]string{"q"}, 80}, {[]string{"q"}, 40}, {[]string{"d"}, 40}} {
		m := New(f, Options{})
		press(m, tc.keys...)
		out := screen(m, tc.w, 30)
		checkBlock(t, out, tc.w, 30)
		if !strings.Contains(out, "╮") {
			t.Fatalf("%v at %d columns: the box's right edge is cut:\n%s", tc.keys, tc.w, out)
		}
		if !strings.Contains(strings.ReplaceAll(out, "│", ""), "sb-261126-163437") {
			t.Fatalf("%v at %d columns: the question lost a run:\n%s", tc.keys, tc.w, out)
		}
	}
	// On a short terminal the answers stay on screen.
	m := New(f, Options{})
	press(m, "d")
	if out := screen(m, 40, 12); !strings.Contains(out, "y  yes, delete") || !strings.Contains(out, "esc  cancel") {
		t.Fatalf("delete question at 40x12 without its answers:\n%s", out)
	}
}

// TestHelpKeyOnNarrowTerminals: below about 75 columns the header drops
// its "? help" and the hint line ran out before reaching it, so nothing on
// screen said how to find the keys.
func TestHelpKeyOnNarrowTerminals(t *testing.T) {
	for _, ro := range []bool{false, true} {
		for _, k := range []string{"1", "2", "3"} {
			m := New(fixture(), Options{ReadOnly: ro})
			press(m, k)
			out := screen(m, 40, 12)
			if !strings.Contains(out, "? help") {
				t.Fatalf("read-only %v, view %s at 40x12: no ? help:\n%s", ro, k, out)
			}
		}
	}
}

// longStore is an engine store with 100 steps and 4 validations of run a.
type longStore struct{ *fakeCtrl }

func (longStore) Steps(string) ([]engine.StepPoint, error) {
	var out []engine.StepPoint
	for i := 0; i < 100; i++ {
		out = append(out, engine.StepPoint{Step: i, Loss: 1})
	}
	return out, nil
}
func (longStore) Epochs(string) ([]engine.EpochInfo, error) {
	var out []engine.EpochInfo
	for e := 1; e <= 4; e++ {
		out = append(out, engine.EpochInfo{Epoch: e, Step: 25 * e, MPJPE: 100 - float64(e), Best: true})
	}
	return out, nil
}

// TestLateViewerSeesTheWholeRun: the engine keeps only the newest step
// events for late subscribers, so a session that joined a long run (over
// SSH) drew its loss from the middle on, and a run resumed after a
// restart without what it did before.
func TestLateViewerSeesTheWholeRun(t *testing.T) {
	f := longStore{newFake()}
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "a", Model: "sb"}, State: engine.Running, Step: 100}, engine.Schedule{})
	var seq int64
	for s := 60; s <= 100; s++ {
		seq++
		f.hist = append(f.hist, engine.Event{Seq: seq, Run: "a", Kind: engine.EvStep, Step: &engine.StepInfo{Step: s, Loss: 0.5}})
		if s%25 == 0 {
			seq++
			f.hist = append(f.hist, engine.Event{Seq: seq, Run: "a", Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: s / 25, Step: s, MPJPE: 50}})
		}
	}
	m := New(f, Options{ReadOnly: true, Remote: true})
	screen(m, 120, 40)
	r := m.st.runs["a"]
	if len(r.step) == 0 || r.step[0] != 1 || !sort.Float64sAreSorted(r.step) || r.step[len(r.step)-1] != 100 || len(r.step) != 100 {
		t.Fatalf("steps from %v to %v (%d)", r.step[0], r.step[len(r.step)-1], len(r.step))
	}
	if len(r.epochs) != 4 || r.epochs[0].Epoch != 1 || r.epochs[3].MPJPE != 50 {
		t.Fatalf("validations %+v", r.epochs)
	}
}

// TestStopOfAQueuedRunClaimsNoCheckpoint: a queued run stops at once and
// has nothing to checkpoint; the status said "(checkpointed)".
func TestStopOfAQueuedRunClaimsNoCheckpoint(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	m.selID = "sb-next" // queued
	info, _ := fc.Run("sb-next")
	info.State, info.Reason = engine.Stopped, "stopped before it started"
	fc.addRun(info, engine.Schedule{}) // the engine stops it within Stop
	pressRun(m, "s")
	if strings.Contains(m.status, "checkpointed") || !strings.Contains(m.status, "stopped sb-next") {
		t.Fatalf("status %q", m.status)
	}
}

// TestStoredRunSkeletonSaysWhy: a finished run from the run store has no
// validation samples and will get none; the view said it was waiting.
func TestStoredRunSkeletonSaysWhy(t *testing.T) {
	c := &countingStore{fakeCtrl: newFake(), reads: map[string]int{}}
	c.addRun(engine.RunInfo{Spec: engine.Spec{ID: "old", Model: "sb"}, State: engine.Finished}, engine.Schedule{})
	m := New(c, Options{})
	press(m, "3")
	if out := screen(m, 120, 40); strings.Contains(out, "waiting") || !strings.Contains(out, "run store keeps none") {
		t.Fatalf("skeleton of a stored run:\n%s", out)
	}
	// A run that trains still waits for its first samples.
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "new", Model: "sb"}, State: engine.Running}, engine.Schedule{})
	m = New(f, Options{})
	press(m, "3")
	if out := screen(m, 120, 40); !strings.Contains(out, "waiting for validation samples") {
		t.Fatalf("skeleton of a new run:\n%s", out)
	}
}

// TestDeletedRunIsForgotten: a deleted run's data stayed in the store for
// the session, and a new run given its id (ids are model and second)
// started with its old curves.
func TestDeletedRunIsForgotten(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	press(m, "a") // overlay all
	fc.mu.Lock()
	delete(fc.infos, "sb-lr3")
	fc.order = []string{"sb-demo", "sb-next"}
	fc.mu.Unlock()
	m.Update(tickMsg{})
	if _, ok := m.st.runs["sb-lr3"]; ok || m.marked["sb-lr3"] {
		t.Fatalf("deleted run kept: data %v, marked %v", ok, m.marked["sb-lr3"])
	}
	// A new run with the same id starts empty.
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb-lr3", Model: "sb"}, State: engine.Running}, engine.Schedule{})
	m.Update(eventsMsg{events: []engine.Event{{Seq: 1 << 40, Run: "sb-lr3", Kind: engine.EvStep, Step: &engine.StepInfo{Step: 1, Loss: 2}}}})
	if r := m.st.runs["sb-lr3"]; len(r.step) != 1 || len(r.epochs) != 0 {
		t.Fatalf("the new sb-lr3 has %d steps and %d validations", len(r.step), len(r.epochs))
	}
}

// TestMultiLineReasonStaysOnTheStatusLine: a failed run's reason (or an
// error) with several lines, like a CUDA compile error and its log, was
// drawn over several lines and pushed the hint line off the screen.
func TestMultiLineReasonStaysOnTheStatusLine(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "gpu", Model: "sb", Device: "cuda"}, State: engine.Failed,
		Reason: "nvrtc: compile k for sm_90: error\nline 1: bad\nline 2: worse"}, engine.Schedule{})
	m := New(f, Options{})
	out := screen(m, 100, 20)
	checkBlock(t, out, 100, 20)
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[18], "line 1: bad") || !strings.Contains(lines[19], "? help") {
		t.Fatalf("status and hint lines:\n%s", out)
	}
	m.Update(actionDoneMsg{err: errors.New("export: a\nb")})
	if lines := strings.Split(screen(m, 100, 20), "\n"); !strings.Contains(lines[18], "export: a b") || !strings.Contains(lines[19], "? help") {
		t.Fatalf("error status:\n%s", strings.Join(lines, "\n"))
	}
}

// TestPausedRunShowsNoThroughput: a paused run kept its last samples/s in
// the runs list and the status line, as if it still trained (its ETA
// already read "–").
func TestPausedRunShowsNoThroughput(t *testing.T) {
	f := fixture()
	info, _ := f.Run("sb-demo")
	info.State, info.ETA = engine.Paused, 0
	f.addRun(info, engine.Schedule{})
	m := New(f, Options{})
	m.st.runs["sb-demo"].res = &engine.Resource{Device: "cpu", MemUsedBytes: 1 << 20, SamplesPerSec: 5120}
	for _, line := range strings.Split(screen(m, 120, 30), "\n") {
		if strings.Contains(line, "sb-demo") && strings.Contains(line, "5.1k") {
			t.Fatalf("paused run's row shows a rate: %q", line)
		}
	}
	if line := ansi.Strip(m.statusLine(120)); strings.Contains(line, "samples/s") {
		t.Fatalf("paused run's status line: %q", line)
	}
}

// TestFreezeHoldsTheLRChart: frozen, the learning-rate chart took its
// "now" step from the live run (its title read "now 1.1e-4 @ step 8,229"
// with the frozen rate, and the forecast left a gap after the frozen past).
func TestFreezeHoldsTheLRChart(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	press(m, "f")
	m.Update(eventsMsg{events: []engine.Event{{Seq: 1e6, Run: "sb-demo", Time: time.Now(), Kind: engine.EvStep,
		Step: &engine.StepInfo{Step: 3999, Loss: 5, LR: 1e-3}}}})
	info, _ := fc.Run("sb-demo")
	info.Step = 3999 // the engine's summary moves on with the events
	fc.addRun(info, engine.Schedule{Kind: "cosine", BaseLR: 1e-3, WarmupSteps: 100, TotalSteps: 4000, MinLR: 1e-5})
	m.refresh()
	got := ansi.Strip(screen(m, 120, 40))
	if strings.Contains(got, "step 3,999/") || !strings.Contains(got, "@ step 2,399/4,000") {
		t.Fatalf("frozen LR chart moved:\n%s", got)
	}
}

// TestEpochsCountFromOne: the engine numbers validations from 0, and the
// workbench printed that number, so a finished 8-epoch run listed as 8/8
// titled its last validation "epoch 7" (joints, validation, skeletons)
// where `poselab runs show` and the run's log say epoch 8.
func TestEpochsCountFromOne(t *testing.T) {
	fc := replay(t)
	m := New(fc, Options{RunsDir: "runs"})
	id := fc.order[0]
	r := m.visible(id)
	info, _ := fc.Run(id)
	if info.Epoch != 8 || r.epochs[len(r.epochs)-1].Epoch != 7 {
		t.Fatalf("replay: %d epochs, last validation numbered %d", info.Epoch, r.epochs[len(r.epochs)-1].Epoch)
	}
	runs := []plotted{{r: r, info: info, selected: true}}
	for name, out := range map[string]string{
		"joints":   renderJoints(r, false, 120, 30),
		"val":      valChart(newCurvesView(), runs, 120, 30),
		"skeleton": renderSkeleton(r, skelView{}, 120, 30),
	} {
		first := ansi.Strip(strings.SplitN(out, "\n", 2)[0])
		if !strings.Contains(first, "epoch 8") || strings.Contains(first, "epoch 7") {
			t.Errorf("%s: %q", name, first)
		}
	}
}

// TestRefusedNewRunKeepsTheForm: a new run the engine refused at submit
// (TF32 on the CPU, say) closed the form and dropped everything typed in
// it; the form opens again as it was, with the reason below.
func TestRefusedNewRunKeepsTheForm(t *testing.T) {
	m := New(fixture(), Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(keyMsg("n"))
	// Name, pipeline, model, preset, device, TF32; data, epochs (7), batch, lr, seed, init, patience.
	for _, k := range []string{"k", "e", "e", "p", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "7", "enter", "enter", "enter", "enter", "enter", "enter"} {
		_, cmd := m.Update(keyMsg(k))
		feedWithin(m, cmd, 100*time.Millisecond) // a field change comes at once; the cursor blink never does
	}
	if m.form != nil {
		t.Fatal("form not submitted")
	}
	m.Update(submittedMsg{err: errors.New("spec: tf32 is a CUDA setting; device is cpu")})
	if m.form == nil {
		t.Fatal("refused run: the form is gone")
	}
	out := ansi.Strip(screen(m, 120, 40))
	if !strings.Contains(out, "keep") || !strings.Contains(out, "> 7") || !strings.Contains(out, "tf32 is a CUDA setting") {
		t.Fatalf("refused run's form lost its values or the reason:\n%s", out)
	}
}

// TestNarrowValChartKeepsEpochTicks: on an 80-column terminal the
// validation chart of a 55-epoch run had no x tick at all: its one nice
// tick (50) fell under the "epoch" unit and was dropped.
func TestNarrowValChartKeepsEpochTicks(t *testing.T) {
	r := &runData{}
	for e := 0; e < 55; e++ {
		r.epochs = append(r.epochs, engine.EpochInfo{Epoch: e, MPJPE: 100 - float64(e)/2})
	}
	out := ansi.Strip(valChart(newCurvesView(), []plotted{{r: r, selected: true}}, 40, 8))
	lines := strings.Split(out, "\n")
	axis := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(lines[len(lines)-1]), "epoch"))
	if len(strings.Fields(axis)) < 2 {
		t.Fatalf("x axis %q has fewer than 2 ticks:\n%s", lines[len(lines)-1], out)
	}
}

// TestChainedRunSaysItWaits: a run chained after another said "started"
// though it waits, queued, for that run to finish; after a stopped run it
// waits until that one is resumed, which nothing said.
func TestChainedRunSaysItWaits(t *testing.T) {
	f := fixture()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "halted", Model: "sb", Preset: "tiny", Data: "synth", Device: "cpu"}, State: engine.Stopped}, engine.Schedule{})
	m := New(f, Options{})
	id, _ := f.Submit(engine.Spec{Model: "sb", Preset: "tiny", After: "halted", From: []string{"halted"}})
	m.Update(submittedMsg{id: id})
	if strings.Contains(m.status, "started") || !strings.Contains(m.status, "halted") || !strings.Contains(m.status, "stopped") {
		t.Fatalf("status %q", m.status)
	}
}

// A run of 1,000 epochs or more shows its epoch count whole: the column
// held 7 cells and a finished 1500-epoch run read "1500/1…".
func TestEpochColumnHoldsFourDigitEpochs(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "long", Model: "sb", Epochs: 1500}, State: engine.Finished, Epoch: 1500,
		Step: 48000, TotalSteps: 48000, LastValMPJPE: 61.8, BestValMPJPE: 60.5}, engine.Schedule{})
	if out := screen(New(f, Options{}), 120, 30); !strings.Contains(out, "1500/1500") {
		t.Fatalf("runs list:\n%s", out)
	}
}

// Quitting names the active runs as the list shows them: "1 run(s) still
// active: sb-261126-195356" for the run listed as "tuirun".
func TestQuitNamesActiveRunsAsListed(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb-261126-195356", Name: "tuirun", Model: "sb"}, State: engine.Running}, engine.Schedule{})
	m := New(f, Options{})
	press(m, "q")
	if out := screen(m, 120, 30); !strings.Contains(out, "still active: tuirun (sb-261126-195356)") {
		t.Fatalf("quit question:\n%s", out)
	}
}
