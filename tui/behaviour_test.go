package tui

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"poselab/engine"
	"poselab/pose"
)

func TestSmoothEMAHandComputed(t *testing.T) {
	// w = 0.5: a1 = 0.5*1 = 0.5, /(1-0.5) = 1; a2 = 0.25 + 1.5 = 1.75,
	// /(1-0.25) = 2.3333; the debiased EMA starts on the first point.
	got := smoothEMA([]float64{1, 3}, 0.5)
	if math.Abs(got[0]-1) > 1e-12 || math.Abs(got[1]-7.0/3) > 1e-12 {
		t.Fatalf("smoothEMA = %v, want [1 2.3333]", got)
	}
	// A constant stays constant at every weight (no pull towards zero).
	for _, w := range smoothLadder {
		for i, v := range smoothEMA([]float64{5, 5, 5, 5}, w) {
			if math.Abs(v-5) > 1e-9 {
				t.Fatalf("w=%g: point %d = %g, want 5", w, i, v)
			}
		}
	}
	// Non-finite values keep the previous smoothed value; the input is
	// not modified.
	in := []float64{2, math.NaN(), 4}
	got = smoothEMA(in, 0.5)
	if got[1] != got[0] || !math.IsNaN(in[1]) {
		t.Fatalf("NaN handling: %v (input %v)", got, in)
	}
}

func TestBucketizeKeepsEnvelope(t *testing.T) {
	// 200,000 points with one spike: 50 columns keep the spike and the
	// minimum, and every point lands in some column.
	n := 200000
	xs, ys := make([]float64, n), make([]float64, n)
	for i := range xs {
		xs[i], ys[i] = float64(i), 1+0.1*math.Sin(float64(i))
	}
	ys[123456] = 42
	bs := bucketize(xs, ys, 0, float64(n-1), 50)
	hi, lo, filled := 0.0, math.Inf(1), 0
	for _, b := range bs {
		if b.ok {
			filled++
			hi, lo = math.Max(hi, b.max), math.Min(lo, b.min)
		}
	}
	if filled != 50 || hi != 42 || lo > 0.9001 {
		t.Fatalf("filled %d, max %g, min %g", filled, hi, lo)
	}
	// A window only takes its own points.
	bs = bucketize(xs, ys, 1000, 1999, 10)
	if bs[0].firstIndex != 1000 || bs[9].lastIndex != 1999 {
		t.Fatalf("window: first %d last %d", bs[0].firstIndex, bs[9].lastIndex)
	}
}

func TestLossChartManyPointsIsFast(t *testing.T) {
	// 150,000 steps draw in well under a frame budget of 100 ms.
	r := &runData{bestEpoch: -1}
	t0 := time.Now()
	for i := 0; i < 150000; i++ {
		r.step = append(r.step, float64(i))
		r.wall = append(r.wall, float64(t0.Unix())+float64(i)/100)
		r.loss = append(r.loss, 1/(1+float64(i)/1000))
		r.lr = append(r.lr, 1e-3)
	}
	runs := []plotted{{r: r, selected: true}}
	start := time.Now()
	out := lossChart(newCurvesView(), runs, 120, 30)
	if d := time.Since(start); d > 400*time.Millisecond { // ~10 ms idle; room for a loaded machine
		t.Fatalf("150k-point chart took %v", d)
	}
	if !strings.Contains(ansi.Strip(out), "@ step 149,999") {
		t.Fatalf("chart does not reach the newest step:\n%s", ansi.Strip(out))
	}
}

func TestWindowFollowsAndPans(t *testing.T) {
	v := newCurvesView()
	if a, b := v.window(0, 1000); a != 0 || b != 1000 {
		t.Fatalf("unzoomed window %g..%g", a, b)
	}
	v.zoomBy(4)
	if a, b := v.window(0, 1000); a != 750 || b != 1000 {
		t.Fatalf("zoomed window %g..%g, want the newest quarter", a, b)
	}
	v.panBy(1)
	if a, b := v.window(0, 1000); a != 500 || b != 750 {
		t.Fatalf("panned window %g..%g", a, b)
	}
	v.panBy(100) // cannot pan before the first point
	if a, b := v.window(0, 1000); a != 0 || b != 250 {
		t.Fatalf("clamped window %g..%g", a, b)
	}
}

func TestStoreDropsDuplicatesAndOrdersChains(t *testing.T) {
	s := newStore()
	ev := engine.Event{Seq: 5, Run: "a", Kind: engine.EvStep, Step: &engine.StepInfo{Step: 1, Loss: 1}}
	s.apply(ev)
	s.apply(ev) // the same event from history and channel
	if n := len(s.runs["a"].step); n != 1 {
		t.Fatalf("%d steps after a duplicate", n)
	}
	// The engine's order stays, but a follower goes under its run.
	rows := orderRuns([]engine.RunInfo{
		{Spec: engine.Spec{ID: "c", After: "a"}},
		{Spec: engine.Spec{ID: "a"}},
		{Spec: engine.Spec{ID: "b"}},
		{Spec: engine.Spec{ID: "d", After: "c"}},
	})
	var got []string
	for _, r := range rows {
		got = append(got, r.info.Spec.ID+":"+itoa(r.depth))
	}
	if strings.Join(got, " ") != "a:0 c:1 d:2 b:0" {
		t.Fatalf("order %v", got)
	}
}

func TestKeyMapIsConsistent(t *testing.T) {
	seen := map[string]action{}
	acts := map[action]bool{}
	for _, g := range keyMap {
		for _, b := range g.bindings {
			acts[b.act] = true
			for _, k := range b.key.Keys() {
				if a, dup := seen[k]; dup {
					t.Fatalf("key %q bound to actions %d and %d", k, a, b.act)
				}
				seen[k] = b.act
			}
		}
	}
	for a := actHelp; a <= actSkelLayers; a++ {
		if !acts[a] {
			t.Fatalf("action %d has no key", a)
		}
	}
	// The help screen is generated from the table: every key is on it.
	help := ansi.Strip(helpView(200, 80, 0, false))
	for k := range seen {
		if !strings.Contains(help, k) {
			t.Fatalf("help lacks key %q", k)
		}
	}
}

// run executes a command and feeds its message back, as Bubble Tea would.
func run(m *Model, cmd tea.Cmd) {
	for cmd != nil {
		msg := cmd()
		if msg == nil {
			return
		}
		if b, ok := msg.(tea.BatchMsg); ok {
			for _, c := range b {
				run(m, c)
			}
			return
		}
		// tea.Sequence's message is an unexported slice of commands.
		if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil)) {
			for i := 0; i < v.Len(); i++ {
				run(m, v.Index(i).Interface().(tea.Cmd))
			}
			return
		}
		if msg == tea.Quit() {
			return
		}
		_, cmd = m.Update(msg)
	}
}

