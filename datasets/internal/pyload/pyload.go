// Package pyload reads the Python containers the real data sets come in:
// pickles holding numpy arrays (ETH, mmpose cameras) and .npy/.npz
// archives (mmpose, VideoPose3D, prediction exports). It turns them into
// plain Go values and never lets a corrupt file crash the caller: the
// libraries underneath (gopickle, npyio) may panic on garbage, so every
// entry point recovers and returns an error instead.
package pyload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"unicode/utf8"

	"codeberg.org/sbinet/npyio/npy"
	"codeberg.org/sbinet/npyio/npz"
	"github.com/nlpodyssey/gopickle/pickle"
	py "github.com/nlpodyssey/gopickle/types"
)

// MaxFileBytes bounds what the loaders read into memory (1 GiB); the real
// annotation files are tens of MB.
const MaxFileBytes = 1 << 30

// Object is an instance of a Python class the loaders do not know (e.g.
// lib.utils.cameras.Camera): it keeps the class name, constructor
// arguments and the state BUILD gave it, so that unknown classes never
// stop a load.
type Object struct {
	Module, Name string
	Args         []any
	State        any
	Dict         *py.Dict
}

// PySetState records BUILD's state (and its dict entries, if any).
func (o *Object) PySetState(state any) error {
	o.State = state
	if d, ok := state.(*py.Dict); ok {
		o.Dict = d
	}
	return nil
}

// class stands for an unknown class: calling or instantiating it yields
// an Object.
type class struct{ module, name string }

func (c *class) PyNew(args ...any) (any, error) {
	return &Object{Module: c.module, Name: c.name, Args: args}, nil
}

func (c *class) Call(args ...any) (any, error) { return c.PyNew(args...) }

// codecsEncode is _codecs.encode(str, "latin1"), which protocol-2
// pickles use to carry bytes (numpy's raw array data among them).
type codecsEncode struct{}

func (codecsEncode) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("_codecs.encode: no arguments")
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("_codecs.encode: want a str, got %T", args[0])
	}
	if len(args) > 1 {
		if enc, _ := args[1].(string); enc != "latin1" && enc != "latin-1" && enc != "iso-8859-1" {
			return nil, fmt.Errorf("_codecs.encode: unsupported encoding %v", args[1])
		}
	}
	out := make([]byte, 0, utf8.RuneCountInString(s))
	for _, r := range s {
		if r > 255 {
			return nil, fmt.Errorf("_codecs.encode: rune %U is not latin1", r)
		}
		out = append(out, byte(r))
	}
	return out, nil
}

// findClass resolves the globals a pickle names: numpy's array machinery
// through npyio's callables, _codecs.encode for protocol-2 bytes, and a
// recording stand-in for everything else.
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "numpy.dtype", "numpy.ndarray",
		"numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct":
		return npy.ClassLoader(module, name)
	case "_codecs.encode":
		return codecsEncode{}, nil
	}
	return &class{module: module, name: name}, nil
}

// LoadPickle reads a pickle file into gopickle values (*py.Dict,
// *py.List, *py.Tuple, *npy.Array, *Object, scalars).
func LoadPickle(path string) (any, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	v, err := LoadsPickle(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// LoadsPickle unpickles bytes; errors do not name a file.
func LoadsPickle(data []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("corrupt pickle: %v", r)
		}
	}()
	if what := notPickle(data); what != "" {
		return nil, fmt.Errorf("not a pickle: %s", what)
	}
	if data, err = pruneMemo(data); err != nil { // checks it as scanPickle does
		return nil, err
	}
	u := pickle.NewUnpickler(bytes.NewReader(data))
	u.FindClass = findClass
	v, err = u.Load()
	if err != nil {
		return nil, fmt.Errorf("not a readable pickle: %w", err)
	}
	return v, nil
}

// notPickle names what data is when it is plainly another format a data
// set folder holds (an .npz copied to train.pkl read "unknown opcode 0x00
// at byte 1288"), or "" for anything that may be a pickle.
func notPickle(data []byte) string {
	switch {
	case len(data) == 0:
		return "the file is empty"
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return "a zip archive (an .npz?)"
	case bytes.HasPrefix(data, []byte("\x93NUMPY")):
		return "a NumPy .npy file"
	case bytes.HasPrefix(data, []byte("\x89HDF\r\n\x1a\n")):
		return "an HDF5 file (.h5)"
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")), bytes.HasPrefix(data, []byte("\x89PNG")):
		return "an image"
	}
	// No pickle opcode is '[' or '{' (nor, after a PROTO, any text).
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && (t[0] == '[' || t[0] == '{') {
		return "JSON text"
	}
	return ""
}

