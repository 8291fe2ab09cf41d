package npzfile

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npz"
)

// Arrays of rank 0 to 4 (and an empty one) read back through npyio with
// their shapes and values; every header pads the data to 64 bytes.
func TestNPZReadsBackWithNpyio(t *testing.T) {
	in := []Array{
		{Name: "scalar", Shape: []int{}, Data: []float32{2.5}},
		{Name: "vec", Shape: []int{3}, Data: []float32{1, -2, 3.25}},
		{Name: "w", Shape: []int{2, 3}, Data: []float32{0, 1, 2, 3, 4, 5}},
		{Name: "conv", Shape: []int{1, 2, 1, 2}, Data: []float32{-1, 1e-30, 7, 8}},
		{Name: "empty", Shape: []int{0, 17}, Data: nil},
	}
	b, err := NPZ(in)
	if err != nil {
		t.Fatal(err)
	}
	r, err := npz.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Keys()) != len(in) {
		t.Fatalf("keys %v", r.Keys())
	}
	for i, a := range in {
		if k := r.Keys()[i]; k != a.Name+".npy" {
			t.Fatalf("entry %d is %q, want %s.npy (in order)", i, k, a.Name)
		}
		h := r.Header(a.Name + ".npy")
		if strings.Trim(h.Descr.Type, "'") != "<f4" || len(h.Descr.Shape) != len(a.Shape) {
			t.Fatalf("%s: header %+v", a.Name, h)
		}
		for j := range a.Shape {
			if h.Descr.Shape[j] != a.Shape[j] {
				t.Fatalf("%s: shape %v, want %v", a.Name, h.Descr.Shape, a.Shape)
			}
		}
		if len(a.Data) == 0 {
			continue
		}
		var got []float32
		if err := r.Read(a.Name+".npy", &got); err != nil {
			t.Fatal(err)
		}
		for j := range a.Data {
			if got[j] != a.Data[j] {
				t.Fatalf("%s[%d] = %v, want %v", a.Name, j, got[j], a.Data[j])
			}
		}
	}
	one, err := NPY(in[2])
	if err != nil {
		t.Fatal(err)
	}
	hl := 10 + int(binary.LittleEndian.Uint16(one[8:]))
	if hl%64 != 0 || len(one) != hl+4*6 || one[hl-1] != '\n' {
		t.Errorf("header of %d bytes (data at %d of %d), want a multiple of 64 ending in a newline", hl, hl, len(one))
	}
	var back []float32
	if err := npy.Read(bytes.NewReader(one), &back); err != nil || len(back) != 6 || back[5] != 5 {
		t.Errorf("NPY read back %v, %v", back, err)
	}
}

func TestNPZRejectsBadArrays(t *testing.T) {
	for _, bad := range [][]Array{
		{{Name: "a", Shape: []int{2, 2}, Data: []float32{1, 2, 3}}},
		{{Name: "a", Shape: []int{-1}, Data: nil}},
		{{Name: "a", Shape: []int{1}, Data: []float32{1}}, {Name: "a", Shape: []int{1}, Data: []float32{2}}},
	} {
		if _, err := NPZ(bad); err == nil {
			t.Errorf("NPZ(%+v) succeeded", bad)
		}
	}
}
