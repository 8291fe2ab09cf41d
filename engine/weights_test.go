package engine

import (
	"strings"
	"testing"

	"poselab/nn"
)

// weightNets resolve presets without data; they must give exactly the
// parameters of the graph each task builds, for every model kind and
// preset (a kind without an entry cannot export weights).
func TestWeightNetsMatchTasks(t *testing.T) {
	presets := map[string][]string{
		"sb":       {"seed", "small", "tiny", "test"},
		"sh":       {"seed", "seed-n1", "seed-n8", "tiny", "test"},
		"ir":       {"seed", "tiny"},
		"baseline": {"seed", "tiny", "test"},
	}
	data, err := testOpenData(Spec{Data: "synth", DataSize: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range Models() {
		if strings.HasSuffix(model, "-test") {
			continue // registered by this package's tests
		}
		build, ok := weightNets[model]
		if !ok {
			t.Errorf("model %s has no weightNets entry", model)
			continue
		}
		if len(presets[model]) == 0 {
			t.Errorf("model %s: list its presets in this test", model)
		}
		f, _ := LookupTask(model)
		for _, p := range presets[model] {
			spec, err := Prepare(Spec{Model: model, Preset: p})
			if err != nil {
				t.Fatal(err)
			}
			task, err := f.New(TaskEnv{Spec: spec, Data: data})
			if err != nil {
				t.Fatalf("%s %s: %v", model, p, err)
			}
			g, _, err := build(spec)
			if err != nil {
				t.Fatalf("%s %s: %v", model, p, err)
			}
			want := task.Graph().Params
			if len(g.Params) != len(want) {
				t.Fatalf("%s %s: %d parameters, the task's graph %d", model, p, len(g.Params), len(want))
			}
			for i, q := range want {
				if g.Params[i].Name != q.Name || !nn.SameShape(g.Params[i].Shape, q.Shape) || g.Params[i].Buffer != q.Buffer {
					t.Fatalf("%s %s: parameter %d is %+v, the task's %+v", model, p, i, g.Params[i], q)
				}
			}
		}
	}
}
