// Package pywrite writes the Python containers the real data sets come in,
// so that exports of the synthetic data read back through the same loaders
// as the real files: a minimal pickle writer (protocol 4 opcodes, no memo)
// for dicts, lists, tuples, numbers, strings, bytes, numpy float64 arrays
// and plain objects.
package pywrite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// Dict is a Python dict with keys in insertion order.
type Dict struct {
	Keys, Values []any
}

// Set appends a key and value.
func (d *Dict) Set(k, v any) { d.Keys, d.Values = append(d.Keys, k), append(d.Values, v) }

// List is a Python list.
type List []any

// Tuple is a Python tuple.
type Tuple []any

// Array is a C-ordered numpy float64 array.
type Array struct {
	Shape []int
	Data  []float64
}

// Object is an instance of a Python class restored from a state dict
// (cls.__new__(cls) then __setstate__ or __dict__.update), as pickle does
// for plain classes such as ETH's lib.utils.cameras.Camera.
type Object struct {
	Module, Name string
	State        *Dict
}

// Pickle opcodes used (protocol <= 4).
const (
	opProto         = 0x80
	opStop          = '.'
	opNone          = 'N'
	opNewTrue       = 0x88
	opNewFalse      = 0x89
	opBinInt        = 'J'
	opBinInt1       = 'K'
	opLong1         = 0x8a
	opBinFloat      = 'G'
	opShortUnicode  = 0x8c
	opBinUnicode    = 'X'
	opShortBinBytes = 'C'
	opBinBytes      = 'B'
	opEmptyDict     = '}'
	opEmptyList     = ']'
	opEmptyTuple    = ')'
	opMark          = '('
	opSetItems      = 'u'
	opAppends       = 'e'
	opTuple         = 't'
	opTuple1        = 0x85
	opTuple2        = 0x86
	opTuple3        = 0x87
	opStackGlobal   = 0x93
	opReduce        = 'R'
	opBuild         = 'b'
	opNewObj        = 0x81
	batch           = 1000 // items per SETITEMS/APPENDS, as CPython does
)

// Marshal pickles v.
func Marshal(v any) ([]byte, error) {
	var w writer
	w.b.WriteByte(opProto)
	w.b.WriteByte(4)
	if err := w.value(v); err != nil {
		return nil, err
	}
	w.b.WriteByte(opStop)
	return w.b.Bytes(), nil
}

type writer struct{ b bytes.Buffer }

func (w *writer) value(v any) error {
	switch x := v.(type) {
	case nil:
		w.b.WriteByte(opNone)
	case bool:
		if x {
			w.b.WriteByte(opNewTrue)
		} else {
			w.b.WriteByte(opNewFalse)
		}
	case int:
		w.int(int64(x))
	case int64:
		w.int(x)
	case float64:
		w.b.WriteByte(opBinFloat)
		w.b.Write(binary.BigEndian.AppendUint64(nil, math.Float64bits(x)))
	case string:
		w.str(x)
	case []byte:
		w.bytes(x)
	case *Dict:
		if len(x.Keys) != len(x.Values) {
			return fmt.Errorf("pywrite: dict with %d keys and %d values", len(x.Keys), len(x.Values))
		}
		w.b.WriteByte(opEmptyDict)
		for s := 0; s < len(x.Keys); s += batch {
			w.b.WriteByte(opMark)
			for i := s; i < min(s+batch, len(x.Keys)); i++ {
				if err := w.value(x.Keys[i]); err != nil {
					return err
				}
				if err := w.value(x.Values[i]); err != nil {
					return err
				}
			}
			w.b.WriteByte(opSetItems)
		}
	case List:
		w.b.WriteByte(opEmptyList)
		for s := 0; s < len(x); s += batch {
			w.b.WriteByte(opMark)
			for _, e := range x[s:min(s+batch, len(x))] {
				if err := w.value(e); err != nil {
					return err
				}
			}
			w.b.WriteByte(opAppends)
		}
	case Tuple:
		return w.tuple(x)
	case *Array:
		return w.array(x)
	case *Object:
		w.global(x.Module, x.Name)
		w.b.WriteByte(opEmptyTuple)
		w.b.WriteByte(opNewObj)
		if x.State != nil {
			if err := w.value(x.State); err != nil {
				return err
			}
			w.b.WriteByte(opBuild)
		}
	default:
		return fmt.Errorf("pywrite: cannot pickle %T", v)
	}
	return nil
}

