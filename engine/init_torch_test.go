package engine

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"poselab/internal/npzfile"
	"poselab/models"
	"poselab/nn"
	"poselab/pose"
)

const torchPython = "/usr/bin/python3"

// PyTorch state_dicts written by torch.save (zip and legacy formats, a
// strided view, a training checkpoint holding one, float64, float16 and
// bfloat16 tensors) load with exactly the values PyTorch holds (as its
// own np.savez of them says), into a baseline with torchvision's
// ResNet-18 backbone; an integer tensor the model would use and a corrupt
// file are errors that say what is wrong.
func TestInitFromTorchStateDicts(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(torchPython, "testdata/init_state_dicts.py", dir).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 3, errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		t.Skipf("skipped: %s cannot import torch and torchvision (%v: %s)", torchPython, err, strings.TrimSpace(string(out)))
	case err != nil:
		t.Fatalf("init_state_dicts.py: %v\n%s", err, out)
	}
	g, err := models.Baseline(models.BaselineConfig{Backbone: models.ResNetConfig{Depth: 18, Width: 64}, Input: 64, Joints: pose.NumJoints}, nn.L1)
	if err != nil {
		t.Fatal(err)
	}
	e := openTestEngine(t, "")
	defer e.Close()
	want := func(name string) map[string][]float32 {
		entries, err := npzfile.ReadNPZ(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]float32{}
		for _, a := range entries {
			if m[a.Name], err = a.Float32(); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	check := func(file string, want map[string][]float32, line string) {
		t.Helper()
		src, err := e.openInit(filepath.Join(dir, file), "baseline")
		if err != nil {
			t.Fatal(err)
		}
		res, err := matchInit("baseline", g, src)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.loaded) != len(want) {
			t.Errorf("%s: %d tensors loaded, PyTorch wrote %d", file, len(res.loaded), len(want))
		}
		for _, name := range res.loaded {
			w := want[strings.TrimPrefix(name, "backbone.")]
			got := res.tensors[name].Data
			if len(w) != len(got) {
				t.Fatalf("%s: %s has %d values, PyTorch %d", file, name, len(got), len(w))
			}
			for i := range w {
				if got[i] != w[i] {
					t.Fatalf("%s: %s[%d] = %v, PyTorch %v", file, name, i, got[i], w[i])
				}
			}
		}
		if s := res.summary(file); !strings.Contains(s, line) {
			t.Errorf("%s: %q lacks %q", file, s, line)
		}
	}
	all := want("want.npz")
	delete(all, "fc.weight") // torchvision's classifier: not the baseline's head
	delete(all, "fc.bias")
	for _, f := range []string{"zip.pth", "legacy.pth"} {
		start := time.Now()
		check(f, all, "100 tensors loaded (backbone.*), 2 kept their init (fc.weight, fc.bias), 22 ignored (fc.weight, fc.bias, 20 num_batches_tracked)")
		t.Logf("%s: read and matched in %v", f, time.Since(start).Round(time.Millisecond))
	}
	check("nested.pt", want("want_f64.npz"), "3 tensors loaded")
	for _, dt := range []string{"f64", "f16", "bf16"} {
		check(dt+".pth", want("want_"+dt+".npz"), "3 tensors loaded (backbone.conv1.weight, backbone.bn1.running_mean, backbone.layer1.0.conv1.weight)")
	}

	src, err := e.openInit(filepath.Join(dir, "int.pth"), "baseline")
	if err == nil {
		_, err = matchInit("baseline", g, src)
	}
	if err == nil || !strings.Contains(err.Error(), "backbone.conv1.weight (conv1.weight in the source): dtype Int is not float32") {
		t.Errorf("int32 tensor: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "zip.pth"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"cut.pth": b[:len(b)/2], "noise.pth": []byte("PK\x03\x04 not really a zip"), "legacy-cut.pth": []byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := e.openInit(p, "baseline")
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a PyTorch state_dict") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