func pressRun(m *Model, keys ...string) {
	for _, k := range keys {
		_, cmd := m.Update(keyMsg(k))
		if k != "n" && k != "e" && k != "c" { // forms start with commands we need not run
			run(m, cmd)
		}
	}
}

func TestKeysSteerTheController(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{RunsDir: "/runs"})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	if info, _ := m.selected(); info.Spec.ID != "sb-demo" {
		t.Fatalf("starts on %q, want the running run", info.Spec.ID)
	}
	pressRun(m, "p", "r", "s", "d", "n", "d", "y")
	want := []string{"pause sb-demo", "resume sb-demo", "stop sb-demo", "delete sb-demo"}
	if got := fc.callLog(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if !strings.Contains(m.status, "deleted sb-demo") {
		t.Fatalf("status %q", m.status)
	}
}

// feed runs a command as Bubble Tea would, but only one level deep and
// with a deadline: timers (cursor blink) are dropped, so it cannot loop.
func feed(m *Model, cmd tea.Cmd) { feedWithin(m, cmd, 300*time.Millisecond) }

// feedWithin is feed with wait as the deadline of each command. The
// deadline counts from when the command's goroutine runs: a loaded
// machine can leave it unscheduled for longer than wait, and a command
// that returns at once (a form's field change) was then dropped as if it
// were a timer (the form tests failed under load).
func feedWithin(m *Model, cmd tea.Cmd, wait time.Duration) {
	if cmd == nil {
		return
	}
	started, done := make(chan struct{}), make(chan tea.Msg, 1)
	go func() {
		close(started)
		done <- cmd()
	}()
	<-started
	select {
	case msg := <-done:
		if b, ok := msg.(tea.BatchMsg); ok {
			for _, c := range b {
				feedWithin(m, c, wait)
			}
			return
		}
		if msg != nil {
			_, next := m.Update(msg)
			if _, ok := msg.(submittedMsg); !ok {
				feedWithin(m, next, wait)
			}
		}
	case <-time.After(wait): // under the cursor blink (530 ms)
	}
}

func TestNewRunFormSubmits(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(keyMsg("n"))
	if !strings.Contains(screen(m, 120, 40), "New run") {
		t.Fatal("no form")
	}
	// Name, pipeline, model (→ sh), preset, device, TF32; data, epochs (7), batch, lr, seed, init, patience.
	for _, k := range []string{"x", "enter", "enter", "right", "enter", "enter", "enter", "enter", "enter", "7", "enter", "enter", "enter", "enter", "enter", "enter"} {
		_, cmd := m.Update(keyMsg(k))
		feed(m, cmd)
	}
	calls := fc.callLog()
	if len(calls) != 1 || calls[0] != "submit run-4 model=sh preset=tiny pipeline= after= epochs=7 seed=1 lr=0" {
		t.Fatalf("calls %q", calls)
	}
	if m.form != nil || m.selID != "run-4" || !strings.Contains(m.status, "started run-4") {
		t.Fatalf("after submit: form open %v, selected %q, status %q", m.form != nil, m.selID, m.status)
	}
	// A pipeline goes to the engine's pipeline submitter when it has one.
	// Name, pipeline (→ D), preset, device, TF32; data, epochs, batch, lr,
	// seed, patience: Model and Init from are n/a and skipped.
	m.Update(keyMsg("n"))
	for _, k := range []string{"enter", "right", "right", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter"} {
		_, cmd := m.Update(keyMsg(k))
		feed(m, cmd)
	}
	if calls := fc.callLog(); len(calls) != 2 || !strings.Contains(calls[1], "pipeline=D") {
		t.Fatalf("pipeline D: calls %q", calls)
	}
	// esc cancels a form without submitting.
	m.Update(keyMsg("e"))
	m.Update(keyMsg("esc"))
	if m.form != nil || len(fc.callLog()) != 2 {
		t.Fatal("esc did not cancel the export form")
	}
}

func TestChainFormSetsAfterAndFrom(t *testing.T) {
	v := &newRunValues{after: "sb-demo", model: "sb", preset: "tiny", data: "synth", device: "cpu", epochs: "3", lr: "2e-4", seed: "9", batch: "16", tf32: "off"}
	s := v.spec()
	if s.After != "sb-demo" || len(s.From) != 1 || s.From[0] != "sb-demo" || s.Epochs != 3 || s.Schedule.BaseLR != 2e-4 || s.Seed != 9 || s.Batch != 16 || s.TF32 {
		t.Fatalf("chain spec %+v", s)
	}
	v.device, v.tf32 = "cuda", "on"
	if s := v.spec(); !s.TF32 || s.Device != "cuda" {
		t.Fatalf("TF32 on cuda: spec %+v", s)
	}
	v.device = "cpu"
	if _, err := engine.Prepare(v.spec()); err == nil || !strings.Contains(err.Error(), "tf32") {
		t.Fatalf("TF32 on the CPU: Prepare said %v, want a refusal naming tf32", err)
	}
	if p := (&newRunValues{pipeline: "D", model: "sb"}).spec(); p.Pipeline != "D" || p.Model != "" {
		t.Fatalf("pipeline spec %+v", p)
	}
}

// The chain form starts from its source's data, device and preset, and
// keeps its synthetic data size, which has no field: a source trained on
// small synthetic data with the tiny preset (train --data-size small) fed
// its small-data outputs to a chained run on tiny data.
func TestChainFormKeepsTheSourcesDataSize(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh-1", Model: "sh", Preset: "tiny", Data: "synth", DataSize: "small", Device: "cpu"}, State: engine.Running}, engine.Schedule{})
	m := New(fc, Options{})
	m.openNewRun("sh-1")
	if s := m.newRun.spec(); s.DataSize != "small" || s.Preset != "tiny" || s.After != "sh-1" {
		t.Fatalf("chained spec: data size %q, preset %q, after %q", s.DataSize, s.Preset, s.After)
	}
}

// A Seed left empty trains seed 1, poselab train's default; the field
// said "empty for the preset's" (presets have none) and it trained 0.
func TestNewRunFormEmptySeedIsTrainsDefault(t *testing.T) {
	if s := (&newRunValues{model: "sb", data: "synth", seed: " "}).spec(); s.Seed != 1 {
		t.Fatalf("empty seed: %d, want 1", s.Seed)
	}
	if s := (&newRunValues{model: "sb", data: "synth", seed: "0"}).spec(); s.Seed != 0 {
		t.Fatalf("seed 0: %d", s.Seed)
	}
}

