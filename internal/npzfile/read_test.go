package npzfile

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

// What NPZ writes reads back with its names, shapes and values, and so do
// float64 and float16 arrays (as np.savez writes them: version 1.0
// headers, deflated here as np.savez_compressed does); a Fortran-ordered
// array and an integer one are refused.
func TestReadNPZ(t *testing.T) {
	in := []Array{
		{Name: "w", Shape: []int{2, 3}, Data: []float32{0, 1, 2, 3, 4, -5.5}},
		{Name: "s", Shape: []int{}, Data: []float32{7}},
	}
	b, err := NPZ(in)
	if err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	add := func(name string, npy []byte) {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name + ".npy", Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(npy)
	}
	f8 := Header("<f8", []int{2})
	f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(0.1))
	f8 = binary.LittleEndian.AppendUint64(f8, math.Float64bits(-3))
	add("d", f8)
	f2 := Header("<f2", []int{4})
	for _, h := range []uint16{0x3e00, 0x8000, 0x0001, 0xfbff} { // 1.5, -0, the smallest subnormal, -65504
		f2 = binary.LittleEndian.AppendUint16(f2, h)
	}
	add("h", f2)
	add("i", append(Header("<i8", []int{1}), make([]byte, 8)...))
	fo := []byte(strings.Replace(string(Header("<f4", []int{1})), "'fortran_order': False", "'fortran_order': True ", 1))
	zw.Close()
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "a.npz"), filepath.Join(dir, "b.npz")
	os.WriteFile(p1, b, 0o644)
	os.WriteFile(p2, zb.Bytes(), 0o644)

	got, err := ReadNPZ(p1)
	if err != nil || len(got) != 2 {
		t.Fatalf("%v %v", got, err)
	}
	for i, a := range in {
		v, err := got[i].Float32()
		if err != nil || got[i].Name != a.Name || len(got[i].Shape) != len(a.Shape) || len(v) != len(a.Data) {
			t.Fatalf("%s: %+v %v %v", a.Name, got[i], v, err)
		}
		for j := range v {
			if v[j] != a.Data[j] {
				t.Errorf("%s[%d] = %v, want %v", a.Name, j, v[j], a.Data[j])
			}
		}
	}
	got, err = ReadNPZ(p2)
	if err != nil || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
	for i, want := range [][]float32{{0.1, -3}, {1.5, float32(math.Copysign(0, -1)), float32(math.Ldexp(1, -24)), -65504}} {
		v, err := got[i].Float32()
		if err != nil {
			t.Fatal(err)
		}
		for j := range want {
			if math.Float32bits(v[j]) != math.Float32bits(want[j]) {
				t.Errorf("%s[%d] = %v, want %v", got[i].Name, j, v[j], want[j])
			}
		}
	}
	if _, err := got[2].Float32(); err == nil || !strings.Contains(err.Error(), "<i8") {
		t.Errorf("int64 array: %v", err)
	}
	if e, err := ParseNPY(append(fo, make([]byte, 4)...)); err != nil {
		t.Errorf("Fortran order: %v", err)
	} else if _, err := e.Float32(); err == nil || !strings.Contains(err.Error(), "Fortran") {
		t.Errorf("Fortran order: %v", err)
	}
}

// A header whose shape's element count overflows int (a damaged or hostile
// file) is an error, not a panic of the process that reads it (poselab
// train --init reads it when the run is submitted).
func TestParseNPYHugeShape(t *testing.T) {
	for _, shape := range []string{"(2305843009213693953,)", "(4294967296, 4294967297)", "(4611686018427387904, 0, 4)"} {
		dict := "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }\n"
		b := []byte("\x93NUMPY\x01\x00")
		b = binary.LittleEndian.AppendUint16(b, uint16(len(dict)))
		b = append(append(b, dict...), make([]byte, 16)...)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("shape %s: panic %v", shape, p)
				}
			}()
			e, err := ParseNPY(b)
			if err == nil && !strings.Contains(shape, " 0,") {
				t.Errorf("shape %s: no error (entry of shape %v, %d bytes)", shape, e.Shape, len(e.raw))
			}
		}()
	}
}

// An array whose values cannot be read (Fortran-ordered, a structured
// dtype) is an error of its own Float32, not of the archive: --init
// ignores the arrays a model does not use, and such an array among them
// refused the whole file.
func TestReadNPZUnreadableArrayIsItsOwnError(t *testing.T) {
	good, err := NPY(Array{Name: "w", Shape: []int{2}, Data: []float32{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	fo := []byte(strings.Replace(string(Header("<f4", []int{2, 2})), "'fortran_order': False", "'fortran_order': True ", 1))
	fo = append(fo, make([]byte, 16)...)
	rec := []byte(strings.Replace(string(Header("<f4", []int{1})), "'<f4'", "[('a', '<f4')]", 1))
	rec = append(rec, make([]byte, 4)...)
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, a := range []struct {
		name string
		b    []byte
	}{{"w", good}, {"t", fo}, {"rec", rec}} {
		f, _ := zw.Create(a.name + ".npy")
		f.Write(a.b)
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "m.npz")
	os.WriteFile(p, zb.Bytes(), 0o644)
	got, err := ReadNPZ(p)
	if err != nil || len(got) != 3 {
		t.Fatalf("%v %v", got, err)
	}
	if v, err := got[0].Float32(); err != nil || len(v) != 2 || v[1] != 2 {
		t.Fatalf("w: %v %v", v, err)
	}
	if _, err := got[1].Float32(); err == nil || !strings.Contains(err.Error(), "Fortran") {
		t.Errorf("Fortran-ordered: %v", err)
	}
	if _, err := got[2].Float32(); err == nil {
		t.Errorf("structured dtype: no error")
	}
}
