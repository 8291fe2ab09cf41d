// Package torchfile reads the tensors of a dict saved with torch.save (a
// state_dict), in both of PyTorch's formats: the zip archive (the default
// since PyTorch 1.6) and the legacy stream (_use_new_zipfile_serialization
// =False). It unpickles with gopickle's pickle package but resolves
// tensors and storages itself: gopickle's pytorch package (v0.3.0)
// converts float16 wrongly (its tables read the subnormal 1.54e-5 as
// 7.6e-5, found comparing with PyTorch, and -0 as -3.05e-5), panics on
// files it does not expect (a legacy tar archive, storage views), and
// reads storages element by element.
package torchfile

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	py "github.com/nlpodyssey/gopickle/types"

	"poselab/internal/npzfile"
)

// Tensor is one tensor of the file.
type Tensor struct {
	Name   string
	Shape  []int
	DType  string // PyTorch's storage name: Float, Double, Half, BFloat16, Long, ...
	stride []int
	offset int
	st     *storage
}

// storage is a typed storage and its bytes.
type storage struct {
	dtype string
	size  int // bytes per element
	numel int
	data  []byte
}

var dtypes = map[string]int{
	"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2,
	"LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
}

type storageType struct{ name string }

// Load reads the tensors of a torch.save'd dict, in the dict's order. A
// training checkpoint that holds the state_dict under "state_dict" or
// "model" (and no tensors at its top) gives that dict's tensors. Entries
// that are not tensors are left out.
func Load(file string) (ts []Tensor, err error) {
	defer func() {
		if p := recover(); p != nil { // gopickle on a damaged pickle
			ts, err = nil, fmt.Errorf("damaged pickle: %v", p)
		}
	}()
	var obj any
	if zr, zerr := zip.OpenReader(file); zerr == nil {
		defer zr.Close()
		obj, err = loadZip(&zr.Reader)
	} else {
		b, rerr := os.ReadFile(file)
		if rerr != nil {
			return nil, rerr
		}
		if bytes.HasPrefix(b, []byte("PK")) {
			return nil, fmt.Errorf("a damaged zip archive: %v", zerr)
		}
		obj, err = loadLegacy(b)
	}
	if err != nil {
		return nil, err
	}
	entries, ok := dictEntries(obj)
	if !ok {
		return nil, fmt.Errorf("holds a %T, not a dict of tensors (torch.save(model.state_dict(), f))", obj)
	}
	ts = tensors(entries)
	if len(ts) == 0 {
		for _, kv := range entries {
			if kv.k == "state_dict" || kv.k == "model" {
				if inner, ok := dictEntries(kv.v); ok {
					return tensors(inner), nil
				}
			}
		}
	}
	return ts, nil
}

func tensors(entries []kv) []Tensor {
	var out []Tensor
	for _, e := range entries {
		if t, ok := e.v.(*Tensor); ok {
			c := *t
			c.Name = e.k
			out = append(out, c)
		}
	}
	return out
}

func loadZip(zr *zip.Reader) (any, error) {
	var pkl *zip.File
	records := map[string]*zip.File{}
	for _, f := range zr.File {
		records[f.Name] = f
		switch path.Base(f.Name) {
		case "data.pkl":
			pkl = f
		case "constants.pkl":
			return nil, errors.New("a TorchScript archive: save model.state_dict() with torch.save instead")
		}
	}
	if pkl == nil {
		return nil, errors.New("a zip archive without data.pkl, not a torch.save file")
	}
	prefix := path.Dir(pkl.Name)
	if f := records[prefix+"/byteorder"]; f != nil {
		if b, err := readRecord(f); err == nil && strings.TrimSpace(string(b)) == "big" {
			return nil, errors.New("saved on a big-endian machine: not supported")
		}
	}
	r, err := pkl.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	storages := map[string]*storage{}
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*py.Tuple)
		if !ok || t.Len() < 5 || t.Get(0) != "storage" {
			return nil, fmt.Errorf("unexpected persistent id %v", id)
		}
		typ, ok1 := t.Get(1).(*storageType)
		key, ok2 := t.Get(2).(string)
		numel, ok3 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("unexpected storage %v", id)
		}
		if s := storages[key]; s != nil {
			return s, nil
		}
		f := records[prefix+"/data/"+key]
		if f == nil {
			return nil, fmt.Errorf("storage %s is missing from the archive", key)
		}
		s := &storage{dtype: typ.name, size: dtypes[typ.name], numel: numel}
		var err error
		if s.data, err = readRecord(f); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
		storages[key] = s
		return s, nil
	}
	return u.Load()
}