// A data folder typed in the form relative to the workbench's folder is
// stored absolute: the pipeline's report, eval and resume from another
// folder read the same data.
func TestNewRunFormKeepsTheDataFolderAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := (&newRunValues{pipeline: "E", model: "sb", preset: "tiny", data: "eth", device: "cpu"}).spec()
	if s.Data != filepath.Join(dir, "eth") {
		t.Fatalf("data %q, want %q", s.Data, filepath.Join(dir, "eth"))
	}
	if s := (&newRunValues{model: "sb", data: "synth"}).spec(); s.Data != "synth" {
		t.Fatalf("data %q, want synth", s.Data)
	}
}

// Asked about one active run, the answers say "it", not "them".
func TestQuitAboutOneRunSaysIt(t *testing.T) {
	one := newFake()
	one.addRun(engine.RunInfo{Spec: engine.Spec{ID: "x"}, State: engine.Running}, engine.Schedule{})
	m := New(one, Options{})
	m.Update(keyMsg("q"))
	if m.confirm == nil {
		t.Fatal("quitting with an active run did not ask")
	}
	v := ansi.Strip(m.confirm.view(100))
	if !strings.Contains(v, "1 run still active") || !strings.Contains(v, "stop it (") || !strings.Contains(v, "keep it training") || strings.Contains(v, "them") {
		t.Fatalf("quit dialog:\n%s", v)
	}
	m = New(fixture(), Options{}) // two active: "them"
	m.Update(keyMsg("q"))
	if v := ansi.Strip(m.confirm.view(100)); !strings.Contains(v, "stop them (") {
		t.Fatalf("quit dialog:\n%s", v)
	}
}

func TestQuitAsksOnlyWithActiveRuns(t *testing.T) {
	m := New(fixture(), Options{})
	_, cmd := m.Update(keyMsg("q"))
	if cmd != nil || m.confirm == nil {
		t.Fatal("quitting with active runs did not ask")
	}
	m.Update(keyMsg("esc"))
	if m.confirm != nil {
		t.Fatal("esc did not cancel")
	}
	// Remote sessions stop the server's runs themselves when asked to.
	fc := fixture()
	rm := New(fc, Options{Remote: true})
	pressRun(rm, "q", "s")
	if rm.QuitChoice() != QuitStopRuns || len(fc.callLog()) != 2 {
		t.Fatalf("remote stop: choice %d, calls %q", rm.QuitChoice(), fc.callLog())
	}
	// No active run: q quits at once.
	idle := newFake()
	idle.addRun(engine.RunInfo{Spec: engine.Spec{ID: "x"}, State: engine.Finished}, engine.Schedule{})
	im := New(idle, Options{})
	if _, cmd := im.Update(keyMsg("q")); cmd == nil || im.confirm != nil {
		t.Fatal("idle quit asked")
	}
}

func TestFreezeHoldsTheCharts(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	before := screen(m, 120, 40)
	m.Update(keyMsg("f"))
	frozen := screen(m, 120, 40)
	if !strings.Contains(frozen, "FROZEN") {
		t.Fatal("no FROZEN badge")
	}
	m.Update(eventsMsg{events: []engine.Event{{Seq: 1e6, Run: "sb-demo", Time: time.Now(), Kind: engine.EvStep,
		Step: &engine.StepInfo{Step: 3999, Loss: 5, LR: 1e-3}}}})
	if got := screen(m, 120, 40); !strings.Contains(got, "@ step 2,399") {
		t.Fatalf("frozen chart moved:\n%s", got)
	}
	m.Update(keyMsg("f"))
	if got := screen(m, 120, 40); !strings.Contains(got, "@ step 3,999") || got == before {
		t.Fatalf("unfrozen chart does not show the new step:\n%s", got)
	}
}

// Frozen, the skeletons view holds its samples too (a validation's new
// ones replaced them under the FROZEN badge), and a freeze right after an
// unfreeze does not go on saying "live".
func TestFreezeHoldsTheSkeletons(t *testing.T) {
	m := New(fixture(), Options{})
	press(m, "3", "f", "f", "f")
	frozen := screen(m, 120, 40)
	if !strings.Contains(frozen, "FROZEN") || strings.Contains(frozen, " live ") || !strings.Contains(frozen, "frozen (f: live)") {
		t.Fatalf("frozen screen:\n%s", frozen)
	}
	newer := scoredAsTheEngine([]engine.PoseSample{{Index: 99, GT: standingPose(0), Pred: standingPose(200)}})
	m.Update(eventsMsg{events: []engine.Event{{Seq: 1e6, Run: "sb-demo", Time: time.Now(), Kind: engine.EvEpoch,
		Epoch: &engine.EpochInfo{Epoch: 40, Step: 4000, MPJPE: 99, PerJoint: make([]float64, pose.NumJoints), Samples: newer}}}})
	if got := screen(m, 120, 40); strings.Contains(got, "validation #99") || strings.Contains(got, "epoch 41") {
		t.Fatalf("frozen skeletons moved on:\n%s", got)
	}
	m.Update(keyMsg("f"))
	if got := screen(m, 120, 40); !strings.Contains(got, "validation #99") {
		t.Fatalf("live skeletons do not show the new samples:\n%s", got)
	}
}

// Sorted worst first, the per-joint view's cut does not offer "o: worst
// first" (o then went back to the skeleton's order).
func TestJointsCutSaysWhatOTurnsTo(t *testing.T) {
	m := New(fixture(), Options{})
	press(m, "2")
	if out := screen(m, 80, 20); !strings.Contains(out, "more joints (o: worst first)") {
		t.Fatalf("skeleton order:\n%s", out)
	}
	press(m, "o")
	if out := screen(m, 80, 20); !strings.Contains(out, "more joints (o: skeleton order)") {
		t.Fatalf("worst first:\n%s", out)
	}
}

// The validation chart's title keeps the best epoch whole beside the loss
// chart of 100 columns: with 3-digit epochs the cut read "(epoch 18…".
func TestValTitleKeepsAThreeDigitBestEpoch(t *testing.T) {
	f := newFake()
	var seq int64
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	sched := engine.Schedule{Kind: "constant", BaseLR: 1e-3}
	evs := synthRun("sb-long", 3, 2400, 12, t0, sched, &seq)
	f.hist = evs
	f.addRun(engine.RunInfo{Spec: *evs[0].Spec, State: engine.Finished, Step: 2400, Epoch: 200, TotalSteps: 2400, StepsPerEpoch: 12,
		LastValMPJPE: 112.5, BestValMPJPE: 104.9, Started: t0}, sched)
	m := New(f, Options{})
	for w := 80; w <= 140; w += 2 {
		out := screen(m, w, 30)
		if !regexp.MustCompile(`best [0-9.]+ \((epoch|ep) 1[0-9][0-9]\)`).MatchString(out) {
			t.Fatalf("%d columns: no whole best epoch in the validation title:\n%s", w, out)
		}
	}
}

