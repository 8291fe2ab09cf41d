package tui

// Tests of what a walk through the workbench (tmux, 80x24 to 120x40, every
// key of the help) found: each failed before its fix.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// storedCtrl is a fake engine with a run store: every step of its runs.
type storedCtrl struct {
	*fakeCtrl
	steps []engine.StepPoint
}

func (c *storedCtrl) Steps(string) ([]engine.StepPoint, error)  { return c.steps, nil }
func (c *storedCtrl) Epochs(string) ([]engine.EpochInfo, error) { return nil, nil }

// A run of a second sends a handful of step events (the engine thins them
// to ten a second): once it has ended, its loss chart draws every stored
// step, so a loss that jumped to 411 between two events (a learning rate
// of 10) shows, as it does after a restart, instead of a smooth line
// through the events.
func TestEndedRunDrawsEveryStoredStep(t *testing.T) {
	c := &storedCtrl{fakeCtrl: newFake()}
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for k := 0; k < 64; k++ {
		loss := 1.0
		if k == 1 {
			loss = 411
		}
		c.steps = append(c.steps, engine.StepPoint{Step: k, Loss: loss, LR: 10, Time: float64(t0.Unix()) + float64(k)/64})
	}
	spec := engine.Spec{ID: "r", Model: "sb", Preset: "test", Epochs: 2}
	c.addRun(engine.RunInfo{Spec: spec, State: engine.Running, Step: 0, TotalSteps: 64, Started: t0}, engine.Schedule{Kind: "constant", BaseLR: 10})
	m := New(c, Options{})
	var seq int64
	ev := func(e engine.Event) engine.Event {
		seq++
		e.Seq, e.Run, e.Time = seq, "r", t0.Add(time.Duration(seq)*100*time.Millisecond)
		return e
	}
	evs := []engine.Event{ev(engine.Event{Kind: engine.EvStarted, Spec: &spec})}
	for _, s := range []int{1, 32, 64} { // what the thinning let through
		evs = append(evs, ev(engine.Event{Kind: engine.EvStep, Step: &engine.StepInfo{Step: s, Loss: 1, LR: 10, TotalSteps: 64}}))
	}
	m.Update(eventsMsg{events: evs})
	screen(m, 120, 40)
	if r := m.visible("r"); len(r.step) != 3 {
		t.Fatalf("while it trains the chart has the %d step events, want 3", len(r.step))
	}
	c.addRun(engine.RunInfo{Spec: spec, State: engine.Finished, Step: 64, TotalSteps: 64, Started: t0}, engine.Schedule{Kind: "constant", BaseLR: 10})
	m.Update(eventsMsg{events: []engine.Event{ev(engine.Event{Kind: engine.EvFinished, State: &engine.StateInfo{From: engine.Running, To: engine.Finished}})}})
	screen(m, 120, 40)
	r := m.visible("r")
	if len(r.step) != 64 || slices.Max(r.loss) != 411 {
		t.Fatalf("after it finished the chart has %d steps (max loss %v), want the 64 stored ones (max 411)", len(r.step), slices.Max(r.loss))
	}
	for i := 1; i < len(r.step); i++ {
		if r.step[i] <= r.step[i-1] {
			t.Fatalf("steps not ascending at %d", i)
		}
	}
}

// Resuming a run starts a new session (RunInfo.Started moves on): the list
// kept it in its place, the engine's order, where it sorted it to the
// foot by that start, under runs started after it.
func TestResumedRunKeepsItsPlaceInTheList(t *testing.T) {
	c := newFake()
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	for i, id := range []string{"first", "second", "third"} {
		c.addRun(engine.RunInfo{Spec: engine.Spec{ID: id, Model: "sb"}, State: engine.Finished, Started: t0.Add(time.Duration(i) * time.Minute)}, engine.Schedule{})
	}
	c.addRun(engine.RunInfo{Spec: engine.Spec{ID: "first", Model: "sb"}, State: engine.Running, Started: t0.Add(time.Hour)}, engine.Schedule{})
	m := New(c, Options{})
	screen(m, 120, 40)
	var got []string
	for _, r := range m.rows {
		got = append(got, r.info.Spec.ID)
	}
	if !slices.Equal(got, []string{"first", "second", "third"}) {
		t.Fatalf("list %v after resuming the first run", got)
	}
}

