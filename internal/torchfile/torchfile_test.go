package torchfile

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files of testdata/make.py (torch 1.13) read back with PyTorch's
// values in both formats: a transposed view, float16 subnormals and -0,
// bfloat16, float64; the int64 scalar is listed and refused as floats.
func TestLoadSmallStateDicts(t *testing.T) {
	want := []struct {
		name  string
		shape []int
		vals  []float32
	}{
		{"w", []int{2, 3}, []float32{0, 2, 4, 1, 3, 5}},
		{"h", []int{5}, []float32{1.5, float32(math.Copysign(0, -1)), 1.0132789611816406e-06, -1.0132789611816406e-06, 65504}},
		{"b", []int{3}, []float32{1, -2.5, 3.00405527047391e+38}},
		{"d", []int{1, 2}, []float32{0.25, -1}},
	}
	for _, f := range []string{"small_zip.pth", "small_legacy.pth"} {
		ts, err := Load(filepath.Join("testdata", f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(ts) != 5 || ts[4].Name != "n" || ts[4].DType != "Long" {
			t.Fatalf("%s: %d tensors %+v", f, len(ts), ts)
		}
		if _, err := ts[4].Float32(); err == nil || !strings.Contains(err.Error(), "dtype Long") {
			t.Errorf("%s: int64 tensor: %v", f, err)
		}
		for i, w := range want {
			got := ts[i]
			if got.Name != w.name || len(got.Shape) != len(w.shape) {
				t.Fatalf("%s: tensor %d is %s %v, want %s %v", f, i, got.Name, got.Shape, w.name, w.shape)
			}
			vals, err := got.Float32()
			if err != nil {
				t.Fatalf("%s: %s: %v", f, w.name, err)
			}
			for j := range w.vals {
				if math.Float32bits(vals[j]) != math.Float32bits(w.vals[j]) {
					t.Errorf("%s: %s[%d] = %v, PyTorch %v", f, w.name, j, vals[j], w.vals[j])
				}
			}
		}
	}
}

// Damaged files are errors, never panics.
func TestLoadRefusesDamagedFiles(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "small_legacy.pth"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := os.ReadFile(filepath.Join("testdata", "small_zip.pth"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty": nil, "text": []byte("hello"), "zip-cut": z[:len(z)/2], "legacy-cut": b[:len(b)-20],
		"legacy-head": b[:40], "legacy-flip": append(append([]byte{}, b[:300]...), 0xff),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