func TestMouseSelectsAndZooms(t *testing.T) {
	m := New(fixture(), Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(tea.MouseClickMsg{X: 10, Y: 2, Button: tea.MouseLeft}) // first list row
	if info, _ := m.selected(); info.Spec.ID != "sb-lr3" {
		t.Fatalf("click selected %q", info.Spec.ID)
	}
	m.Update(tea.MouseWheelMsg{X: 30, Y: 20, Button: tea.MouseWheelUp})
	if m.cv.zoom <= 1 {
		t.Fatalf("wheel did not zoom: %g", m.cv.zoom)
	}
	m.Update(tea.MouseClickMsg{X: 22, Y: 0, Button: tea.MouseLeft}) // "2 Joints" tab
	if m.tab != tabJoints {
		t.Fatalf("tab click: %d", m.tab)
	}
}

// A click on a run of a scrolled list leaves the list where it is: it
// scrolled the clicked run to the top (or the selection to the foot), so
// a second click on the same ■ toggled another run's overlay.
func TestMouseClickKeepsAScrolledListInPlace(t *testing.T) {
	fc := newFake()
	for i := 0; i < 7; i++ {
		fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: fmt.Sprintf("sb-%d", i), Model: "sb"}, State: engine.Finished}, engine.Schedule{})
	}
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24}) // 3 list rows
	for i := 0; i < 6; i++ {
		press(m, "down")
	}
	screen(m, 80, 24) // sb-4, sb-5, sb-6 shown, sb-6 selected
	top := tea.MouseClickMsg{X: 0, Y: 2, Button: tea.MouseLeft}
	m.Update(top)
	out := screen(m, 80, 24)
	if info, _ := m.selected(); info.Spec.ID != "sb-4" || !m.marked["sb-4"] {
		t.Fatalf("click on the first row's ■: %s selected, marked %v", info.Spec.ID, m.marked)
	}
	if row := strings.Split(out, "\n")[2]; !strings.Contains(row, "sb-4") {
		t.Fatalf("the list moved under the click: first row %q", row)
	}
	m.Update(top)
	if m.marked["sb-4"] || m.marked["sb-0"] {
		t.Fatalf("second click on the same ■: marked %v", m.marked)
	}
}

func TestNoColorProfileHasNoColours(t *testing.T) {
	tm := teatest.NewTestModel(t, New(fixture(), Options{}), teatest.WithInitialTermSize(80, 24),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	var out string
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		out += string(b)
		return strings.Contains(out, "train loss")
	}, teatest.WithDuration(time.Minute)) // its default, 1 s, a loaded machine can take to draw
	tm.Send(keyMsg("q"))
	tm.Send(keyMsg("s"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(time.Minute))
	// No SGR sequence may set a colour (30-37, 38, 40-47, 48, 90-107).
	for _, m := range sgrRE.FindAllStringSubmatch(out, -1) {
		for _, p := range strings.Split(m[1], ";") {
			n, _ := strconv.Atoi(p)
			if (n >= 30 && n <= 38) || (n >= 40 && n <= 48) || (n >= 90 && n <= 107) {
				t.Fatalf("colour sequence %q in a no-colour terminal", m[0])
			}
		}
	}
	if len(sgrRE.FindAllString(out, -1)) == 0 {
		t.Fatal("no styling at all: bold and reverse should survive without colour")
	}
}

var sgrRE = regexp.MustCompile("\x1b\\[([0-9;]*)m")

func TestRender2DSample(t *testing.T) {
	img := &engine.Thumb{W: 8, H: 8, Pix: make([]uint8, 64)}
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 255 / 63) // a ramp from black to white
	}
	gt := make([]pose.Vec2, pose.NumJoints)
	pred := make([]pose.Vec2, pose.NumJoints)
	for j := range gt {
		gt[j], pred[j] = pose.Vec2{1, 1}, pose.Vec2{6, 6}
	}
	r := &runData{bestEpoch: -1, samples: []engine.PoseSample{{Index: 3, Image: img, GT2D: gt, Pred2D: pred}}}
	out := ansi.Strip(renderSkeleton(r, skelView{}, 60, 12))
	lines := strings.Split(out, "\n")
	// 8x8 crop in 20x10 cells of 60x10 (cells are twice as tall as wide): the
	// ground truth at crop pixel (1,1) is in cell (2,1) of the picture, the
	// prediction at (6,6) in cell (15,7); the ramp ends white ('@').
	if !strings.Contains(out, "o ground truth, x prediction") || []rune(lines[2])[2] != 'o' || []rune(lines[8])[15] != 'x' || !strings.Contains(lines[10], "@") || lines[1][0] != ' ' {
		t.Fatalf("2D sample view:\n%s", out)
	}
	checkBlock(t, out, 60, 12)
}

// The skeleton view shows each sample's error as the engine scored it; it
// computes none (a 3D sample whose prediction is its ground truth still
// shows the engine's number; a sample without one shows "–").
func TestSkeletonShowsTheEnginesSampleError(t *testing.T) {
	p := standingPose(0)
	for _, c := range []struct {
		s    engine.PoseSample
		want string
	}{
		{engine.PoseSample{Index: 1, GT: p, Pred: p, ErrorMM: 12.34}, "error 12.3 mm"},
		{engine.PoseSample{Index: 1, GT: p, Pred: standingPose(30)}, "error – mm"},
		{engine.PoseSample{Index: 2, GT2D: make([]pose.Vec2, pose.NumJoints), Pred2D: make([]pose.Vec2, pose.NumJoints), ErrorPx: 4.56}, "error 4.6 px"},
	} {
		r := &runData{bestEpoch: -1, samples: []engine.PoseSample{c.s}}
		out := ansi.Strip(renderSkeleton(r, skelView{}, 120, 12))
		if first := strings.Split(out, "\n")[0]; !strings.Contains(first, c.want) {
			t.Errorf("sample %+v: title %q, want %q", c.s.Index, first, c.want)
		}
	}
}

