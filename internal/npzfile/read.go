package npzfile

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Entry is one array of an .npz read by ReadNPZ: its header, and its raw
// bytes until Float32 converts them (a caller that needs a few arrays of
// a large archive converts only those).
type Entry struct {
	Name  string // the key np.load gives it (without ".npy")
	Shape []int
	Descr string // NumPy's dtype string, e.g. "<f4"
	raw   []byte
	// why Float32 refuses the array, found in its header: an error of
	// this array, not of the archive (a caller ignores arrays it does
	// not use)
	refused string
}

// ReadNPZ reads every array of an .npz archive (np.savez, stored or
// deflated as np.savez_compressed writes) in the archive's order. It reads
// its own header format because npyio cannot be told an array's shape at
// run time (see the package comment).
func ReadNPZ(path string) ([]Entry, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("npz %s: %w", path, err)
	}
	defer zr.Close()
	var out []Entry
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".npy") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("npz %s: %s: %w", path, f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("npz %s: %s: %w", path, f.Name, err)
		}
		e, err := ParseNPY(b)
		if err != nil {
			return nil, fmt.Errorf("npz %s: %s: %w", path, f.Name, err)
		}
		e.Name = strings.TrimSuffix(f.Name, ".npy")
		out = append(out, e)
	}
	return out, nil
}

var (
	descrRe   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	fortranRe = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	shapeRe   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// ParseNPY reads a .npy file's header (format versions 1 to 3) and keeps
// its data for Float32. Float32 refuses Fortran-ordered arrays: NumPy
// writes them only for arrays that were transposed views, which weights
// are not.
func ParseNPY(b []byte) (Entry, error) {
	var e Entry
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return e, fmt.Errorf("not a .npy array (no NUMPY magic)")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return e, fmt.Errorf("truncated .npy header")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return e, fmt.Errorf(".npy format version %d.%d is not supported", b[6], b[7])
	}
	if hlen < 0 || start+hlen > len(b) {
		return e, fmt.Errorf("truncated .npy header")
	}
	dict := string(b[start : start+hlen])
	m := descrRe.FindStringSubmatch(dict)
	fo := fortranRe.FindStringSubmatch(dict)
	sh := shapeRe.FindStringSubmatch(dict)
	if fo == nil || sh == nil {
		return e, fmt.Errorf("malformed .npy header %q", strings.TrimSpace(dict))
	}
	if m == nil { // a structured dtype: its descr is a list of fields
		e.Descr = "structured"
	} else {
		e.Descr = m[1]
	}
	if fo[1] == "True" {
		e.refused = "a Fortran-ordered array is not supported (save np.ascontiguousarray of it)"
	}
	e.Shape = []int{}
	for _, d := range strings.Split(sh[1], ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(d, "L"))
		if err != nil || n < 0 {
			return e, fmt.Errorf("malformed .npy shape (%s)", sh[1])
		}
		e.Shape = append(e.Shape, n)
	}
	e.raw = b[start+hlen:]
	if size, ok := dtypeSize(e.Descr); ok {
		// The count is bounded by the bytes there are as it is multiplied:
		// a hostile shape's product overflowed int, and a negative n*size
		// passed the length check and panicked in the slice below.
		n := 1
		for _, d := range e.Shape {
			if d > 0 && n > len(e.raw)/size/d {
				return e, fmt.Errorf("truncated .npy data: %d bytes for shape %v of %s", len(e.raw), e.Shape, e.Descr)
			}
			n *= d
		}
		if len(e.raw) < n*size {
			return e, fmt.Errorf("truncated .npy data: %d bytes for %d values of %s", len(e.raw), n, e.Descr)
		}
		e.raw = e.raw[:n*size]
	}
	return e, nil
}

// dtypeSize is the size of the float dtypes Float32 converts.
func dtypeSize(descr string) (int, bool) {
	switch descr {
	case "<f4", "|f4", ">f4":
		return 4, true
	case "<f8", "|f8", ">f8":
		return 8, true
	case "<f2", "|f2", ">f2":
		return 2, true
	}
	return 0, false
}

// Float32 converts the array's values to float32: float32, float64 and
// float16 arrays of either byte order; other dtypes are an error.
func (e Entry) Float32() ([]float32, error) {
	if e.refused != "" {
		return nil, errors.New(e.refused)
	}
	size, ok := dtypeSize(e.Descr)
	if !ok {
		return nil, fmt.Errorf("dtype %s is not a float32, float64 or float16 array", e.Descr)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if e.Descr[0] == '>' {
		bo = binary.BigEndian
	}
	out := make([]float32, len(e.raw)/size)
	for i := range out {
		p := e.raw[i*size:]
		switch size {
		case 4:
			out[i] = math.Float32frombits(bo.Uint32(p))
		case 8:
			out[i] = float32(math.Float64frombits(bo.Uint64(p)))
		case 2:
			out[i] = Float16(bo.Uint16(p))
		}
	}
	return out, nil
}

// Float16 converts an IEEE 754 half-precision value to float32.
func Float16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp == 0:
		if frac == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: frac * 2^-24
		v := float32(frac) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}
