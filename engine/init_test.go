package engine

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"poselab/checkpoints"
	"poselab/engine/cpu"
	"poselab/internal/npzfile"
	"poselab/nn"
)

// stateRecorder keeps the first state each compiled program is given:
// the weights a session starts its first step from, on any backend.
type stateRecorder struct {
	mu     sync.Mutex
	states []*nn.State
}

func (r *stateRecorder) newBackend(string) (nn.Backend, error) {
	return recordingBackend{cpu.New(), r}, nil
}

// programs is how many programs have been compiled so far: the next
// session's state is first(programs()).
func (r *stateRecorder) programs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.states)
}

func (r *stateRecorder) first(i int) *nn.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.states) {
		return nil
	}
	return r.states[i]
}

type recordingBackend struct {
	nn.Backend
	rec *stateRecorder
}

func (b recordingBackend) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	p, err := b.Backend.Compile(g, opt)
	if err != nil {
		return nil, err
	}
	b.rec.mu.Lock()
	defer b.rec.mu.Unlock()
	b.rec.states = append(b.rec.states, nil)
	return &recordingProgram{Program: p, rec: b.rec, i: len(b.rec.states) - 1}, nil
}

type recordingProgram struct {
	nn.Program
	rec *stateRecorder
	i   int
}

func (p *recordingProgram) SetState(s *nn.State) error {
	p.rec.mu.Lock()
	if p.rec.states[p.i] == nil {
		c := &nn.State{Params: map[string]*nn.Tensor{}, Buffers: map[string]*nn.Tensor{}, AdamM: map[string]*nn.Tensor{}, AdamV: map[string]*nn.Tensor{}}
		for _, m := range []struct{ from, to map[string]*nn.Tensor }{{s.Params, c.Params}, {s.Buffers, c.Buffers}, {s.AdamM, c.AdamM}, {s.AdamV, c.AdamV}} {
			for k, t := range m.from {
				m.to[k] = t.Clone()
			}
		}
		c.AdamStep = s.AdamStep
		p.rec.states[p.i] = c
	}
	p.rec.mu.Unlock()
	return p.Program.SetState(s)
}

func openRecordingEngine(t *testing.T) (*Engine, *stateRecorder) {
	t.Helper()
	rec := &stateRecorder{}
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond, NewBackend: rec.newBackend})
	if err != nil {
		t.Fatal(err)
	}
	return e, rec
}

// sameWeights fails unless got's weights and BatchNorm statistics equal
// want's bit for bit.
func sameWeights(t *testing.T, what string, got, want *nn.State) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no state recorded", what)
	}
	for _, m := range []struct {
		kind      string
		got, want map[string]*nn.Tensor
	}{{"weight", got.Params, want.Params}, {"buffer", got.Buffers, want.Buffers}} {
		if len(m.got) != len(m.want) || len(m.want) == 0 {
			t.Fatalf("%s: %d %ss, want %d", what, len(m.got), m.kind, len(m.want))
		}
		for name, w := range m.want {
			g := m.got[name]
			if g == nil || !nn.SameShape(g.Shape, w.Shape) {
				t.Fatalf("%s: %s %s missing or of another shape", what, m.kind, name)
			}
			for i := range w.Data {
				if g.Data[i] != w.Data[i] {
					t.Fatalf("%s: %s[%d] = %v, want %v", what, name, i, g.Data[i], w.Data[i])
				}
			}
		}
	}
}

func finishedRun(t *testing.T, e *Engine, spec Spec) string {
	t.Helper()
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, e, id, time.Minute); info.State != Finished {
		t.Fatalf("run %s: %s %s", id, info.State, info.Reason)
	}
	return id
}