// bigFixture is three runs of 100,000 steps each, all overlaid (the data
// goes straight into the store: building 300,000 events would only time
// the test's own set-up).
func bigFixture(b testing.TB) *Model {
	fc := newFake()
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for k, id := range []string{"a", "b", "c"} {
		sched := engine.Schedule{Kind: "cosine", BaseLR: 1e-3, TotalSteps: 200000, WarmupSteps: 1000}
		fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: id, Model: "sb", Preset: "seed", Epochs: 100}, State: engine.Running, Step: 99999, TotalSteps: 200000, Started: t0.Add(time.Duration(k) * time.Minute)}, sched)
	}
	m := New(fc, Options{})
	for _, id := range []string{"a", "b", "c"} {
		r := m.st.run(id)
		r.start = t0
		for s := 0; s < 100000; s++ {
			r.step = append(r.step, float64(s))
			r.wall = append(r.wall, float64(t0.Unix())+float64(s)/100)
			r.loss = append(r.loss, 1/(1+float64(s)/5000)+0.01*float64(s%7))
			r.lr = append(r.lr, 1e-3)
		}
	}
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(keyMsg("a")) // overlay all
	return m
}

func TestFrameWithManyPointsIsFast(t *testing.T) {
	m := bigFixture(t)
	first := ansi.Strip(m.render())
	if !strings.Contains(first, "@ step 99,999") {
		t.Fatalf("frame does not reach the newest step:\n%s", first)
	}
	// The smoothed curves are cached: a frame without new data smooths
	// nothing again, and new points extend the cache.
	for _, id := range []string{"a", "b", "c"} {
		if n := len(m.st.runs[id].ema.ys); n != 100000 {
			t.Fatalf("run %s: %d smoothed points cached", id, n)
		}
	}
	cached := &m.st.runs["a"].ema.ys[0]
	start := time.Now()
	const frames = 5
	for i := 0; i < frames; i++ {
		m.render()
	}
	per := time.Since(start) / frames
	if &m.st.runs["a"].ema.ys[0] != cached {
		t.Fatal("a frame without new data smoothed the series again")
	}
	// About 16 ms on an idle core; the bound leaves room for a loaded
	// machine and still catches a per-frame pass of O(points x columns).
	if per > 400*time.Millisecond {
		t.Fatalf("one 120x40 frame with 3 x 100,000 steps overlaid takes %v", per)
	}
	t.Logf("frame with 3 x 100k steps: %v", per)
}

func BenchmarkFrame3x100kSteps(b *testing.B) {
	m := bigFixture(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.render()
	}
}

func TestRunsListNamesPixelsFor2DModels(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh1", Model: "sh", Preset: "tiny", Epochs: 1}, State: engine.Finished, LastValMPJPE: 40.94, BestValMPJPE: 40.94}, engine.Schedule{})
	fc.hist = []engine.Event{{Seq: 1, Run: "sh1", Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: 1, Pixel: 40.94, PerJointPx: make([]float64, 17)}}}
	m := New(fc, Options{})
	out := screen(m, 120, 30)
	if !strings.Contains(out, "val px best px") || !strings.Contains(out, "40.9") || strings.Contains(out, " mm") || !strings.Contains(out, "val 2D error (px)") {
		t.Fatalf("2D run not in pixels:\n%s", out)
	}
}

// A list of 3D and 2D runs heads its validation columns without a unit
// and writes each value's: "val mm" stood above an SH run's pixels.
func TestRunsListOf3DAnd2DRunsPutsUnitsInCells(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb1", Model: "sb", Preset: "tiny", Epochs: 1}, State: engine.Finished, Step: 10, LastValMPJPE: 51.3, BestValMPJPE: 50.2}, engine.Schedule{})
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh1", Model: "sh", Preset: "tiny", Epochs: 1}, State: engine.Finished, Step: 10, LastValMPJPE: 40.94, BestValMPJPE: 40.94}, engine.Schedule{})
	fc.hist = []engine.Event{{Seq: 1, Run: "sh1", Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: 1, Pixel: 40.94, PerJointPx: make([]float64, 17)}}}
	out := screen(New(fc, Options{}), 80, 24)
	lines := strings.Split(out, "\n")
	if len(lines) < 4 || strings.Contains(lines[1], " mm") || strings.Contains(lines[1], " px") || !strings.Contains(lines[1], "val") {
		t.Fatalf("header names a unit some runs' errors lack:\n%s", out)
	}
	for _, want := range []string{"51.3mm", "50.2mm", "40.9px"} {
		if !strings.Contains(out, want) {
			t.Errorf("runs list lacks %q:\n%s", want, out)
		}
	}
}

// Per-joint errors and their mean have one decimal, as eval's: 28.0 px
// was "28" in a column of "21.2"s, and a mean of 78.0 mm "mean 78".
func TestJointsOfA2DRunKeepOneDecimal(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh1", Model: "sh", Preset: "tiny", Epochs: 1}, State: engine.Finished, LastValMPJPE: 34.6, BestValMPJPE: 34.6}, engine.Schedule{})
	pj := make([]float64, 17)
	for j := range pj {
		pj[j] = 21.2
	}
	pj[pose.RHip] = 28
	fc.hist = []engine.Event{{Seq: 1, Run: "sh1", Kind: engine.EvEpoch, Epoch: &engine.EpochInfo{Epoch: 1, Pixel: 34, PerJointPx: pj}}}
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(keyMsg("2"))
	out := screen(m, 120, 40)
	if !strings.Contains(out, "per-joint error (px)") || !strings.Contains(out, "  28.0") || !strings.Contains(out, "mean 34.0") {
		t.Fatalf("2D per-joint errors:\n%s", out)
	}
}

// A GPU run's resource line shows the device, its memory and utilisation.
func TestResourceLineShowsGPU(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh1", Model: "sh", Preset: "seed", Epochs: 1, Device: "cuda"}, State: engine.Running}, engine.Schedule{})
	fc.hist = []engine.Event{{Seq: 1, Run: "sh1", Kind: engine.EvResource, Res: &engine.Resource{Device: "NVIDIA H100 80GB HBM3",
		MemUsedBytes: 5 << 30, MemTotalBytes: 80 << 30, GPUUtil: 97, SamplesPerSec: 412}}}
	m := New(fc, Options{})
	out := screen(m, 120, 30)
	for _, want := range []string{"device NVIDIA H100 80GB HBM3", "mem 5.0 GiB / 80.0 GiB", "GPU 97%", "412 samples/s"} {
		if !strings.Contains(out, want) {
			t.Fatalf("resource line lacks %q:\n%s", want, out)
		}
	}
}

