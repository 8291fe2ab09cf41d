package engine

import (
	"slices"
	"strings"
	"testing"

	"poselab/models"
)

// Each model lists the presets it registered, and each of them builds its
// network: the workbench's form and train --help offer exactly these.
func TestModelPresetsAreTheRegistrations(t *testing.T) {
	want := map[string][]string{
		"sb": {"tiny", "small", "seed", "test"}, "sh": {"tiny", "seed", "seed-n1", "seed-n8", "test"},
		"ir": {"tiny", "seed", "test"}, "baseline": {"tiny", "seed", "test"},
	}
	for model, w := range want {
		got := ModelPresets(model)
		if !slices.Equal(got, w) {
			t.Errorf("%s presets %v, want %v", model, got, w)
		}
		for _, p := range got {
			s, err := Prepare(Spec{Model: model, Preset: p})
			if err != nil || s.Epochs < 1 || s.Batch < 1 {
				t.Errorf("%s preset %s: %+v, %v", model, p, s, err)
			}
			var netErr error
			switch model {
			case "sb":
				if _, ok := sbNets[p]; !ok {
					t.Errorf("sb preset %s has no network", p)
				}
			case "sh":
				_, netErr = shConfig(p)
			case "ir":
				_, netErr = models.IRPreset(p)
			case "baseline":
				_, netErr = models.BaselinePreset(p)
			}
			if netErr != nil {
				t.Errorf("%s preset %s: %v", model, p, netErr)
			}
		}
	}
	if ModelPresets("nope") != nil {
		t.Error("an unknown model has presets")
	}
	// A pipeline offers the presets all its stages have: D (SH, SB) has
	// no "small" (SB's only).
	if got := PipelinePresets("D"); !slices.Equal(got, []string{"tiny", "seed", "test"}) {
		t.Errorf("pipeline D presets %v", got)
	}
	if got := PipelinePresets("C"); !slices.Equal(got, ModelPresets("sb")) {
		t.Errorf("pipeline C (SB) presets %v", got)
	}
}

// A single run with a preset its model lacks is refused in its own words,
// naming the model's presets, with no "stage 0 (...)" of a chain.
func TestSingleRunPresetRefusal(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	_, err := e.Submit(Spec{Model: "ir", Preset: "small"})
	if err == nil || strings.Contains(err.Error(), "stage") || !strings.Contains(err.Error(), `model ir has no preset "small" (its presets: tiny, seed, test)`) {
		t.Fatalf("refusal: %v", err)
	}
	// A chain still says which stage.
	_, err = e.SubmitChain([]Spec{{Model: "sb", Preset: "test"}, {Model: "ir", Preset: "small"}})
	if err == nil || !strings.HasPrefix(err.Error(), "stage 1 (ir): ") {
		t.Fatalf("chain refusal: %v", err)
	}
}

// An unknown model, pipeline or device is answered with the known ones as a list for people,
// as an unknown preset is ("[baseline ir sb sh]" was Go's slice syntax).
func TestUnknownModelListsTheKnownOnes(t *testing.T) {
	_, err := LookupTask("xx")
	if err == nil || !strings.Contains(err.Error(), "(known: baseline, ir, sb, ") || strings.Contains(err.Error(), "[") {
		t.Fatalf("unknown model: %v", err)
	}
	if _, err := NewBackend("tpu"); err == nil || !strings.Contains(err.Error(), "(available: cpu, ") {
		t.Fatalf("unknown device: %v", err)
	}
	if _, err := LookupPipeline("Z"); err == nil || !strings.Contains(err.Error(), "(known: A, B, C, D, E, F, G") {
		t.Fatalf("unknown pipeline: %v", err)
	}
}