func runLog(t *testing.T, e *Engine, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.RunDir(id), "log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A run started with Init = another run's id starts its first step from
// that run's best checkpoint (weights and BatchNorm statistics, with
// fresh Adam moments), logs what it loaded and keeps the source in its
// config.toml; the same network exported as an .npz gives the same
// start. Sources that do not fit are refused at submission, leaving no
// run behind.
func TestInitFromRunAndExportedNPZ(t *testing.T) {
	e, rec := openRecordingEngine(t)
	defer e.Close()
	src := finishedRun(t, e, Spec{Model: "sb", Preset: "test", Epochs: 1, Seed: 3})
	best, err := checkpoints.Load(CkptPath(e.RunDir(src), "best"))
	if err != nil {
		t.Fatal(err)
	}

	id := finishedRun(t, e, Spec{Model: "sb", Preset: "test", Epochs: 1, Seed: 4, Init: src})
	st := rec.first(1)
	sameWeights(t, "init from run", st, best.State)
	for name, m := range st.AdamM {
		for _, v := range append(m.Data, st.AdamV[name].Data...) {
			if v != 0 {
				t.Fatalf("Adam moment of %s starts at %v, want 0 (init is not resume)", name, v)
			}
		}
	}
	if st.AdamStep != 0 {
		t.Errorf("Adam step starts at %d", st.AdamStep)
	}
	if steps := lossCurve(t, e, id); len(steps) != 32 {
		t.Errorf("the init run trained %d steps, want one epoch of 32 from step 0", len(steps))
	}
	log := runLog(t, e, id)
	want := "init from " + CkptPath(e.RunDir(src), "best") + " (step 32): 20 tensors loaded (input.*, block0.*, output.*), 0 kept their init, 0 ignored"
	if !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
	cfg, err := os.ReadFile(filepath.Join(e.RunDir(id), "config.toml"))
	if err != nil || !strings.Contains(string(cfg), "init = '"+src+"'") {
		t.Errorf("config.toml does not name the source run %s: %s %v", src, cfg, err)
	}

	t.Run("npz", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "w.npz")
		if _, err := e.ExportWeights(src, path); err != nil {
			t.Fatal(err)
		}
		n := rec.programs()
		id := finishedRun(t, e, Spec{Model: "sb", Preset: "test", Epochs: 1, Seed: 5, Init: path})
		sameWeights(t, "init from npz", rec.first(n), best.State)
		if log := runLog(t, e, id); !strings.Contains(log, "init from "+path+" (pytorch peer keys): 20 tensors loaded") {
			t.Errorf("log:\n%s", log)
		}
	})

	t.Run("ckpt file", func(t *testing.T) {
		n := rec.programs()
		id := finishedRun(t, e, Spec{Model: "sb", Preset: "test", Epochs: 1, Seed: 6, Init: CkptPath(e.RunDir(src), "best")})
		sameWeights(t, "init from a .ckpt file", rec.first(n), best.State)
		if log := runLog(t, e, id); !strings.Contains(log, "init from "+CkptPath(e.RunDir(src), "best")+": 20 tensors loaded") {
			t.Errorf("log:\n%s", log)
		}
	})

	t.Run("refused", func(t *testing.T) {
		before := len(e.Runs())
		entries, _ := os.ReadDir(e.RunsDir())
		for _, c := range []struct {
			spec Spec
			want []string
		}{
			// tiny has 256 units, the source 32
			{Spec{Model: "sb", Preset: "tiny", Init: src}, []string{"input.linear.weight", "[32 34]", "[256 34]"}},
			{Spec{Model: "ir", Preset: "tiny", Init: src}, []string{src, "is a sb run", "trains ir"}},
			{Spec{Model: "sb", Preset: "test", Init: "no-such-run.npz"}, []string{"no-such-run.npz", "no such file"}},
			{Spec{Model: "sb", Preset: "test", Init: filepath.Join(e.RunDir(src), "config.toml")}, []string{"config.toml", "want a run id"}},
		} {
			_, err := e.Submit(c.spec)
			if err == nil {
				t.Fatalf("%s from %s: accepted", c.spec.Preset, c.spec.Init)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		}
		after, _ := os.ReadDir(e.RunsDir())
		if len(e.Runs()) != before || len(after) != len(entries) {
			t.Errorf("refused submissions left runs behind: %d runs (was %d), %d entries (was %d)", len(e.Runs()), before, len(after), len(entries))
		}
	})
}