// A run chained after a finished one starts at once: the status line said
// "queued run-4: it starts when done finishes" while it trained.
func TestChainedAfterAFinishedRunSaysStarted(t *testing.T) {
	f := fixture()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "done", Model: "sh", Preset: "test", Data: "synth", Device: "cpu"}, State: engine.Finished}, engine.Schedule{})
	m := New(f, Options{})
	id, _ := f.Submit(engine.Spec{Model: "sb", Preset: "test", After: "done", From: []string{"done"}})
	m.Update(submittedMsg{id: id})
	if m.status != "started "+id {
		t.Fatalf("status %q", m.status)
	}
}

// An SH run scores its validation in pixels: before its first one its
// chart said "val MPJPE (mm)", and "val 2D error (px)" after it.
func TestSHRunsEmptyValidationChartSaysPixels(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh-1", Model: "sh", Preset: "test", Epochs: 6}, State: engine.Running, Step: 174, TotalSteps: 2304}, engine.Schedule{Kind: "constant", BaseLR: 1e-3})
	out := screen(New(f, Options{}), 120, 40)
	if !strings.Contains(out, "val 2D error (px)") || strings.Contains(out, "MPJPE") {
		t.Fatalf("SH run before its first validation:\n%s", out)
	}
}

// On 80 x 24 the help showed two columns of 24-cell descriptions, most of
// them cut ("quit (asks about active…"): it scrolls either way, so one
// column shows each whole, and pgdown pages through it.
func TestHelpOn80x24ShowsEveryDescriptionWhole(t *testing.T) {
	m := New(fixture(), Options{})
	screen(m, 80, 24)
	press(m, "?")
	var seen strings.Builder
	for i := 0; i < 10; i++ {
		seen.WriteString(screen(m, 80, 24))
		press(m, "pgdown")
	}
	for _, g := range keyMap {
		for _, b := range g.bindings {
			if d := b.helpText(false); !strings.Contains(seen.String(), d) {
				t.Errorf("help never shows %q whole", d)
			}
		}
	}
}

// On 80 columns the skeleton title ended "ground truth + prediction ·…":
// the sample's error (mm) and the rotation were cut. The legend says which
// layers t shows.
func TestSkeletonTitleKeepsErrorOn80Columns(t *testing.T) {
	m := New(fixture(), Options{})
	screen(m, 80, 24)
	press(m, "3")
	out := screen(m, 80, 24)
	if !strings.Contains(out, " mm · yaw +0°") {
		t.Fatalf("skeleton view on 80x24:\n%s", out)
	}
	press(m, "t")
	if out := screen(m, 80, 24); !strings.Contains(out, "ground truth only") {
		t.Fatalf("t (ground truth only) on 80x24:\n%s", out)
	}
}

// A run that diverges pauses itself: the status line says so at once, in
// red, whichever run is selected. It kept "resumed sb-1" (the key just
// pressed) and then showed the reason only for the selected run.
func TestDivergedRunSaysSoAtOnce(t *testing.T) {
	f := fixture() // sb-demo is selected
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb-9", Name: "hot", Model: "sb"}, State: engine.Running}, engine.Schedule{})
	m := New(f, Options{})
	screen(m, 120, 40)
	m.setStatus("resumed sb-9", false)
	reason := "diverged: loss NaN at step 32 (lr 10); resume restarts from the last checkpoint"
	m.Update(eventsMsg{events: []engine.Event{{Seq: 1 << 40, Run: "sb-9", Kind: engine.EvState,
		State: &engine.StateInfo{From: engine.Running, To: engine.Paused, Reason: reason}}}})
	if !m.statusErr || m.status != "hot paused: "+reason {
		t.Fatalf("status %q (error %v)", m.status, m.statusErr)
	}
	// A pause the user asked for is no alarm.
	m.setStatus("paused sb-demo", false)
	m.Update(eventsMsg{events: []engine.Event{{Seq: 1 << 40, Run: "sb-demo", Kind: engine.EvState,
		State: &engine.StateInfo{From: engine.Running, To: engine.Paused, Reason: "paused by the user"}}}})
	if m.status != "paused sb-demo" {
		t.Fatalf("status %q after a pause asked for", m.status)
	}
}

