package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"poselab/engine"
)

// c on a run that ended without outputs says why at once (the engine's
// CanChain, as d's CanDelete): the form opened and the chained run was
// created, then failed when it started ("has no outputs"). A chain on
// other data than its source's is refused by the engine at submit: the
// run was created and failed on the outputs' digest.
func TestChainRefusesASourceThatCannotFeedIt(t *testing.T) {
	e, err := engine.Open(engine.Options{RunsDir: t.TempDir(), WatchEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	stopped, err := e.Submit(engine.Spec{Model: "sh", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(stopped); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Wait(stopped, time.Minute); err != nil {
		t.Fatal(err)
	}
	m := New(e, Options{})
	defer m.Close()
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.selID = stopped
	m.Update(keyMsg("c"))
	if m.form != nil || !m.statusErr || !strings.Contains(m.status, "is stopped and has no outputs") {
		t.Fatalf("c on a stopped run: form open %v, status %q", m.form != nil, m.status)
	}

	src, err := e.Submit(engine.Spec{Model: "sh", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(src)
	n := len(e.Runs())
	m.refresh()
	m.selID = src
	m.Update(keyMsg("c"))
	if m.form == nil {
		t.Fatalf("c on an active run: no form, status %q", m.status)
	}
	// The form's run on another folder: refused at submit (the form
	// reopens on a refusal, as for TF32 on the CPU).
	m.newRun.data = "/x"
	if _, err := e.Submit(m.newRun.spec()); err == nil || !strings.Contains(err.Error(), "was trained on data synth, this one would be on /x") || len(e.Runs()) != n {
		t.Fatalf("chain on other data: %v, %d runs (%d before)", err, len(e.Runs()), n)
	}
}

// The chain form of SH's seed-n1 run on SB (which lacks that preset) says
// it chose another preset, and the model set back to SH takes seed-n1
// again: it stayed SB's first preset, tiny.
func TestChainFormKeepsTheSourcesPresetForAModelThatHasIt(t *testing.T) {
	fc := newFake()
	fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "sh-1", Model: "sh", Preset: "seed-n1", Data: "synth", DataSize: "seed", Device: "cpu"}, State: engine.Finished}, engine.Schedule{})
	m := New(fc, Options{})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.selID = "sh-1"
	m.Update(keyMsg("c"))
	if m.newRun == nil || m.newRun.model != "sb" || m.newRun.preset != "tiny" {
		t.Fatalf("chain form: %+v", m.newRun)
	}
	if s := screen(m, 120, 40); !strings.Contains(s, "no preset") || !strings.Contains(s, "seed-n1 (the source's)") {
		t.Fatalf("the form does not say sb lacks seed-n1:\n%s", screen(m, 120, 40))
	}
	m.newRun.model = "sh"
	m.newRun.syncPresets()
	if m.newRun.preset != "seed-n1" {
		t.Fatalf("model sh: preset %q, want the source's seed-n1", m.newRun.preset)
	}
}

// c on an SB or baseline run says at once that nothing trains on its 3D
// outputs: the form opened on SB and the engine refused it only at its
// last field ("predicts none: feed it from an sh or ir run").
func TestChainRefusesA3DSourceAtOnce(t *testing.T) {
	for _, model := range []string{"sb", "baseline"} {
		fc := newFake()
		fc.addRun(engine.RunInfo{Spec: engine.Spec{ID: "r-1", Model: model, Preset: "tiny", Data: "synth", Device: "cpu"}, State: engine.Finished}, engine.Schedule{})
		m := New(fc, Options{})
		m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		m.selID = "r-1"
		m.Update(keyMsg("c"))
		if m.form != nil || !m.statusErr || !strings.Contains(m.status, "predicts 3D poses") || !strings.Contains(m.status, "sh or ir") {
			t.Fatalf("c on a %s run: form open %v, status %q", model, m.form != nil, m.status)
		}
	}
}
