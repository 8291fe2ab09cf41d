package checkpoints

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poselab/nn"
)

func testGraph() *nn.Graph {
	b := nn.NewBuilder()
	x := b.Input("x", 4)
	b.Input("t", 3)
	h := b.BatchNorm("bn", b.Linear("fc1", x, 5))
	y := b.Linear("fc2", b.ReLU(h), 3)
	b.Output("y", y)
	b.Loss(nn.L1, y, "t", "", 1)
	return b.Build()
}

func testCheckpoint() *Checkpoint {
	g := testGraph()
	s := nn.InitState(g, 7)
	for _, m := range []map[string]*nn.Tensor{s.AdamM, s.AdamV, s.Buffers} {
		for _, t := range m {
			for i := range t.Data {
				t.Data[i] = float32(i)*0.25 + 0.125
			}
		}
	}
	s.AdamStep = 42
	s.Params["fc1.weight"].Data[0] = float32(math.Inf(1)) // odd values survive bit for bit
	s.Params["fc1.weight"].Data[1] = -0
	return &Checkpoint{Model: "test", ConfigHash: "abc", Step: 42, Epoch: 3, Pos: 2, Seed: -5, BestScore: 12.5,
		Meta: map[string]string{"schedule": `{"kind":"exp"}`}, State: s,
		Task: map[string]*nn.Tensor{"mean": {Shape: []int{2}, Data: []float32{1.5, -2}}}}
}

func sameTensors(t *testing.T, what string, a, b map[string]*nn.Tensor) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d tensors, want %d", what, len(b), len(a))
	}
	for n, x := range a {
		y := b[n]
		if y == nil || !nn.SameShape(x.Shape, y.Shape) {
			t.Fatalf("%s %s: missing or reshaped", what, n)
		}
		for i := range x.Data {
			if math.Float32bits(x.Data[i]) != math.Float32bits(y.Data[i]) {
				t.Fatalf("%s %s[%d]: %v != %v", what, n, i, y.Data[i], x.Data[i])
			}
		}
	}
}

func TestRoundTripBitwise(t *testing.T) {
	c := testCheckpoint()
	path := filepath.Join(t.TempDir(), "last.ckpt")
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Model != c.Model || d.ConfigHash != c.ConfigHash || d.Step != 42 || d.Epoch != 3 || d.Pos != 2 || d.Seed != -5 ||
		d.BestScore != 12.5 || d.State.AdamStep != 42 || d.Meta["schedule"] != c.Meta["schedule"] {
		t.Fatalf("header fields differ: %+v", d)
	}
	sameTensors(t, "params", c.State.Params, d.State.Params)
	sameTensors(t, "buffers", c.State.Buffers, d.State.Buffers)
	sameTensors(t, "adam m", c.State.AdamM, d.State.AdamM)
	sameTensors(t, "adam v", c.State.AdamV, d.State.AdamV)
	sameTensors(t, "task", c.Task, d.Task)
	if err := d.Matches("test", "abc", testGraph()); err != nil {
		t.Fatal(err)
	}
	// Encoding is deterministic: same checkpoint, same bytes.
	a, _ := Encode(c)
	b, _ := Encode(d)
	if !bytes.Equal(a, b) {
		t.Fatal("re-encoding a decoded checkpoint changed its bytes")
	}
}

func TestNaNBestScoreMeansNone(t *testing.T) {
	c := testCheckpoint()
	c.BestScore = math.NaN()
	b, err := Encode(c)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil || !math.IsNaN(d.BestScore) {
		t.Fatalf("best %v, err %v", d.BestScore, err)
	}
}

func TestCorruptFilesFailClearly(t *testing.T) {
	good, err := Encode(testCheckpoint())
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		b := append([]byte(nil), good...)
		b[i] ^= 0x10
		return b
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "truncated"},
		"truncated":      {good[:len(good)/2], "checksum mismatch"},
		"flipped body":   {flip(len(good) - 20), "checksum mismatch"},
		"flipped header": {flip(30), "checksum mismatch"},
		"bad magic":      {flip(0), "bad magic"},
		"other version":  {flip(len(Magic)), "format version"},
		"text file":      {[]byte("hello, this is not a checkpoint at all"), "bad magic"},
	}
	dir := t.TempDir()
	for name, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming the file and %q", name, err, c.want)
		}
		if verr := Verify(path); verr == nil || err == nil || verr.Error() != err.Error() {
			t.Errorf("%s: Verify says %v, Load %v", name, verr, err)
		}
		after, _ := os.ReadFile(path)
		if !bytes.Equal(after, c.data) {
			t.Errorf("%s: loading changed the file", name)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.ckpt")); err == nil || !strings.Contains(err.Error(), "missing.ckpt") {
		t.Errorf("missing file: %v", err)
	}
	if err := Verify(filepath.Join(dir, "missing.ckpt")); err == nil || !strings.Contains(err.Error(), "missing.ckpt") {
		t.Errorf("missing file: Verify says %v", err)
	}
	okPath := filepath.Join(dir, "good.ckpt")
	if err := os.WriteFile(okPath, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(okPath); err != nil {
		t.Errorf("good file: Verify says %v", err)
	}
}

func TestMismatchIsRefused(t *testing.T) {
	c := testCheckpoint()
	if err := c.Matches("sb", "abc", testGraph()); err == nil || !strings.Contains(err.Error(), `model "test"`) {
		t.Errorf("model mismatch: %v", err)
	}
	if err := c.Matches("test", "other", testGraph()); err == nil || !strings.Contains(err.Error(), "configuration") {
		t.Errorf("config mismatch: %v", err)
	}
	b := nn.NewBuilder()
	x := b.Input("x", 4)
	b.Input("t", 3)
	h := b.BatchNorm("bn", b.Linear("fc1", x, 6)) // 6 hidden instead of 5
	y := b.Linear("fc2", b.ReLU(h), 3)
	b.Loss(nn.L1, y, "t", "", 1)
	if err := c.Matches("test", "abc", b.Build()); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("shape mismatch: %v", err)
	}
}

func TestSaveReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "last.ckpt")
	c := testCheckpoint()
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	c.Step = 99
	if err := Save(path, c); err != nil {
		t.Fatal(err)
	}
	d, err := Load(path)
	if err != nil || d.Step != 99 {
		t.Fatalf("step %v, err %v", d, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
	// A failing save (no state) leaves the old file alone.
	if err := Save(path, &Checkpoint{Model: "test"}); err == nil {
		t.Fatal("saving a checkpoint without state succeeded")
	}
	if d, err := Load(path); err != nil || d.Step != 99 {
		t.Fatalf("old checkpoint damaged: %v", err)
	}
}