// A CPU run's resource line says what its memory numbers are: the
// process's resident set of the machine's RAM (it read "mem 37 MiB / 78
// MiB", the Go heap of the runtime's reserve, as if nearly full).
func TestResourceLineLabelsCPUMemory(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb1", Model: "sb", Preset: "tiny", Epochs: 1, Device: "cpu"}, State: engine.Running}, engine.Schedule{})
	fc.hist = []engine.Event{{Seq: 1, Run: "sb1", Kind: engine.EvResource, Res: &engine.Resource{Device: "CPU (2 cores, OpenBLAS)",
		MemUsedBytes: 310 << 20, MemTotalBytes: 16 << 30, MemKind: engine.MemHost, SamplesPerSec: 5120}}}
	m := New(fc, Options{})
	if line := ansi.Strip(m.statusLine(120)); !strings.Contains(line, "RSS 310 MiB / RAM 16.0 GiB") || strings.Contains(line, "mem ") {
		t.Fatalf("CPU resource line: %q", line)
	}
}

// A resumed run that waits for a trainer shows no memory or pace: its
// last session's sample (of this process, or published from the store for
// another process's run) is not its use while it is queued.
func TestResourceLineOfAResumedRunThatIsQueued(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb1", Model: "sb", Preset: "tiny", Epochs: 9, Device: "cpu"}, State: engine.Queued,
		Reason: "waits for the cpu trainer: run sb2 trained by poselab process 42"}, engine.Schedule{})
	fc.hist = []engine.Event{{Seq: 1, Run: "sb1", Kind: engine.EvResource, Res: &engine.Resource{Device: "CPU (2 cores, OpenBLAS)",
		MemUsedBytes: 310 << 20, MemTotalBytes: 16 << 30, MemKind: engine.MemHost, SamplesPerSec: 5120}},
		{Seq: 2, Run: "sb1", Kind: engine.EvState, State: &engine.StateInfo{From: engine.Running, To: engine.Stopped}},
		{Seq: 3, Run: "sb1", Kind: engine.EvState, State: &engine.StateInfo{From: engine.Stopped, To: engine.Queued, Reason: "resumed"}}}
	m := New(fc, Options{})
	if line := ansi.Strip(m.statusLine(160)); strings.Contains(line, "RSS") || !strings.Contains(line, "waits for the cpu trainer") {
		t.Fatalf("queued resumed run's status line: %q", line)
	}
}

// On 80 columns the resource line keeps the speed and the ETA, which
// nothing else on 80 x 24 shows: the memory's total goes, then the memory
// (the cut at the end took the ETA of a real CPU or GPU run).
func TestResourceLineKeepsTheETAOn80Columns(t *testing.T) {
	for _, c := range []struct {
		res  engine.Resource
		want []string
	}{
		{engine.Resource{Device: "CPU (2 cores, OpenBLAS)", MemUsedBytes: 104 << 20, MemTotalBytes: 23 << 30, MemKind: engine.MemHost, SamplesPerSec: 8400},
			[]string{"RSS 104 MiB", "8.4k samples/s", "ETA 1m34s"}},
		{engine.Resource{Device: "NVIDIA H100 80GB HBM3", MemUsedBytes: 5 << 30, MemTotalBytes: 80 << 30, GPUUtil: 97, SamplesPerSec: 412},
			[]string{"412 samples/s", "ETA 1m34s"}},
	} {
		fc := newFake()
		fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "r1", Model: "sb", Preset: "tiny", Epochs: 1}, State: engine.Running, ETA: 94 * time.Second}, engine.Schedule{})
		res := c.res
		fc.hist = []engine.Event{{Seq: 1, Run: "r1", Kind: engine.EvResource, Res: &res}}
		m := New(fc, Options{})
		line := ansi.Strip(m.statusLine(80))
		for _, want := range append(c.want, "device "+c.res.Device) {
			if !strings.Contains(line, want) {
				t.Errorf("80 columns: %q lacks %q", line, want)
			}
		}
		if wide := ansi.Strip(m.statusLine(200)); !strings.Contains(wide, memText(&res)) {
			t.Errorf("200 columns: %q lacks %q", wide, memText(&res))
		}
	}
}

// On 80 columns a paused run of another process keeps its reason: its
// "trained by poselab process N" goes first (the list's @N says it).
func TestForeignRunsReasonFits80Columns(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "r1", Model: "sb", Preset: "tiny", Epochs: 1}, State: engine.Paused, Reason: "paused by the user",
		Foreign: true, OwnerPID: 10402, Device: "CPU (2 cores, OpenBLAS)"}, engine.Schedule{})
	m := New(fc, Options{})
	line := ansi.Strip(m.statusLine(80))
	if !strings.Contains(line, "paused: paused by the user") || strings.Contains(line, "…") {
		t.Errorf("80 columns: %q", line)
	}
	if wide := ansi.Strip(m.statusLine(200)); !strings.Contains(wide, "trained by poselab process 10402") {
		t.Errorf("200 columns: %q", wide)
	}
}

// With runs overlaid, a narrow loss chart's title keeps the loss whole:
// the step goes, then the legend moves after it (cut at the end, the
// title read "now 0.…" on a 100-column terminal).
func TestOverlaidLossTitleKeepsTheLoss(t *testing.T) {
	m := New(fixture(), Options{})
	press(m, "a")
	for w := 80; w <= 160; w += 5 {
		out := screen(m, w, 30)
		var title string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "train loss") {
				title = l
			}
		}
		now := strings.Index(title, "now ")
		cut := strings.Index(title, "…")
		if now < 0 || !strings.Contains(title, "■ sb-demo") || (cut > now && !strings.Contains(title[now:cut], "■")) {
			t.Errorf("%d columns: loss title %q", w, title)
		}
	}
}

// A message longer than the status line takes the hint line too while it
// shows: on 80 columns the engine's refusal of a chained run was cut
// before what to do about it.
func TestLongStatusTakesTheHintLine(t *testing.T) {
	m := New(fixture(), Options{})
	msg := "new run: spec: sb lifts 2D poses, and run sb-261127-015136 (sb) predicts none: feed it from an sh or ir run"
	m.setStatus(msg, true)
	lines := strings.Split(screen(m, 80, 24), "\n")
	if len(lines) != 24 {
		t.Fatalf("%d lines", len(lines))
	}
	foot := strings.Join(strings.Fields(lines[22]+" "+lines[23]), " ")
	if foot != msg {
		t.Fatalf("footer %q, want the whole message", foot)
	}
	// A short one keeps the hint line.
	m.setStatus("paused sb-demo", false)
	if lines := strings.Split(screen(m, 80, 24), "\n"); !strings.Contains(lines[23], "? help") {
		t.Fatalf("hint line %q", lines[23])
	}
}