// ReadFile reads a whole file, refusing ones above MaxFileBytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var data []byte
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() <= MaxFileBytes {
		// Read into a buffer of the file's size: io.ReadAll grows its
		// buffer by copying, which for a 57 MB train.pkl cost ~0.3 s.
		data = make([]byte, st.Size())
		if _, err := io.ReadFull(f, data); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	// What is left (all of it when the size is unknown; a file that grew).
	rest, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1-int64(len(data))))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data = append(data, rest...)
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	return data, nil
}

// NPZ is an opened .npz archive held in memory.
type NPZ struct {
	path string
	size int
	r    *npz.Reader
}

// OpenNPZ reads an .npz archive from bytes; path only names it in errors.
func OpenNPZ(data []byte, path string) (z *NPZ, err error) {
	defer func() {
		if r := recover(); r != nil {
			z, err = nil, fmt.Errorf("%s: corrupt npz: %v", path, r)
		}
	}()
	r, err := npz.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("%s: not an npz archive: %w", path, err)
	}
	return &NPZ{path: path, size: len(data), r: r}, nil
}

// Has tells whether the archive holds the named array.
func (z *NPZ) Has(name string) bool {
	for _, k := range z.r.Keys() {
		if k == name+".npy" {
			return true
		}
	}
	return false
}

// Array reads the named array (without the .npy suffix).
func (z *NPZ) Array(name string) (a *npy.Array, err error) {
	defer func() {
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("%s: array %q is corrupt: %v", z.path, name, r)
		}
	}()
	if !z.Has(name) {
		return nil, fmt.Errorf("%s: no array %q (has %v)", z.path, name, z.r.Keys())
	}
	if err := z.checkHeader(name + ".npy"); err != nil {
		return nil, fmt.Errorf("%s: array %q: %w", z.path, name, err)
	}
	h := z.r.Header(name + ".npy")
	if h == nil {
		return nil, fmt.Errorf("%s: array %q has no readable header", z.path, name)
	}
	if h.Descr.Fortran {
		return nil, fmt.Errorf("%s: array %q is in Fortran order (unsupported)", z.path, name)
	}
	// No array may hold more elements than its compressed bytes could
	// expand to (deflate stays below ~1100:1), so a corrupt shape cannot
	// trigger a giant allocation.
	if n := numElems(h.Descr.Shape); n < 0 || n > 1100*z.size+1024 {
		return nil, fmt.Errorf("%s: array %q has an impossible shape %v", z.path, name, h.Descr.Shape)
	}
	var arr npy.Array
	if err := z.r.Read(name+".npy", &arr); err != nil {
		return nil, fmt.Errorf("%s: %w", z.path, err)
	}
	return &arr, nil
}

// checkHeader validates an .npy entry's magic and header length before
// npyio parses it (npyio takes quadratic time on a corrupt length).
func (z *NPZ) checkHeader(entry string) error {
	rc, err := z.r.Open(entry)
	if err != nil {
		return err
	}
	defer rc.Close()
	var pre [12]byte
	if _, err := io.ReadFull(rc, pre[:10]); err != nil {
		return errors.New("truncated .npy header")
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return errors.New("not an .npy array (bad magic)")
	}
	var n int
	switch pre[6] {
	case 1:
		n = int(pre[8]) | int(pre[9])<<8
	case 2, 3:
		if _, err := io.ReadFull(rc, pre[10:12]); err != nil {
			return errors.New("truncated .npy header")
		}
		n = int(pre[8]) | int(pre[9])<<8 | int(pre[10])<<16 | int(pre[11])<<24
	default:
		return fmt.Errorf("unsupported .npy version %d", pre[6])
	}
	if n <= 0 || n > 1<<16 {
		return fmt.Errorf("implausible .npy header length %d", n)
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(rc, hdr); err != nil {
		return errors.New("truncated .npy header")
	}
	if hdr[n-1] != '\n' {
		return errors.New("corrupt .npy header (no final newline)")
	}
	return nil
}

func numElems(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && n > MaxFileBytes/d) {
			return -1
		}
		n *= d
	}
	return n
}

// Floats converts a numeric numpy array (any float or int dtype) or a
// Python number/list of numbers to float64s with its shape. It checks
// that the data has as many elements as the shape says.
func Floats(v any) ([]float64, []int, error) {
	switch a := v.(type) {
	case *npy.Array:
		if a == nil {
			return nil, nil, errors.New("nil array")
		}
		shape := a.Shape()
		out, err := numbers(a.Data())
		if err != nil {
			return nil, nil, fmt.Errorf("not a numeric array (holds %T)", a.Data())
		}
		if n := numElems(shape); n != len(out) {
			return nil, nil, fmt.Errorf("array shape %v but %d values", shape, len(out))
		}
		if a.Fortran() {
			out = cOrder(out, shape)
		}
		return out, shape, nil
	case *py.List:
		out, err := numbers([]any(*a))
		return out, []int{len(out)}, err
	case *py.Tuple:
		out, err := numbers([]any(*a))
		return out, []int{len(out)}, err
	}
	x, err := Number(v)
	if err != nil {
		return nil, nil, err
	}
	return []float64{x}, nil, nil
}

