// Package npzfile writes NumPy .npy and .npz files of float32 arrays of any
// shape, as np.save and np.savez do (version 1.0 headers, uncompressed zip
// entries), and reads float arrays of any shape back (ReadNPZ). npyio, which the readers use, infers an array's shape from its
// Go type (a slice is 1-D), cannot be given a shape at run time, and
// marshals element by element through reflection (0.3 to 0.6 s per
// million values measured here, deflated): seconds for a ResNet's
// weights, whose bytes here are one copy.
package npzfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Array is one named array: Data in C (row-major) order.
type Array struct {
	Name  string // the key np.load gives it (without ".npy")
	Shape []int
	Data  []float32
}

// Header builds a version 1.0 .npy header for an array of dtype descr
// (e.g. "<f4", "<i8") and shape: magic, length, the dict padded with
// spaces so that the data starts at a multiple of 64 bytes, newline.
func Header(descr string, shape []int) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tuple := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tuple = "(" + dims[0] + ",)" // a Python 1-tuple
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, tuple)
	n := 10 + len(dict) + 1
	pad := (64 - n%64) % 64
	body := dict + strings.Repeat(" ", pad) + "\n"
	out := []byte("\x93NUMPY\x01\x00")
	out = binary.LittleEndian.AppendUint16(out, uint16(len(body)))
	return append(out, body...)
}

// NPY encodes one float32 array as a .npy file.
func NPY(a Array) ([]byte, error) {
	if err := check(a); err != nil {
		return nil, err
	}
	return appendData(Header("<f4", a.Shape), a.Data), nil
}

// NPZ encodes arrays as an .npz archive, in the given order.
func NPZ(arrays []Array) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	seen := map[string]bool{}
	for _, a := range arrays {
		if err := check(a); err != nil {
			return nil, err
		}
		if seen[a.Name] {
			return nil, fmt.Errorf("npz: array %q twice", a.Name)
		}
		seen[a.Name] = true
		// Store, not Deflate: float weights barely compress, and np.savez
		// stores too.
		f, err := zw.CreateHeader(&zip.FileHeader{Name: a.Name + ".npy", Method: zip.Store})
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(appendData(Header("<f4", a.Shape), a.Data)); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func check(a Array) error {
	n := 1
	for _, d := range a.Shape {
		if d < 0 {
			return fmt.Errorf("npz: array %q has a negative dimension %v", a.Name, a.Shape)
		}
		n *= d
	}
	if n != len(a.Data) {
		return fmt.Errorf("npz: array %q of shape %v holds %d values", a.Name, a.Shape, len(a.Data))
	}
	return nil
}

func appendData(out []byte, data []float32) []byte {
	out = append(out, make([]byte, 4*len(data))...)
	buf := out[len(out)-4*len(data):]
	for i, v := range data {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
	}
	return out
}