// The model column held 9 cells: "baseline/test" read "baseline…", its
// preset cut, on 120 columns with room to spare.
func TestModelColumnShowsBaselinesPreset(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "baseline-1", Model: "baseline", Preset: "test"}, State: engine.Finished}, engine.Schedule{})
	if out := screen(New(f, Options{}), 120, 30); !strings.Contains(out, "baseline/test") {
		t.Fatalf("runs list:\n%s", out)
	}
}

// The delete question named the run by its ID only, which a named run's
// row does not show: "Delete run sb-261126-231115" for the row "big-lr".
func TestDeleteNamesTheRunAsListed(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb-261126-231115", Name: "big-lr", Model: "sb"}, State: engine.Finished}, engine.Schedule{})
	m := New(f, Options{})
	screen(m, 120, 30)
	press(m, "d")
	if out := screen(m, 120, 30); !strings.Contains(out, "Delete finished sb run big-lr (sb-261126-231115)?") {
		t.Fatalf("delete question:\n%s", out)
	}
}

// A new run that waits for a trainer said "started": the engine's reason
// says what it waits for.
func TestQueuedNewRunSaysWhatItWaitsFor(t *testing.T) {
	f := fixture()
	m := New(f, Options{})
	id, _ := f.Submit(engine.Spec{Model: "sb", Preset: "test"})
	info, _ := f.Run(id)
	info.Reason = "waits for a trainer (1 at a time): hot (paused: resume or stop it)"
	f.addRun(info, engine.Schedule{})
	m.Update(submittedMsg{id: id})
	if m.status != "queued "+id+": "+info.Reason {
		t.Fatalf("status %q", m.status)
	}
}

// A run chained after a finished run waits for a trainer like any other
// (the chain link is kept): its status said "started" under the busy
// trainers, the engine's reason unsaid.
func TestQueuedChainedRunAfterAFinishedOneSaysWhatItWaitsFor(t *testing.T) {
	f := fixture()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "done", Model: "sh", Preset: "test"}, State: engine.Finished}, engine.Schedule{})
	m := New(f, Options{})
	id, _ := f.Submit(engine.Spec{Model: "sb", Preset: "test", After: "done", From: []string{"done"}})
	info, _ := f.Run(id)
	info.State, info.Reason = engine.Queued, "waits for a trainer (1 at a time): hot (paused: resume or stop it)"
	f.addRun(info, engine.Schedule{})
	m.Update(submittedMsg{id: id})
	if m.status != "queued "+id+": "+info.Reason {
		t.Fatalf("status %q", m.status)
	}
}

// The export's status ended with the file's path, which the status line
// cut on 80 columns: "exported sb-261126-231912 val predictions to
// /tmp/tuiwalk-runs/sb-261126-2319…". The file comes first now.
func TestExportStatusShowsTheFileOn80Columns(t *testing.T) {
	fc := fixture()
	m := New(fc, Options{RunsDir: "/tmp/tuiwalk-runs"})
	screen(m, 80, 24)
	m.Update(keyMsg("e"))
	for _, k := range []string{"enter", "enter", "enter"} {
		_, cmd := m.Update(keyMsg(k))
		feed(m, cmd)
	}
	// And the checkpoint that predicted: "… in /tmp/tuiwalk-runs/…, from
	// best.ckpt: epoch 3, step 120" cut it.
	if out := screen(m, 80, 24); !strings.Contains(out, "exported predictions_val.csv from best.ckpt: epoch 3, step 120") {
		t.Fatalf("after the export:\n%s", out)
	}
}

// On 80 columns the Joints view left out its side panel: the epoch's
// P-MPJPE, 3DPCK and AUC and the per-action table showed nowhere, though
// the help promises "per-joint and per-action error".
func TestJointsOn80ColumnsShowSummaryAndActions(t *testing.T) {
	m := New(fixture(), Options{})
	screen(m, 80, 24)
	press(m, "2")
	out := screen(m, 80, 24)
	for _, want := range []string{"P-MPJPE", "per action (mm)", "┃ best epoch"} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q on 80x24:\n%s", want, out)
		}
	}
}

// A form goes back a field with shift+tab, which neither its footer nor
// the hint line said.
func TestFormHintSaysShiftTabGoesBack(t *testing.T) {
	m := New(fixture(), Options{})
	screen(m, 80, 24)
	press(m, "n")
	if out := screen(m, 80, 24); !strings.Contains(out, "shift+tab back") {
		t.Fatalf("new-run form:\n%s", out)
	}
}