func readRecord(f *zip.File) ([]byte, error) {
	r, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if f.UncompressedSize64 > 1<<34 {
		return nil, fmt.Errorf("record %s of %d bytes", f.Name, f.UncompressedSize64)
	}
	b := make([]byte, f.UncompressedSize64)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// legacyMagic is the number the legacy format starts with.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// loadLegacy reads the legacy stream: pickles of the magic number, the
// protocol version (1001), the system info and the object, a pickled list
// of storage keys, then each storage's element count (int64) and bytes.
func loadLegacy(b []byte) (any, error) {
	r := bytes.NewReader(b)
	next := func() (any, error) {
		u := pickle.NewUnpickler(r)
		u.FindClass = findClass
		return u.Load()
	}
	magic, err := next()
	if n, ok := magic.(*big.Int); err != nil || !ok || n.Cmp(legacyMagic) != 0 {
		return nil, errors.New("neither a zip archive nor a legacy torch.save stream")
	}
	if v, err := next(); err != nil || v != 1001 {
		return nil, fmt.Errorf("legacy torch.save protocol %v, want 1001", v)
	}
	info, err := next()
	if err != nil {
		return nil, err
	}
	if d, ok := info.(*py.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			return nil, errors.New("saved on a big-endian machine: not supported")
		}
	}
	storages := map[string]*storage{}
	u := pickle.NewUnpickler(r)
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*py.Tuple)
		if !ok || t.Len() < 6 || t.Get(0) != "storage" {
			return nil, fmt.Errorf("unexpected persistent id %v (a saved module? save its state_dict())", id)
		}
		typ, ok1 := t.Get(1).(*storageType)
		key, ok2 := t.Get(2).(string)
		numel, ok3 := t.Get(4).(int)
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("unexpected storage %v", id)
		}
		s := storages[key]
		if s == nil {
			s = &storage{dtype: typ.name, size: dtypes[typ.name], numel: numel}
			storages[key] = s
		}
		if view := t.Get(5); view != nil {
			return nil, fmt.Errorf("storage views are not supported (%v)", view)
		}
		return s, nil
	}
	obj, err := u.Load()
	if err != nil {
		return nil, err
	}
	keys, err := next()
	if err != nil {
		return nil, fmt.Errorf("storage keys: %w", err)
	}
	list, ok := keys.(*py.List)
	if !ok {
		return nil, fmt.Errorf("storage keys are a %T", keys)
	}
	for _, k := range *list {
		key, _ := k.(string)
		s := storages[key]
		if s == nil {
			return nil, fmt.Errorf("storage %v is not used", k)
		}
		var n int64
		if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
		if n < 0 || n*int64(max(s.size, 1)) > int64(r.Len()) {
			return nil, fmt.Errorf("storage %s: %d elements, %d bytes left in the file", key, n, r.Len())
		}
		s.numel = int(n)
		s.data = make([]byte, int(n)*s.size)
		if _, err := io.ReadFull(r, s.data); err != nil {
			return nil, fmt.Errorf("storage %s: %w", key, err)
		}
	}
	return obj, nil
}

// findClass resolves the classes a state_dict's pickle names; others
// become gopickle's generic objects (and are left out of the result).
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return callable(rebuildTensor), nil
	case "torch._utils._rebuild_parameter": // (data, requires_grad, hooks)
		return callable(func(args ...any) (any, error) {
			if len(args) == 0 {
				return nil, errors.New("_rebuild_parameter without arguments")
			}
			return args[0], nil
		}), nil
	case "torch._tensor._rebuild_from_type_v2": // (func, type, args, state)
		return callable(func(args ...any) (any, error) {
			if len(args) < 3 {
				return nil, fmt.Errorf("_rebuild_from_type_v2 with arguments %v", args)
			}
			f, ok := args[0].(py.Callable)
			a, ok2 := args[2].(*py.Tuple)
			if !ok || !ok2 {
				return nil, fmt.Errorf("_rebuild_from_type_v2 with arguments %v", args)
			}
			return f.Call(*a...)
		}), nil
	}
	if module == "torch" && dtypes[name] > 0 {
		return &storageType{name}, nil
	}
	return py.NewGenericClass(module, name), nil
}

