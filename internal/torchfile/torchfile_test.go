package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
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

// hostileZip is a torch.save zip archive whose one tensor "w", of shape
// (2,) and the given stride, claims a storage of numel float32 values and
// starts at offset, while the archive holds 8 bytes (2 values) for it.
// Its pickle is written by hand (protocol 2), as torch.save writes it.
func hostileZip(t *testing.T, numel uint64, offset uint32, stride byte) string {
	t.Helper()
	var p []byte
	str := func(s string) {
		p = append(p, 'X')
		p = binary.LittleEndian.AppendUint32(p, uint32(len(s)))
		p = append(p, s...)
	}
	p = append(p, 0x80, 2, '}', '(')
	str("w")
	p = append(p, "ctorch._utils\n_rebuild_tensor_v2\n("...)
	p = append(p, '(')
	str("storage")
	p = append(p, "ctorch\nFloatStorage\n"...)
	str("0")
	str("cpu")
	p = append(p, 0x8a, 8)
	p = binary.LittleEndian.AppendUint64(p, numel)
	p = append(p, 't', 'Q', 'J')
	p = binary.LittleEndian.AppendUint32(p, offset)
	p = append(p, 'K', 2, 0x85, 'K', stride, 0x85, 0x89, 'N', 't', 'R', 'u', '.')
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range map[string][]byte{"archive/data.pkl": p, "archive/data/0": make([]byte, 8)} {
		f, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.pth")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A storage whose claimed element count is more than its record holds
// (numel times the element size overflowing int passed the length check)
// and an offset at the end of int are errors of Float32, not panics:
// matchInit calls it, unrecovered, when a run is submitted.
func TestFloat32HostileStorage(t *testing.T) {
	for _, c := range []struct {
		name   string
		numel  uint64
		offset uint32
		stride byte
	}{
		{"sane", 2, 0, 1},
		{"numel-overflow", 1 << 62, 100, 1},
		{"numel-overflow-strided", 1 << 62, 100, 2},
		{"numel-too-big", 1000, 100, 1},
	} {
		ts, err := Load(hostileZip(t, c.numel, c.offset, c.stride))
		if err != nil || len(ts) != 1 {
			t.Fatalf("%s: %v %v", c.name, ts, err)
		}
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: panic %v", c.name, p)
				}
			}()
			vals, err := ts[0].Float32()
			if c.name == "sane" {
				if err != nil || len(vals) != 2 {
					t.Errorf("sane: %v %v", vals, err)
				}
			} else if err == nil {
				t.Errorf("%s: no error, values %v", c.name, vals)
			}
		}()
	}
}
