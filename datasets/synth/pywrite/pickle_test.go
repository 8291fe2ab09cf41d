package pywrite

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/gopickle/pickle"
)

func sample() *Dict {
	cam := &Dict{}
	cam.Set("R", &Array{Shape: []int{3, 3}, Data: []float64{1, 0, 0, 0, 1, 0, 0, 0, 1}})
	cam.Set("fx", 1145.5)
	cam.Set("name", "54138969")
	rec := &Dict{}
	rec.Set("image", "S1/a.jpg")
	rec.Set("center_x", 466.25)
	rec.Set("joints_3d", &Array{Shape: []int{2, 3}, Data: []float64{1, 2, 3, 4.5, -5, 6e10}})
	rec.Set("camera", &Object{Module: "lib.utils.cameras", Name: "Camera", State: cam})
	rec.Set("tags", Tuple{1, -70000, int64(1) << 40, true, nil})
	rec.Set("raw", []byte{0, 1, 2})
	top := &Dict{}
	top.Set(1, List{rec, rec})
	long := make(List, 2500)
	for i := range long {
		long[i] = i
	}
	top.Set(2, long)
	top.Set(("S1"), strings.Repeat("x", 300))
	return top
}

// TestPythonReadsIt loads the pickle in real Python with numpy when the
// machine has them (Debian's python3-numpy), checking values exactly.
func TestPythonReadsIt(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("python3 without numpy")
	}
	data, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.pkl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import pickle, sys, types, numpy as np
class Camera:
    pass
for m in ['lib', 'lib.utils', 'lib.utils.cameras']:
    sys.modules[m] = types.ModuleType(m)
sys.modules['lib.utils.cameras'].Camera = Camera
d = pickle.load(open(sys.argv[1], 'rb'))
r = d[1][0]
assert r['image'] == 'S1/a.jpg' and r['center_x'] == 466.25
j = r['joints_3d']
assert j.dtype == np.float64 and j.shape == (2, 3) and j[1, 2] == 6e10 and j[1, 1] == -5, j
c = r['camera']
assert isinstance(c, Camera) and c.fx == 1145.5 and c.name == '54138969' and (c.R == np.eye(3)).all()
assert r['tags'] == (1, -70000, 1 << 40, True, None), r['tags']
assert r['raw'] == b'\x00\x01\x02'
assert d[2] == list(range(2500))
assert d['S1'] == 'x' * 300
print('ok')
`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("python could not read the pickle: %v\n%s", err, out)
	}
}

// TestGopickleReadsIt reads the pickle back with gopickle (numpy arrays
// need callables; here they only have to parse, with stand-ins).
func TestGopickleParses(t *testing.T) {
	data, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	u := pickle.NewUnpickler(strings.NewReader(string(data)))
	u.FindClass = func(module, name string) (any, error) { return stub{}, nil }
	if _, err := u.Load(); err != nil {
		t.Fatalf("gopickle: %v", err)
	}
	if _, err := Marshal(&Array{Shape: []int{2, 2}, Data: []float64{1}}); err == nil {
		t.Fatal("array with a wrong shape accepted")
	}
	if _, err := Marshal(struct{}{}); err == nil {
		t.Fatal("unsupported type accepted")
	}
}

type stub struct{}

func (stub) Call(args ...any) (any, error)  { return &obj{}, nil }
func (stub) PyNew(args ...any) (any, error) { return &obj{}, nil }

type obj struct{}

func (*obj) PySetState(any) error { return nil }