type callable func(args ...any) (any, error)

func (c callable) Call(args ...any) (any, error) { return c(args...) }

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, requires_grad, hooks[, metadata]).
func rebuildTensor(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with %d arguments", len(args))
	}
	s, ok := args[0].(*storage)
	off, ok2 := args[1].(int)
	size, ok3 := ints(args[2])
	stride, ok4 := ints(args[3])
	if !ok || !ok2 || !ok3 || !ok4 || len(size) != len(stride) {
		return nil, fmt.Errorf("_rebuild_tensor_v2 with arguments %v", args[:4])
	}
	return &Tensor{Shape: size, DType: strings.TrimSuffix(s.dtype, "Storage"), stride: stride, offset: off, st: s}, nil
}

func ints(v any) ([]int, bool) {
	t, ok := v.(*py.Tuple)
	if !ok {
		return nil, false
	}
	out := make([]int, t.Len())
	for i := range out {
		if out[i], ok = t.Get(i).(int); !ok {
			return nil, false
		}
	}
	return out, true
}

type kv struct {
	k string
	v any
}

// dictEntries lists a pickled dict's string-keyed entries in order.
func dictEntries(obj any) ([]kv, bool) {
	var out []kv
	switch d := obj.(type) {
	case *py.OrderedDict:
		for el := d.List.Front(); el != nil; el = el.Next() {
			en := el.Value.(*py.OrderedDictEntry)
			if k, ok := en.Key.(string); ok {
				out = append(out, kv{k, en.Value})
			}
		}
	case *py.Dict:
		for _, en := range *d {
			if k, ok := en.Key.(string); ok {
				out = append(out, kv{k, en.Value})
			}
		}
	default:
		return nil, false
	}
	return out, true
}

// Float32 returns the tensor's values in C order as float32: float32,
// float64, float16 and bfloat16 tensors, of any strides.
func (t Tensor) Float32() ([]float32, error) {
	var conv func([]byte) float32
	switch t.DType {
	case "Float":
		conv = func(b []byte) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(b)) }
	case "Double":
		conv = func(b []byte) float32 { return float32(math.Float64frombits(binary.LittleEndian.Uint64(b))) }
	case "Half":
		conv = func(b []byte) float32 { return npzfile.Float16(binary.LittleEndian.Uint16(b)) }
	case "BFloat16":
		conv = func(b []byte) float32 { return math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16) }
	default:
		return nil, fmt.Errorf("dtype %s is not float32, float64, float16 or bfloat16", t.DType)
	}
	s := t.st
	// Divided, not multiplied: a zip archive's pickle claims numel, and a
	// hostile 1<<62 times 4 overflowed to 0, passed, and the reads below
	// panicked past the record.
	if s.numel < 0 || s.numel > len(s.data)/s.size {
		return nil, fmt.Errorf("storage of %d bytes holds fewer than its %d values", len(s.data), s.numel)
	}
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	contiguous, want := true, 1
	for d := len(t.Shape) - 1; d >= 0; d-- {
		if t.Shape[d] != 1 && t.stride[d] != want {
			contiguous = false
		}
		want *= t.Shape[d]
	}
	if contiguous {
		if t.offset < 0 || t.offset > s.numel-n { // not offset+n: it may overflow
			return nil, fmt.Errorf("tensor of shape %v reads past its storage of %d values", t.Shape, s.numel)
		}
		for i := range out {
			out[i] = conv(s.data[(t.offset+i)*s.size:])
		}
		return out, nil
	}
	idx := make([]int, len(t.Shape))
	for i := range out {
		e := t.offset
		for d, x := range idx {
			e += x * t.stride[d]
		}
		if e < 0 || e >= s.numel {
			return nil, fmt.Errorf("tensor of shape %v reads past its storage of %d values", t.Shape, s.numel)
		}
		out[i] = conv(s.data[e*s.size:])
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < t.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}