func (w *writer) int(x int64) {
	switch {
	case x >= 0 && x < 256:
		w.b.WriteByte(opBinInt1)
		w.b.WriteByte(byte(x))
	case x >= math.MinInt32 && x <= math.MaxInt32:
		w.b.WriteByte(opBinInt)
		w.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(int32(x))))
	default:
		w.b.WriteByte(opLong1)
		w.b.WriteByte(8)
		w.b.Write(binary.LittleEndian.AppendUint64(nil, uint64(x)))
	}
}

func (w *writer) str(s string) {
	if len(s) < 256 {
		w.b.WriteByte(opShortUnicode)
		w.b.WriteByte(byte(len(s)))
	} else {
		w.b.WriteByte(opBinUnicode)
		w.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	}
	w.b.WriteString(s)
}

func (w *writer) bytes(p []byte) {
	if len(p) < 256 {
		w.b.WriteByte(opShortBinBytes)
		w.b.WriteByte(byte(len(p)))
	} else {
		w.b.WriteByte(opBinBytes)
		w.b.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(p))))
	}
	w.b.Write(p)
}

func (w *writer) global(module, name string) {
	w.str(module)
	w.str(name)
	w.b.WriteByte(opStackGlobal)
}

func (w *writer) tuple(t Tuple) error {
	if len(t) == 0 {
		w.b.WriteByte(opEmptyTuple)
		return nil
	}
	if len(t) > 3 {
		w.b.WriteByte(opMark)
	}
	for _, e := range t {
		if err := w.value(e); err != nil {
			return err
		}
	}
	switch len(t) {
	case 1:
		w.b.WriteByte(opTuple1)
	case 2:
		w.b.WriteByte(opTuple2)
	case 3:
		w.b.WriteByte(opTuple3)
	default:
		w.b.WriteByte(opTuple)
	}
	return nil
}

// array writes numpy's own pickled form of an ndarray:
// _reconstruct(ndarray, (0,), b'b') then BUILD with
// (1, shape, dtype('<f8'), False, raw little-endian bytes).
func (w *writer) array(a *Array) error {
	n := 1
	for _, s := range a.Shape {
		n *= s
	}
	if n != len(a.Data) {
		return fmt.Errorf("pywrite: array of shape %v holds %d values", a.Shape, len(a.Data))
	}
	w.global("numpy.core.multiarray", "_reconstruct")
	w.global("numpy", "ndarray") // argument tuple (ndarray, (0,), b'b')
	w.int(0)
	w.b.WriteByte(opTuple1)
	w.bytes([]byte("b"))
	w.b.WriteByte(opTuple3)
	w.b.WriteByte(opReduce)
	// State.
	w.b.WriteByte(opMark)
	w.int(1)
	shape := make(Tuple, len(a.Shape))
	for i, s := range a.Shape {
		shape[i] = s
	}
	if err := w.tuple(shape); err != nil {
		return err
	}
	w.dtypeF8()
	w.b.WriteByte(opNewFalse)
	raw := make([]byte, 0, 8*len(a.Data))
	for _, x := range a.Data {
		raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(x))
	}
	w.bytes(raw)
	w.b.WriteByte(opTuple)
	w.b.WriteByte(opBuild)
	return nil
}

// dtypeF8 writes numpy.dtype('f8', False, True) with its state
// (3, '<', None, None, None, -1, -1, 0).
func (w *writer) dtypeF8() {
	w.global("numpy", "dtype")
	w.str("f8")
	w.b.WriteByte(opNewFalse)
	w.b.WriteByte(opNewTrue)
	w.b.WriteByte(opTuple3)
	w.b.WriteByte(opReduce)
	w.b.WriteByte(opMark)
	w.int(3)
	w.str("<")
	w.b.WriteByte(opNone)
	w.b.WriteByte(opNone)
	w.b.WriteByte(opNone)
	w.int(-1)
	w.int(-1)
	w.int(0)
	w.b.WriteByte(opTuple)
	w.b.WriteByte(opBuild)
}