// A run started from weights and then stopped resumes from its own
// checkpoint, not from the source again; the init is logged once.
func TestInitNotReappliedOnResume(t *testing.T) {
	e, rec := openRecordingEngine(t)
	defer e.Close()
	src := finishedRun(t, e, Spec{Model: "sb-slow-test", Preset: "test", Epochs: 1, Seed: 3})
	spec := slowSpec()
	spec.Init = src
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "step 12", time.Minute, func() bool { i, _ := e.Run(id); return i.Step >= 12 })
	e.Stop(id)
	if info := waitRun(t, e, id, 10*time.Second); info.State != Stopped {
		t.Fatalf("state %s %s", info.State, info.Reason)
	}
	own, err := checkpoints.Load(CkptPath(e.RunDir(id), "last"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed session", time.Minute, func() bool { return rec.first(2) != nil })
	sameWeights(t, "resumed", rec.first(2), own.State)
	e.Stop(id)
	waitRun(t, e, id, 10*time.Second)
	if n := strings.Count(runLog(t, e, id), "init from"); n != 1 {
		t.Errorf("the log says %d times that it was initialised, want once:\n%s", n, runLog(t, e, id))
	}
}

// torchvisionNPZ writes g's backbone tensors from st under torchvision's
// names, with what torchvision's state_dict has besides (its 1000-way
// classifier, BatchNorm counters).
func torchvisionNPZ(t *testing.T, g *nn.Graph, st *nn.State, classifierIn int) string {
	t.Helper()
	var arrays []npzfile.Array
	for _, p := range g.Params {
		k, ok := strings.CutPrefix(p.Name, "backbone.")
		if !ok {
			continue
		}
		tt := st.Params[p.Name]
		if p.Buffer {
			tt = st.Buffers[p.Name]
		}
		arrays = append(arrays, npzfile.Array{Name: k, Shape: tt.Shape, Data: tt.Data})
		if strings.HasSuffix(k, "running_var") {
			arrays = append(arrays, npzfile.Array{Name: strings.TrimSuffix(k, "running_var") + "num_batches_tracked", Shape: []int{}, Data: []float32{0}})
		}
	}
	arrays = append(arrays,
		npzfile.Array{Name: "fc.weight", Shape: []int{1000, classifierIn}, Data: make([]float32, 1000*classifierIn)},
		npzfile.Array{Name: "fc.bias", Shape: []int{1000}, Data: make([]float32, 1000)})
	b, err := npzfile.NPZ(arrays)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "resnet.npz")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// An .npz with torchvision's ResNet keys fills the backbone of IR and the
// image baseline; their heads keep their init, and torchvision's
// classifier is ignored, not taken for the baseline's own fc head.
func TestInitTorchvisionKeysFillTheBackbone(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	for _, c := range []struct {
		model, kept string
		headIn      int
	}{{"ir", "kept their init (deconv.*, final.*)", 128}, {"baseline", "kept their init (fc.weight, fc.bias)", 128}} {
		spec := Spec{Model: c.model, Preset: "tiny"}
		g, _, err := weightNets[c.model](spec)
		if err != nil {
			t.Fatal(err)
		}
		want := nn.InitState(g, 99)
		path := torchvisionNPZ(t, g, want, c.headIn)
		src, err := e.openInit(path, c.model)
		if err != nil {
			t.Fatal(err)
		}
		res, err := matchInit(c.model, g, src)
		if err != nil {
			t.Fatal(err)
		}
		st := nn.InitState(g, 1)
		res.apply(g, st)
		fresh := nn.InitState(g, 1)
		backbone := 0
		for _, p := range g.Params {
			got, w := st.Params[p.Name], want.Params[p.Name]
			if p.Buffer {
				got, w = st.Buffers[p.Name], want.Buffers[p.Name]
			}
			if !strings.HasPrefix(p.Name, "backbone.") {
				w = fresh.Params[p.Name]
				if p.Buffer {
					w = fresh.Buffers[p.Name]
				}
			} else {
				backbone++
			}
			for i := range w.Data {
				if got.Data[i] != w.Data[i] {
					t.Fatalf("%s: %s[%d] = %v, want %v", c.model, p.Name, i, got.Data[i], w.Data[i])
				}
			}
		}
		line := res.summary(filepath.Base(path))
		t.Log(line)
		for _, w := range []string{"(torchvision keys)", "tensors loaded (backbone.*)", c.kept, "ignored (fc.weight, fc.bias, 12 num_batches_tracked)"} {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q lacks %q", c.model, line, w)
			}
		}
		if len(res.loaded) != backbone || len(res.ignored) != 14 {
			t.Errorf("%s: %d loaded (backbone %d), %d ignored", c.model, len(res.loaded), backbone, len(res.ignored))
		}
	}
}

// A source that names none of the model's tensors, or holds NaN, is an
// error that says so.
func TestInitRefusesUselessSources(t *testing.T) {
	g, _, err := weightNets["sb"](Spec{Preset: "test"})
	if err != nil {
		t.Fatal(err)
	}
	src := &initSource{label: "x.npz"}
	src.add("encoder.weight", []int{2}, func() ([]float32, error) { return []float32{1, 2}, nil })
	_, err = matchInit("sb", g, src)
	if err == nil || !strings.Contains(err.Error(), "matches none of model sb's 20 tensors; its keys look like encoder.weight") {
		t.Errorf("no match: %v", err)
	}
	nan := &initSource{label: "y.npz"}
	for _, p := range g.Params {
		v := make([]float32, nn.Numel(p.Shape))
		if p.Name == "output.bias" {
			v[3] = float32(nanF())
		}
		nan.add(p.Name, p.Shape, func() ([]float32, error) { return v, nil })
	}
	if _, err := matchInit("sb", g, nan); err == nil || !strings.Contains(err.Error(), "output.bias holds NaN") {
		t.Errorf("NaN: %v", err)
	}
}