// The quit question counted "1 run(s) still active".
func TestQuitCountsRunsInWords(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "a", Model: "sb"}, State: engine.Running}, engine.Schedule{})
	m := New(f, Options{})
	press(m, "q")
	if out := screen(m, 120, 30); !strings.Contains(out, "1 run still active: a") {
		t.Fatalf("quit question:\n%s", out)
	}
}

// The list's epoch column counts epochs done: headed "epoch", a run in its
// first epoch read "epoch 0/25", though people count epochs from 1.
func TestEpochColumnSaysEpochsDone(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "a", Model: "sb", Epochs: 25}, State: engine.Running, Step: 10, TotalSteps: 800}, engine.Schedule{})
	out := screen(New(f, Options{}), 120, 30)
	if !strings.Contains(strings.Split(out, "\n")[1], " epochs ") {
		t.Fatalf("runs list:\n%s", out)
	}
}

// On 80 columns the validation and learning-rate charts share the width:
// their titles were cut at the end, losing the best epoch ("best 42.4 (…")
// and the rate's step ("now 9.2e-4 @ ste…"). Narrow, they shed what the
// runs list shows instead.
func TestNarrowChartTitlesKeepTheirNumbers(t *testing.T) {
	m := New(fixture(), Options{})
	out := screen(m, 80, 24)
	for _, want := range []string{"best 42.4 (epoch 10)", "lr [cosine, log] · now 3.7e-4"} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q on 80x24:\n%s", want, out)
		}
	}
}

// The help's head line cut its mouse note on 80 columns ("click its ■ to
// overlay, w…"): what the wheel does showed nowhere. It takes the line
// under the head where the head has no room for it.
func TestHelpHeadKeepsTheMouseNoteOn80Columns(t *testing.T) {
	m := New(fixture(), Options{})
	screen(m, 80, 24)
	press(m, "?")
	out := screen(m, 80, 24)
	if !strings.Contains(out, "wheel zooms the curves") || !strings.Contains(out, "pgup/pgdn scroll") {
		t.Fatalf("help on 80x24:\n%s", out)
	}
	if out := screen(m, 160, 50); !strings.Contains(out, "Keys  · mouse: click a run") {
		t.Fatalf("help on 160x50 (room for the note on the head's line):\n%s", out)
	}
}

// A list of SH runs before their first validation was headed "val mm":
// the unit comes from the model then, as the empty chart's does.
func TestRunsListOfNewSHRunsIsHeadedPixels(t *testing.T) {
	f := newFake()
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh-1", Model: "sh", Preset: "test", Epochs: 6}, State: engine.Running, Step: 10, TotalSteps: 2304}, engine.Schedule{})
	head := strings.Split(screen(New(f, Options{}), 120, 30), "\n")[1]
	if !strings.Contains(head, "val px") || strings.Contains(head, "mm") {
		t.Fatalf("runs list head: %q", head)
	}
	f.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sb-1", Model: "sb", Preset: "test", Epochs: 6}, State: engine.Queued}, engine.Schedule{})
	if head := strings.Split(screen(New(f, Options{}), 120, 30), "\n")[1]; !strings.Contains(head, "val mm") {
		t.Fatalf("runs list head with an SB run too: %q", head)
	}
}

// A run queued when it was submitted that starts a moment later (the
// trainer's run was ending) said "queued X: waits for a trainer …" for
// the status line's seconds while it trained.
func TestQueuedRunThatStartsSaysStarted(t *testing.T) {
	f := fixture()
	m := New(f, Options{})
	id, _ := f.Submit(engine.Spec{Model: "sb", Preset: "test"})
	info, _ := f.Run(id)
	info.State, info.Reason = engine.Queued, "waits for a trainer (1 at a time): other"
	f.addRun(info, engine.Schedule{})
	m.Update(submittedMsg{id: id})
	m.Update(eventsMsg{events: []engine.Event{{Seq: 1, Run: id, Kind: engine.EvState, State: &engine.StateInfo{From: engine.Queued, To: engine.Running}}}})
	if m.status != "started "+id {
		t.Fatalf("status %q once it runs", m.status)
	}
}
