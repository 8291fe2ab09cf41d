package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"codeberg.org/sbinet/npyio/npz"

	"poselab/checkpoints"
	"poselab/engine"
	"poselab/models"
	"poselab/nn"
)

// trainRun trains a run of model/preset in runs dir: a whole epoch when
// steps is 0, else it stops the run (which checkpoints) once it has done
// about that many steps, so that slow models cost a second or two.
func trainRun(t *testing.T, dir, model, preset string, steps int) string {
	t.Helper()
	e, err := engine.Open(engine.Options{RunsDir: dir, StepEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, events, cancel := e.Subscribe()
	defer cancel()
	id, err := e.Submit(engine.Spec{Model: model, Preset: preset, Seed: 1, Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if steps > 0 {
		deadline := time.After(2 * time.Minute)
	wait:
		for {
			select {
			case ev := <-events:
				if ev.Run == id && ev.Kind == engine.EvStep && ev.Step.Step+1 >= steps {
					if err := e.Stop(id); err != nil {
						t.Fatal(err)
					}
					break wait
				}
				if ev.Run == id && (ev.Kind == engine.EvFailed || ev.Kind == engine.EvFinished) {
					t.Fatalf("%s run ended before step %d: %+v", model, steps, ev.State)
				}
			case <-deadline:
				t.Fatalf("%s run made no %d steps in 2 minutes", model, steps)
			}
		}
	}
	info, err := e.Wait(id, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[bool]engine.State{true: engine.Stopped, false: engine.Finished}[steps > 0]; info.State != want {
		t.Fatalf("%s run is %s (%s), want %s", model, info.State, info.Reason, want)
	}
	return id
}

// npzArray is one array read back with npyio (an independent reader).
type npzArray struct {
	shape []int
	data  []float32
}

func readNPZ(t *testing.T, path string) map[string]npzArray {
	t.Helper()
	r, err := npz.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[string]npzArray{}
	for _, k := range r.Keys() {
		h := r.Header(k)
		if h == nil || strings.Trim(h.Descr.Type, "'") != "<f4" || h.Descr.Fortran {
			t.Fatalf("%s: %s: header %+v, want little-endian float32 in C order", path, k, h)
		}
		var data []float32
		if err := r.Read(k, &data); err != nil {
			t.Fatal(err)
		}
		out[strings.TrimSuffix(k, ".npy")] = npzArray{shape: h.Descr.Shape, data: data}
	}
	return out
}

// Every model kind trains briefly and exports its weights; the file holds
// exactly the checkpoint's parameters and buffers (best checkpoint, or
// last for a stopped run), bit for bit and shape for shape, under the
// peer's keys (poselab's for the baseline). A few keys per kind are
// written out by hand from scripts/peer.py and torchvision's module
// names, so that a wrong rename table fails here too.
func TestExportWeightsEveryModel(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		model, preset string
		steps         int
		ckpt          string
		says          string
		keys          map[string][]int
	}{
		{"sb", "test", 0, "best", "PyTorch: load_state_dict into scripts/peer.py's SB(d=32, blocks=1, p=0.5, joints=17)", map[string][]int{
			"i.weight": {32, 34}, "bi.running_var": {32}, "blocks.0.l1.weight": {32, 32}, "blocks.0.b1.bias": {32},
			"blocks.0.l2.bias": {32}, "blocks.0.b2.running_mean": {32}, "o.weight": {51, 32}, "o.bias": {51}}},
		{"sh", "test", 2, "last", "note: peer.py's SH has a 64/128-channel stem, this network 8/16", map[string][]int{
			"stem.0.weight": {8, 3, 7, 7}, "stem.1.running_mean": {8}, "stem.3.skip.weight": {16, 8, 1, 1},
			"stem.6.bn3.running_var": {8}, "hg.0.up1.c1.bias": {8}, "hg.0.low2.low2.c2.weight": {8, 8, 3, 3},
			"feat.0.1.weight": {16, 16, 1, 1}, "feat.0.2.weight": {16}, "out.0.bias": {17}}},
		{"ir", "tiny", 1, "last", "note: peer.py's IR is torchvision's ResNet-18 (width 64, blocks [2 2 2 2])", map[string][]int{
			"back.0.weight": {16, 3, 7, 7}, "back.1.running_var": {16}, "back.4.0.conv1.weight": {16, 16, 3, 3},
			"back.5.0.downsample.0.weight": {32, 16, 1, 1}, "back.6.0.downsample.1.running_mean": {64},
			"back.7.0.bn2.weight": {128}, "deconv.0.weight": {128, 64, 4, 4}, "deconv.7.running_mean": {64},
			"final.weight": {17 * 16, 64, 1, 1}, "final.bias": {17 * 16}}},
		{"baseline", "test", 0, "best", "note: scripts/peer.py has no image baseline", map[string][]int{
			"backbone.conv1.weight": {4, 3, 7, 7}, "backbone.layer4.0.downsample.1.running_var": {32},
			"fc.weight": {51, 32}, "fc.bias": {51}}},
	}
	for _, c := range cases {
		t.Run(c.model, func(t *testing.T) {
			id := trainRun(t, dir, c.model, c.preset, c.steps)
			path := filepath.Join(dir, "w-"+c.model+".npz")
			out := mainOK(t, "export", "--run", id, "--weights", path, "--runs-dir", dir)
			ckptPath := engine.CkptPath(filepath.Join(dir, id), c.ckpt)
			if from := "(from " + c.ckpt + ".ckpt: "; !strings.Contains(out, from) || !strings.Contains(out, c.says) {
				t.Fatalf("export printed %q, want the checkpoint %q and %q", out, from, c.says)
			}
			ck, err := checkpoints.Load(ckptPath)
			if err != nil {
				t.Fatal(err)
			}
			got := readNPZ(t, path)
			want := len(ck.State.Params) + len(ck.State.Buffers)
			if len(got) != want {
				t.Fatalf("%d arrays, the checkpoint holds %d parameters and buffers", len(got), want)
			}
			for _, m := range []map[string]*nn.Tensor{ck.State.Params, ck.State.Buffers} {
				for name, tensor := range m {
					key := name
					if c.model != "baseline" {
						if key, err = models.TorchName(c.model, name); err != nil {
							t.Fatal(err)
						}
					}
					a, ok := got[key]
					if !ok {
						t.Fatalf("no array %q for checkpoint tensor %s", key, name)
					}
					if !nn.SameShape(a.shape, tensor.Shape) || len(a.data) != len(tensor.Data) {
						t.Fatalf("%s: shape %v, checkpoint %s %v", key, a.shape, name, tensor.Shape)
					}
					for i := range a.data {
						if a.data[i] != tensor.Data[i] {
							t.Fatalf("%s[%d] = %v, checkpoint %s %v", key, i, a.data[i], name, tensor.Data[i])
						}
					}
				}
			}
			for k, shape := range c.keys {
				if a, ok := got[k]; !ok || !nn.SameShape(a.shape, shape) {
					t.Errorf("%s: shape %v (present %v), want %v", k, a.shape, ok, shape)
				}
			}
			for k := range got {
				if strings.HasSuffix(k, "num_batches_tracked") {
					t.Errorf("%s written: the counters are documented as omitted", k)
				}
			}
			checkCard(t, strings.TrimSuffix(path, ".npz")+".json", id, c.model, ck)
		})
	}
}

// checkCard reads a weights card: it names the run, model and checkpoint
// step, carries the checkpoint's task state value for value, says how
// input and output are read, and for the image models gives the numbers
// its text refers to.
func checkCard(t *testing.T, path, id, model string, ck *checkpoints.Checkpoint) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no card: %v", err)
	}
	var card engine.WeightsCard
	if err := json.Unmarshal(b, &card); err != nil {
		t.Fatalf("card: %v\n%s", err, b)
	}
	if card.Format != "poselab-weights/1" || card.Run != id || card.Model != model || card.Step != ck.Step || card.Input == "" || card.Output == "" {
		t.Errorf("card %+v", card)
	}
	if len(card.TaskState) != len(ck.Task) {
		t.Errorf("card task state %d arrays, the checkpoint %d", len(card.TaskState), len(ck.Task))
	}
	for k, v := range ck.Task {
		got := card.TaskState[k]
		if len(got) != len(v.Data) {
			t.Fatalf("card task_state.%s has %d values, the checkpoint %d", k, len(got), len(v.Data))
		}
		for i := range got {
			if got[i] != v.Data[i] {
				t.Fatalf("card task_state.%s[%d] = %v, the checkpoint %v", k, i, got[i], v.Data[i])
			}
		}
		if !strings.Contains(card.Input+card.Output, "task_state."+k) {
			t.Errorf("the card's text never says what task_state.%s is for", k)
		}
	}
	// The steps poselab takes after the network, which a user must repeat
	// to get its numbers (the tasks' Decode and the flip test).
	if step := map[string]string{"sb": "subtracts the Hip", "baseline": "subtracts the Hip", "ir": "subtracts the Hip's depth",
		"sh": "flip test"}[model]; !strings.Contains(card.Output, step) {
		t.Errorf("the card's output text lacks %q: %s", step, card.Output)
	}
	wantKeys := map[string]string{"sb": "pytorch-peer", "sh": "pytorch-peer", "ir": "pytorch-peer", "baseline": "poselab"}[model]
	if card.Keys != wantKeys || card.Joints[0] != "Hip" {
		t.Errorf("card keys %q (want %q), joints %v", card.Keys, wantKeys, card.Joints)
	}
	for _, k := range map[string][]string{"sh": {"input", "heatmap"}, "ir": {"input", "depth_bins", "depth_range_mm"}, "baseline": {"input"}}[model] {
		if !(card.Config[k] > 0) || !strings.Contains(card.Input+card.Output, "config."+k) {
			t.Errorf("card config.%s = %v, or its text does not use it", k, card.Config[k])
		}
	}
}

// Bad input is refused with a clear message and never costs a file:
// an unknown run, a run without checkpoints, a path that cannot be
// written, a name that is not .npz, --weights mixed with --out.
func TestExportWeightsBadInput(t *testing.T) {
	dir := t.TempDir()
	id := trainRun(t, dir, "sb", "test", 0)
	keep := filepath.Join(dir, "keep.npz")
	if err := os.WriteFile(keep, []byte("old weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "a-file")
	os.WriteFile(file, []byte("x"), 0o644)
	folder := filepath.Join(dir, "folder.npz")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(append([]string{"export", "--runs-dir", dir}, args...), &out, &errb)
		return code, errb.String()
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--run", "no-such-run", "--weights", keep}, 2, `no run "no-such-run"`},
		{[]string{"--weights", keep}, 2, "--run is required"},
		{[]string{"--run", id, "--weights", keep, "--out", "x.csv"}, 2, "one at a time"},
		{[]string{"--run", id, "--weights", keep, "--split", "val"}, 2, "one at a time"},
		{[]string{"--run", id, "--weights", filepath.Join(dir, "w.pt")}, 2, "want a .npz file"}, // a usage error
		{[]string{"--run", id, "--weights", filepath.Join(file, "w.npz")}, 1, filepath.Join(file, "w.npz")},
		{[]string{"--run", id, "--weights", folder}, 1, folder},
	} {
		code, msg := run(c.args...)
		if code != c.code || !strings.Contains(msg, c.msg) {
			t.Errorf("export %v: exit %d, %q; want exit %d and %q", c.args, code, msg, c.code, c.msg)
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, id, "checkpoints")); err != nil {
		t.Fatal(err)
	}
	if code, msg := run("--run", id, "--weights", keep); code != 1 || !strings.Contains(msg, "has no checkpoint") {
		t.Errorf("a run without checkpoints: exit %d, %q", code, msg)
	}
	if b, _ := os.ReadFile(keep); string(b) != "old weights" {
		t.Errorf("a failed export changed %s: %q", keep, b)
	}
	if st, err := os.Stat(folder); err != nil || !st.IsDir() {
		t.Errorf("a failed export over a folder: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") { // the engine's own (.trainers: its slot locks)
			names = append(names, e.Name())
		}
	}
	if len(names) != 5 { // a-file, folder.npz, keep.npz, poselab.db, the run
		t.Errorf("the runs dir holds %v after failed exports", names)
	}
}

// The engine's Export with the format "weights" (what the TUI's export
// form sends) writes the same file and card as `export --weights`.
func TestEngineExportFormatWeights(t *testing.T) {
	dir := t.TempDir()
	id := trainRun(t, dir, "sb", "test", 0)
	viaCLI := filepath.Join(dir, "cli.npz")
	mainOK(t, "export", "--run", id, "--weights", viaCLI, "--runs-dir", dir)
	e, err := engine.Open(engine.Options{RunsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	viaEngine := filepath.Join(dir, "engine.npz")
	if _, err := e.Export(id, "", "weights", viaEngine); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(viaCLI)
	b, err := os.ReadFile(viaEngine)
	if err != nil || len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("Export(weights) wrote %d bytes (%v), export --weights %d", len(b), err, len(a))
	}
	if _, err := os.Stat(filepath.Join(dir, "engine.json")); err != nil {
		t.Errorf("no card: %v", err)
	}
}