// cOrder reorders column-major (Fortran) data into row-major order.
func cOrder(f []float64, shape []int) []float64 {
	if len(shape) < 2 {
		return f
	}
	out := make([]float64, len(f))
	idx := make([]int, len(shape))
	for k := range out {
		// k is the row-major position of idx; find its column-major one.
		off, stride := 0, 1
		for d := 0; d < len(shape); d++ {
			off += idx[d] * stride
			stride *= shape[d]
		}
		out[k] = f[off]
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// FloatsShaped is Floats that also checks the shape.
func FloatsShaped(v any, want ...int) ([]float64, error) {
	x, shape, err := Floats(v)
	if err != nil {
		return nil, err
	}
	if !sameShape(shape, want) {
		return nil, fmt.Errorf("shape %v, want %v", shape, want)
	}
	return x, nil
}

// sameShape compares shapes, treating (n,1) and (1,n) like (n).
func sameShape(got, want []int) bool {
	squeeze := func(s []int) []int {
		var o []int
		for _, d := range s {
			if d != 1 {
				o = append(o, d)
			}
		}
		return o
	}
	g, w := squeeze(got), squeeze(want)
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if g[i] != w[i] {
			return false
		}
	}
	return true
}

func numbers(data any) ([]float64, error) {
	switch d := data.(type) {
	case []float64:
		return append([]float64(nil), d...), nil
	case []float32:
		return conv(d), nil
	case []int64:
		return conv(d), nil
	case []int32:
		return conv(d), nil
	case []int16:
		return conv(d), nil
	case []int8:
		return conv(d), nil
	case []uint64:
		return conv(d), nil
	case []uint32:
		return conv(d), nil
	case []uint16:
		return conv(d), nil
	case []uint8:
		return conv(d), nil
	case []bool:
		out := make([]float64, len(d))
		for i, b := range d {
			if b {
				out[i] = 1
			}
		}
		return out, nil
	case []any:
		out := make([]float64, len(d))
		for i, v := range d {
			x, err := Number(v)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = x
		}
		return out, nil
	case float64, float32, int, int64, int32:
		x, _ := Number(d)
		return []float64{x}, nil
	}
	return nil, fmt.Errorf("not numbers (%T)", data)
}

func conv[T float32 | int64 | int32 | int16 | int8 | uint64 | uint32 | uint16 | uint8](d []T) []float64 {
	out := make([]float64, len(d))
	for i, v := range d {
		out[i] = float64(v)
	}
	return out
}

// Number converts a Python scalar (or a one-element array) to float64.
func Number(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case *npy.Array:
		f, _, err := Floats(x)
		if err != nil {
			return 0, err
		}
		if len(f) != 1 {
			return 0, fmt.Errorf("want one number, got an array of %d", len(f))
		}
		return f[0], nil
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

// Finite reports the index of the first NaN or Inf in x, or -1.
func Finite(x []float64) int {
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return i
		}
	}
	return -1
}

// Index writes flat index i of an array of the given shape as numpy
// does, "[5][1]" for 16 in [17 3]: a user finds the bad value by it, where
// "value 16" left them to work it out.
func Index(i int, shape ...int) string {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			idx[k], i = i%shape[k], i/shape[k]
		}
	}
	if len(shape) == 0 {
		idx = []int{i}
	}
	var b strings.Builder
	for _, x := range idx {
		fmt.Fprintf(&b, "[%d]", x)
	}
	return b.String()
}

// Strings converts a numpy string array (or a Python list of str) to Go
// strings.
func Strings(v any) ([]string, error) {
	switch a := v.(type) {
	case *npy.Array:
		if a == nil {
			return nil, errors.New("nil array")
		}
		switch d := a.Data().(type) {
		case []string:
			return d, nil
		case string:
			return []string{d}, nil
		case []any:
			return Strings(py.NewListFromSlice(d))
		}
		return nil, fmt.Errorf("not a string array (holds %T)", a.Data())
	case *py.List:
		out := make([]string, a.Len())
		for i := range out {
			s, ok := a.Get(i).(string)
			if !ok {
				return nil, fmt.Errorf("element %d is %T, not str", i, a.Get(i))
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("want strings, got %T", v)
}

// Get looks a key up in a Python dict (or an Object's state dict).
func Get(v any, key any) (any, bool) {
	switch d := v.(type) {
	case *py.Dict:
		if d == nil {
			return nil, false
		}
		return d.Get(key)
	case *Object:
		if d.Dict == nil {
			return nil, false
		}
		return d.Dict.Get(key)
	}
	return nil, false
}