// The export form writes predictions by default and, with the format
// "weights", the network for PyTorch to <runs>/<run>/weights.npz; the
// status names the checkpoint that predicted (as poselab export does),
// and the card that says how to use the weights.
func TestExportFormPredictionsAndWeights(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{RunsDir: "/runs"})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	id := m.selID
	if id == "" {
		t.Fatal("no run selected")
	}
	for i, c := range []struct {
		keys []string
		call string
	}{
		{[]string{"enter", "enter", "enter"}, "export " + id + " val csv /runs/" + id + "/predictions_val.csv"},
		{[]string{"enter", "right", "right", "right", "enter", "enter"}, "export " + id + " val weights /runs/" + id + "/weights.npz"},
	} {
		m.Update(keyMsg("e"))
		if m.form == nil {
			t.Fatal("e opened no form")
		}
		for _, k := range c.keys {
			_, cmd := m.Update(keyMsg(k))
			feed(m, cmd)
		}
		calls := fc.callLog()
		if len(calls) != i+1 || calls[i] != c.call {
			t.Fatalf("calls %q, want the last to be %q", calls, c.call)
		}
		if i == 0 && !strings.Contains(m.status, "predictions_val.csv from best.ckpt: epoch 3, step 120 (val predictions of "+id+") in /runs/"+id+"/") { // the fake's checkpoint
			t.Errorf("status %q does not name the checkpoint", m.status)
		}
	}
	if !strings.HasPrefix(m.status, "exported weights.npz from best.ckpt: epoch 3, step 120 (how to use them: weights.json) of "+id+" in /runs/"+id+"/") {
		t.Errorf("status %q", m.status)
	}
}

// The help shows every description whole where the window has room for
// it: on 160 x 50 it laid out three columns and cut "export predictions
// (csv, json, npz) o…" where two columns held every line.
func TestHelpCutsNothingWhereTwoColumnsFit(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		help := ansi.Strip(helpView(160, 50, 0, readOnly))
		if strings.Contains(help, "…") {
			t.Fatalf("read-only %v: a description is cut:\n%s", readOnly, help)
		}
		if !strings.Contains(help, "export predictions (csv, json, npz) or weights (PyTorch)") && !readOnly {
			t.Fatalf("no export line whole:\n%s", help)
		}
	}
}

// Where no layout shows every description whole, the help takes the
// fewest columns the height allows: on 130 x 40 three columns cut most
// descriptions ("chain: new run after the se…"), two cut two.
func TestHelpPrefersFewerColumnsWhenSomethingIsCut(t *testing.T) {
	help := ansi.Strip(helpView(130, 40, 0, false))
	if n := strings.Count(help, "…"); n > 3 {
		t.Fatalf("%d descriptions cut at 130 x 40:\n%s", n, help)
	}
}

// The new-run form's last field, "init from", reaches the engine as the
// run's Spec.Init (a run id or a file; the engine checks it).
func TestNewRunFormInitFrom(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(keyMsg("n"))
	// Name, pipeline, model, preset, device, TF32; data, epochs, batch, lr, seed; then init, patience.
	ks := []string{"enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter"}
	ks = append(ks, strings.Split("sb-lr3", "")...)
	for _, k := range append(ks, "enter", "3", "enter") {
		_, cmd := m.Update(keyMsg(k))
		feedWithin(m, cmd, 100*time.Millisecond)
	}
	info, ok := fc.Run("run-4")
	if !ok || info.Spec.Init != "sb-lr3" || info.Spec.Patience != 3 {
		t.Fatalf("calls %q; submitted init %q, patience %d; want sb-lr3 and 3", fc.callLog(), info.Spec.Init, info.Spec.Patience)
	}
}

// r on a finished run opens the extend form (the engine cannot resume it
// as it is): its default trains as many epochs again, and Enter through
// it asks the engine to extend the run.
func TestResumeOfAFinishedRunExtendsIt(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.selID = "sb-lr3" // finished, 10 of 10 epochs
	m.Update(keyMsg("r"))
	if scr := screen(m, 120, 40); !strings.Contains(scr, "Extend sb-lr3: it trained 10 epochs, best val 47.9 mm") {
		t.Fatalf("no extend form:\n%s", scr)
	}
	for _, k := range []string{"enter", "enter"} {
		_, cmd := m.Update(keyMsg(k))
		feedWithin(m, cmd, 100*time.Millisecond)
	}
	if calls := fc.callLog(); len(calls) != 1 || calls[0] != "extend sb-lr3 20 0" {
		t.Fatalf("calls %q", calls)
	}
	if !strings.Contains(m.status, "extended sb-lr3 to 20 epochs") {
		t.Fatalf("status %q", m.status)
	}
	// A running run is resumed as before.
	m.selID = "sb-demo"
	pressRun(m, "r")
	if calls := fc.callLog(); calls[len(calls)-1] != "resume sb-demo" {
		t.Fatalf("calls %q", calls)
	}
}

// A run no extension can take (a pipeline stage a later stage trained
// on) is refused at r: the form asked for epochs and patience first and
// only then said no.
func TestResumeOfARunThatCannotBeExtendedSaysWhyAtOnce(t *testing.T) {
	fc := fixture()
	fc.noExt = map[string]error{"sb-lr3": errors.New("run sb-next (finished) trained on run sb-lr3's outputs")}
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.selID = "sb-lr3"
	m.Update(keyMsg("r"))
	if scr := screen(m, 120, 40); strings.Contains(scr, "Extend sb-lr3") {
		t.Fatalf("the extend form opened:\n%s", scr)
	}
	if !m.statusErr || !strings.Contains(m.status, "trained on run sb-lr3's outputs") {
		t.Fatalf("status %q", m.status)
	}
	if calls := fc.callLog(); len(calls) != 0 {
		t.Fatalf("calls %q", calls)
	}
}

// d on a run the engine will not delete (an active one) says why at once:
// the workbench asked "Delete run?" and only refused after y.
func TestDeleteOfAnActiveRunSaysWhyAtOnce(t *testing.T) {
	fc := fixture()
	fc.noDel = map[string]error{"sb-demo": errors.New("run sb-demo is running: stop it first")}
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.selID = "sb-demo"
	m.Update(keyMsg("d"))
	if m.confirm != nil {
		t.Fatalf("the delete question opened:\n%s", screen(m, 120, 40))
	}
	if !m.statusErr || m.status != "run sb-demo is running: stop it first" {
		t.Fatalf("status %q", m.status)
	}
	if calls := fc.callLog(); len(calls) != 0 {
		t.Fatalf("calls %q", calls)
	}
	// A run it may delete is asked about as before.
	m.selID = "sb-lr3"
	m.Update(keyMsg("d"))
	if m.confirm == nil || !strings.Contains(m.confirm.text, "run sb-lr3?") {
		t.Fatalf("no delete question for sb-lr3:\n%s", screen(m, 120, 40))
	}
}