func nanF() float64 { var z float64; return z / z }

// A source that cannot be read says what is wrong with it once, naming
// the file once: a text file named .npz ("npz X: zip: not a valid zip
// file" came after the path, which it named again) and a checkpoint of
// another model kind ("init X: init X: the checkpoint is of ...").
func TestInitUnreadableSourceNamedOnce(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	dir := t.TempDir()
	txt := filepath.Join(dir, "notes.npz")
	os.WriteFile(txt, []byte("hello\n"), 0o644)
	ckpt := filepath.Join(dir, "sh.ckpt")
	if err := checkpoints.Save(ckpt, &checkpoints.Checkpoint{Model: "sh", Step: 3, State: &nn.State{}}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		txt:  "init " + txt + ": not an .npz file (numpy.savez's zip of .npy arrays): it is not a zip archive",
		ckpt: "init " + ckpt + ": the checkpoint is of a sh model, this run trains sb",
	} {
		_, err := e.Submit(Spec{Model: "sb", Preset: "test", Init: path})
		if err == nil || err.Error() != want {
			t.Errorf("init %s: error %v\nwant %s", filepath.Base(path), err, want)
		}
	}
}

// --init of a run's folder (what ls runs/ offers) says what to give
// instead: the run's id, or for a run of another runs directory one of its
// checkpoints (it said only "is a folder").
func TestInitOfARunFolderSaysWhatToGive(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	src := finishedRun(t, e, Spec{Model: "sb", Preset: "test", Epochs: 1})
	other := filepath.Join(t.TempDir(), "sb-1")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "config.toml"), []byte("model = 'sb'\n"), 0o644)
	for dir, want := range map[string]string{
		e.RunDir(src): "is the folder of run " + src + ": give its id, --init " + src,
		other:         "give one of its checkpoints (" + filepath.Join(other, "checkpoints", "best.ckpt") + ")",
	} {
		_, err := e.Submit(Spec{Model: "sb", Preset: "test", Init: dir})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("init %s: %v\nwant %q", dir, err, want)
		}
	}
}

// --init of a run's name (what the workbench lists: the demo's is "demo")
// says the run's id, which it takes ("no run of that id and no such file").
func TestInitOfARunsNameSaysItsID(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	src := finishedRun(t, e, Spec{Model: "sb", Preset: "test", Epochs: 1, Name: "demo-init"})
	_, err := e.Submit(Spec{Model: "sb", Preset: "test", Init: "demo-init"})
	if want := "it is the name of run " + src + ": give its id, --init " + src; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("init of a run's name: %v\nwant %q", err, want)
	}
}

// Two runs of one name: --init of it lists both IDs (it offered the first
// as if it were the one).
func TestInitOfASharedNameListsItsRuns(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	a := finishedRun(t, e, Spec{Model: "sb", Preset: "test", Epochs: 1, Name: "twin"})
	b := finishedRun(t, e, Spec{Model: "sb", Preset: "test", Epochs: 1, Name: "twin"})
	_, err := e.Submit(Spec{Model: "sb", Preset: "test", Init: "twin"})
	if err == nil || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), b) || !strings.Contains(err.Error(), "give one's id") {
		t.Fatalf("init of a name two runs share: %v\nwant both %s and %s", err, a, b)
	}
}

// A file named .ckpt that is no poselab checkpoint names the file once
// too ("init X: checkpoint X: not a poselab checkpoint" said it twice).
func TestInitBadCheckpointNamedOnce(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	bad := filepath.Join(t.TempDir(), "notes.ckpt")
	os.WriteFile(bad, []byte("hello, this is not a checkpoint at all\n"), 0o644)
	_, err := e.Submit(Spec{Model: "sb", Preset: "test", Init: bad})
	if err == nil || strings.Count(err.Error(), bad) != 1 || !strings.Contains(err.Error(), "not a poselab checkpoint") {
		t.Fatalf("error %v", err)
	}
}
