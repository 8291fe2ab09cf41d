package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"poselab/engine"
)

// pipeCtrl is the fixture with the engine's pipeline submitter, which
// keeps the spec the form built for the pipeline's stages.
type pipeCtrl struct {
	*fakeCtrl
	base engine.Spec
	name string
}

func (p *pipeCtrl) SubmitPipeline(name, preset string, base engine.Spec) ([]string, error) {
	p.name, p.base = name, base
	return []string{"run-1"}, nil
}

// With a pipeline chosen, Model and Init from read n/a and Enter, Tab and
// Shift+Tab pass over them; back on a single model they show, and submit,
// what was typed in them; the pipeline is submitted without an init.
func TestNewRunFormSkipsFieldsAPipelineDecides(t *testing.T) {
	pc := &pipeCtrl{fakeCtrl: fixture()}
	m := New(pc, Options{RunsDir: "/runs"})
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m.Update(keyMsg("n"))
	// 30 ms: field changes come at once; the cursor blinks wait that long, not more.
	type_ := func(ks ...string) { typeLagged(m, 0, 30*time.Millisecond, keys(ks...)...) }
	v := m.newRun

	// Single model: model sh, init "w1" (name, pipeline, model → sh,
	// preset, device, TF32; data, epochs, batch, lr, seed; init).
	type_("enter", "enter", "right", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "enter", "w", "1")
	if v.model != "sh" || v.init != "w1" {
		t.Fatalf("model %q init %q, want sh and w1", v.model, v.init)
	}
	// Back to Pipeline: init, seed, lr, batch, epochs, data, TF32, device,
	// preset, model: ten fields up.
	for range 10 {
		type_("shift+tab")
	}
	type_("right") // pipeline C
	if v.pipeline != "C" {
		t.Fatalf("pipeline %q, want C (the focus is not on Pipeline)", v.pipeline)
	}
	scr := ansi.Strip(screen(m, 120, 40))
	if strings.Count(scr, "n/a:") != 2 || strings.Contains(scr, "> w1") {
		t.Fatalf("with a pipeline, Model and Init from should read n/a:\n%s", scr)
	}
	// Enter from Pipeline lands on Preset, past Model.
	type_("enter")
	if m.form.GetFocusedField() != v.presetSel {
		t.Fatal("Enter on Pipeline did not pass over Model to Preset")
	}
	// Shift+Tab from Preset goes back to Pipeline, past Model: right there
	// changes the pipeline, not the model.
	type_("shift+tab", "right")
	if v.pipeline != "D" || v.model != "sh" {
		t.Fatalf("shift+tab from Preset: pipeline %q model %q, want D and sh", v.pipeline, v.model)
	}
	// Back to a single model: both fields show their values again.
	type_("left", "left")
	scr = ansi.Strip(screen(m, 120, 40))
	if v.pipeline != "" || strings.Contains(scr, "n/a:") || !strings.Contains(scr, "> w1") || !strings.Contains(scr, "sh") {
		t.Fatalf("back on a single model, Model (sh) and Init from (w1) should show:\n%s", scr)
	}
	if s := v.spec(); s.Model != "sh" || s.Init != "w1" {
		t.Fatalf("single-model spec: model %q init %q", s.Model, s.Init)
	}
	// Pipeline D, then Enter through: preset, device, TF32; data, epochs,
	// batch, lr, seed, patience (Init from passed over): ten Enters submit.
	type_("right", "right")
	for i := range 10 {
		if m.form == nil {
			t.Fatalf("the form closed after %d Enters, want 10", i)
		}
		type_("enter")
	}
	if m.form != nil || pc.name != "D" {
		t.Fatalf("ten Enters did not submit pipeline D (form open %v, submitted %q)", m.form != nil, pc.name)
	}
	if pc.base.Init != "" || pc.base.Model != "" {
		t.Fatalf("pipeline submitted with init %q model %q, want neither", pc.base.Init, pc.base.Model)
	}
}