// On 80x24 the new-run form is taller than the screen: a Patience it
// refuses says why where it can be seen (the reason, under the columns,
// was cut off, and enter did nothing visible), and the reason fits the
// field (empty means train every epoch, not "the preset's").
func TestNewRunFormRefusalShowsOnASmallScreen(t *testing.T) {
	m := New(fixture(), Options{})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(keyMsg("n"))
	ks := []string{"enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "a", "b", "c", "enter"}
	for _, k := range ks {
		_, cmd := m.Update(keyMsg(k))
		feedWithin(m, cmd, 100*time.Millisecond)
	}
	out := screen(m, 80, 24)
	if !strings.Contains(out, "> abc") || !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(out, "│", "")), " "), "or empty to train every epoch") {
		t.Fatalf("no reason for refusing the patience in view:\n%s", out)
	}
}

// The same grid run twice names its runs alike ("lr=1e-3,seed=1" twice in
// the list, nothing to tell them apart): a name two runs share comes with
// its ID from the time on; a name of its own, or none, does not.
func TestRunsListTellsApartRunsOfTheSameName(t *testing.T) {
	rows := orderRuns([]engine.RunInfo{
		{Spec: engine.Spec{ID: "sb-261126-215209", Name: "lr=1e-3,seed=1"}},
		{Spec: engine.Spec{ID: "sb-261126-215323-2", Name: "lr=1e-3,seed=1"}},
		{Spec: engine.Spec{ID: "sb-3", Name: "lr=3e-4"}},
		{Spec: engine.Spec{ID: "sb-4"}},
	})
	var got []string
	for _, r := range rows {
		got = append(got, runColumns[0].cell(r))
	}
	want := "lr=1e-3,seed=1 · 215209|lr=1e-3,seed=1 · 215323-2|lr=3e-4|sb-4"
	if strings.Join(got, "|") != want {
		t.Fatalf("names %q, want %q", strings.Join(got, "|"), want)
	}
}

// r on a run that patience ended offers patience 0: its own patience
// kept would end it again after the next epoch that does not improve.
func TestExtendOfARunPatienceEndedOffersPatienceZero(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	info, _ := fc.Run("sb-lr3")
	info.Spec.Epochs, info.Spec.Patience, info.Reason = 40, 2, "early stop: best val MPJPE 47.90 mm at epoch 8, none better in the 2 epochs since (patience 2)"
	m.selID = "sb-lr3"
	m.openExtend(info)
	for _, k := range []string{"enter", "enter"} {
		_, cmd := m.Update(keyMsg(k))
		feedWithin(m, cmd, 100*time.Millisecond)
	}
	if calls := fc.callLog(); len(calls) != 1 || calls[0] != "extend sb-lr3 40 0" {
		t.Fatalf("calls %q", calls)
	}
}

// The extend form counts one trained epoch as one ("it trained 1 epochs").
func TestExtendFormTitleOneEpoch(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	info, _ := fc.Run("sb-lr3")
	info.Epoch, info.Spec.Epochs = 1, 1
	m.selID = "sb-lr3"
	m.openExtend(info)
	if !strings.Contains(m.formTitle, "it trained 1 epoch,") {
		t.Fatalf("title %q", m.formTitle)
	}
}

// Extended to one epoch in all (a run stopped in its first), the status
// counts it as one ("extended X to 1 epochs").
func TestExtendStatusOneEpoch(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	info, _ := fc.Run("sb-lr3")
	info.Epoch, info.Spec.Epochs, info.Spec.Patience = 0, 1, 0
	m.selID = "sb-lr3"
	m.openExtend(info)
	for _, k := range []string{"enter", "enter"} {
		_, cmd := m.Update(keyMsg(k))
		feedWithin(m, cmd, 100*time.Millisecond)
	}
	if calls := fc.callLog(); len(calls) != 1 || calls[0] != "extend sb-lr3 1 0" {
		t.Fatalf("calls %q", calls)
	}
	if m.status != "extended sb-lr3 to 1 epoch" {
		t.Fatalf("status %q", m.status)
	}
}

// An SH run's predictions are 2D joints, which only the JSON export holds
// (the MPII prediction file metrics --2d scores): the form offered csv
// first, which the export then refused.
func TestExportFormOfSHRunOffersJSON(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh-1", Model: "sh", Preset: "tiny", Epochs: 3}, State: engine.Finished}, engine.Schedule{})
	runs := t.TempDir()
	// What the engine writes beside the file for a split with Human3.6M
	// records too: the status names every file Export says it wrote.
	fc.exportAlso = "predictions_val_h36m.json"
	m := New(fc, Options{RunsDir: runs})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 40})
	for i, c := range []struct {
		keys []string
		call string
	}{
		{[]string{"enter", "enter", "enter"}, "export sh-1 val json " + filepath.Join(runs, "sh-1", "predictions_val.json")},
		{[]string{"enter", "right", "enter", "enter"}, "export sh-1 val weights " + filepath.Join(runs, "sh-1", "weights.npz")},
	} {
		m.Update(keyMsg("e"))
		if m.form == nil {
			t.Fatal("e opened no form")
		}
		for _, k := range c.keys {
			_, cmd := m.Update(keyMsg(k))
			feed(m, cmd)
		}
		if calls := fc.callLog(); len(calls) != i+1 || calls[i] != c.call {
			t.Fatalf("calls %q, want the last to be %q", calls, c.call)
		}
		if i == 0 && !strings.HasPrefix(m.status, "exported predictions_val.json and predictions_val_h36m.json from best.ckpt: epoch 3, step 120 (val predictions of sh-1)") {
			t.Errorf("status %q does not name both files", m.status)
		}
	}
}

// A negative seed is a seed (the engine seeds with its 64 bits, and
// train --seed -3 trains): the form refused it, "a whole number ≥ 0".
func TestNewRunFormTakesNegativeSeed(t *testing.T) {
	for s, ok := range map[string]bool{"": true, "-3": true, "0": true, "42": true, "x": false, "1.5": false, "99999999999999999999": false} {
		if err := seedOrEmpty(s); (err == nil) != ok {
			t.Errorf("seed %q: %v", s, err)
		}
	}
	if s := (&newRunValues{model: "sb", preset: "tiny", data: "synth", device: "cpu", seed: "-3", tf32: "off"}).spec(); s.Seed != -3 {
		t.Fatalf("seed -3: spec seed %d", s.Seed)
	}
}
