// Package checkpoints reads and writes poselab's versioned checkpoint
// files: everything a run needs to continue exactly where it stopped
// (weights, BatchNorm statistics, Adam moments, the task's own state, the
// position in the data order and the schedule) behind a header and a
// checksum. It knows nn but not the engine.
//
// File layout (little endian):
//
//	magic   8 bytes  "PLCKPT\r\n"
//	version uint32   FormatVersion
//	hlen    uint32   length of the header
//	header  hlen     JSON: model, config hash, counters, meta, tensor directory
//	body             float32 tensors in directory order
//	crc     uint32   CRC-32C (Castagnoli) of everything between magic and crc
package checkpoints

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"sort"

	"poselab/internal/atomicfile"
	"poselab/nn"
)

// Magic starts every checkpoint file.
const Magic = "PLCKPT\r\n"

// FormatVersion is the layout version this code writes and reads.
const FormatVersion = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checkpoint is one saved training state.
type Checkpoint struct {
	Model      string // model kind, e.g. "sb"
	ConfigHash string // hash of the run's training config
	Step       int    // training steps done
	Epoch      int    // epoch the next step belongs to
	Pos        int    // batches of Epoch already done (data order position)
	Seed       int64  // seeds data order and dropout masks (the RNG state)
	BestScore  float64
	// Meta holds small named strings: the schedule as JSON, notes.
	Meta  map[string]string
	State *nn.State
	// Task is the task's own state (e.g. normalisation statistics).
	Task map[string]*nn.Tensor
}

// Tensor groups in the directory.
const (
	groupParam  = "param"
	groupBuffer = "buffer"
	groupAdamM  = "adam_m"
	groupAdamV  = "adam_v"
	groupTask   = "task"
)

type entry struct {
	Group string `json:"group"`
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

type header struct {
	Model      string            `json:"model"`
	ConfigHash string            `json:"config_hash"`
	Step       int               `json:"step"`
	Epoch      int               `json:"epoch"`
	Pos        int               `json:"pos"`
	Seed       int64             `json:"seed"`
	BestScore  float64           `json:"best_score"`
	AdamStep   int               `json:"adam_step"`
	Meta       map[string]string `json:"meta,omitempty"`
	Tensors    []entry           `json:"tensors"`
}

// Encode serialises a checkpoint.
func Encode(c *Checkpoint) ([]byte, error) {
	if c.State == nil {
		return nil, errors.New("checkpoint: no state")
	}
	best := c.BestScore
	if math.IsNaN(best) || math.IsInf(best, 0) {
		best = -1 // JSON has no NaN; -1 means "none yet"
	}
	h := header{Model: c.Model, ConfigHash: c.ConfigHash, Step: c.Step, Epoch: c.Epoch, Pos: c.Pos, Seed: c.Seed,
		BestScore: best, AdamStep: c.State.AdamStep, Meta: c.Meta}
	var tensors []*nn.Tensor
	add := func(group string, m map[string]*nn.Tensor) error {
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t := m[n]
			if err := t.Check(); err != nil {
				return fmt.Errorf("checkpoint: %s %s: %w", group, n, err)
			}
			h.Tensors = append(h.Tensors, entry{Group: group, Name: n, Shape: t.Shape})
			tensors = append(tensors, t)
		}
		return nil
	}
	for _, g := range []struct {
		name string
		m    map[string]*nn.Tensor
	}{{groupParam, c.State.Params}, {groupBuffer, c.State.Buffers}, {groupAdamM, c.State.AdamM}, {groupAdamV, c.State.AdamV}, {groupTask, c.Task}} {
		if err := add(g.name, g.m); err != nil {
			return nil, err
		}
	}
	hj, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(Magic)
	binary.Write(&buf, binary.LittleEndian, uint32(FormatVersion))
	binary.Write(&buf, binary.LittleEndian, uint32(len(hj)))
	buf.Write(hj)
	var b4 [4]byte
	for _, t := range tensors {
		for _, v := range t.Data {
			binary.LittleEndian.PutUint32(b4[:], math.Float32bits(v))
			buf.Write(b4[:])
		}
	}
	crc := crc32.Checksum(buf.Bytes()[len(Magic):], castagnoli)
	binary.Write(&buf, binary.LittleEndian, crc)
	return buf.Bytes(), nil
}

// Decode parses a checkpoint, verifying magic, version, checksum and sizes.
func Decode(b []byte) (*Checkpoint, error) {
	if len(b) < len(Magic)+12 {
		return nil, fmt.Errorf("truncated: %d bytes", len(b))
	}
	if string(b[:len(Magic)]) != Magic {
		return nil, errors.New("not a poselab checkpoint (bad magic)")
	}
	ver := binary.LittleEndian.Uint32(b[len(Magic):])
	if ver != FormatVersion {
		return nil, fmt.Errorf("checkpoint format version %d; this poselab reads version %d", ver, FormatVersion)
	}
	body := b[len(Magic) : len(b)-4]
	if got, want := crc32.Checksum(body, castagnoli), binary.LittleEndian.Uint32(b[len(b)-4:]); got != want {
		return nil, fmt.Errorf("checksum mismatch (file corrupt or truncated): crc32c %08x, stored %08x", got, want)
	}
	hlen := int(binary.LittleEndian.Uint32(body[4:]))
	if hlen < 0 || 8+hlen > len(body) {
		return nil, fmt.Errorf("header length %d exceeds the file", hlen)
	}
	var h header
	if err := json.Unmarshal(body[8:8+hlen], &h); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	data := body[8+hlen:]
	// Sizes are counted against the body as they grow: a shape whose
	// element count overflows int would otherwise wrap to a size that
	// matches the body and then allocate (or claim) 2^62 floats.
	need := 0
	for _, e := range h.Tensors {
		n := 1
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %s has a negative dimension %v", e.Name, e.Shape)
			}
			if d > 0 && n > len(data)/4/d {
				n = -1
				break
			}
			n *= d
		}
		if n < 0 || 4*n > len(data)-need {
			return nil, fmt.Errorf("tensor %s of shape %v does not fit in the body (%d bytes)", e.Name, e.Shape, len(data))
		}
		need += 4 * n
	}
	if need != len(data) {
		return nil, fmt.Errorf("body holds %d bytes, the tensor directory needs %d", len(data), need)
	}
	c := &Checkpoint{Model: h.Model, ConfigHash: h.ConfigHash, Step: h.Step, Epoch: h.Epoch, Pos: h.Pos, Seed: h.Seed,
		BestScore: h.BestScore, Meta: h.Meta, Task: map[string]*nn.Tensor{},
		State: &nn.State{Params: map[string]*nn.Tensor{}, Buffers: map[string]*nn.Tensor{}, AdamM: map[string]*nn.Tensor{}, AdamV: map[string]*nn.Tensor{}, AdamStep: h.AdamStep}}
	if c.BestScore < 0 {
		c.BestScore = math.NaN()
	}
	off := 0
	for _, e := range h.Tensors {
		t := nn.NewTensor(e.Shape...)
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
			off += 4
		}
		var m map[string]*nn.Tensor
		switch e.Group {
		case groupParam:
			m = c.State.Params
		case groupBuffer:
			m = c.State.Buffers
		case groupAdamM:
			m = c.State.AdamM
		case groupAdamV:
			m = c.State.AdamV
		case groupTask:
			m = c.Task
		default:
			return nil, fmt.Errorf("tensor %s in unknown group %q", e.Name, e.Group)
		}
		if _, dup := m[e.Name]; dup {
			return nil, fmt.Errorf("tensor %s/%s twice", e.Group, e.Name)
		}
		m[e.Name] = t
	}
	return c, nil
}

// Save writes c to path atomically: a temporary file in the same folder,
// fsync, rename over path, fsync of the folder. A crash leaves the old
// file or the new one, never a mix.
func Save(path string, c *Checkpoint) error {
	b, err := Encode(c)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}

// Load reads and verifies a checkpoint file.
func Load(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	c, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return c, nil
}

// Verify checks a checkpoint file's magic, version and checksum without
// decoding its tensors (streamed: a seed IR checkpoint with Adam moments
// is hundreds of MB), so that a command can refuse a corrupt file before
// it changes anything. Its errors are Load's.
func Verify(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	fail := func(err error) error { return fmt.Errorf("checkpoint %s: %w", path, err) }
	n := fi.Size()
	if n < int64(len(Magic)+12) {
		return fail(fmt.Errorf("truncated: %d bytes", n))
	}
	head := make([]byte, len(Magic)+4)
	if _, err := io.ReadFull(f, head); err != nil {
		return fail(err)
	}
	if string(head[:len(Magic)]) != Magic {
		return fail(errors.New("not a poselab checkpoint (bad magic)"))
	}
	if ver := binary.LittleEndian.Uint32(head[len(Magic):]); ver != FormatVersion {
		return fail(fmt.Errorf("checkpoint format version %d; this poselab reads version %d", ver, FormatVersion))
	}
	h := crc32.New(castagnoli)
	h.Write(head[len(Magic):])
	if _, err := io.CopyN(h, f, n-int64(len(head))-4); err != nil {
		return fail(err)
	}
	var stored [4]byte
	if _, err := io.ReadFull(f, stored[:]); err != nil {
		return fail(err)
	}
	if got, want := h.Sum32(), binary.LittleEndian.Uint32(stored[:]); got != want {
		return fail(fmt.Errorf("checksum mismatch (file corrupt or truncated): crc32c %08x, stored %08x", got, want))
	}
	return nil
}

// Matches checks that c belongs to model kind `model`, trained with config
// hash `hash` (empty: not checked), and holds exactly g's parameters and
// buffers with the graph's shapes.
func (c *Checkpoint) Matches(model, hash string, g *nn.Graph) error {
	if c.Model != model {
		return fmt.Errorf("checkpoint is for model %q, not %q", c.Model, model)
	}
	if hash != "" && c.ConfigHash != hash {
		return fmt.Errorf("checkpoint was written with another configuration (hash %s, this run %s)", c.ConfigHash, hash)
	}
	n := 0
	for _, p := range g.Params {
		var t *nn.Tensor
		if p.Buffer {
			t = c.State.Buffers[p.Name]
		} else {
			t = c.State.Params[p.Name]
			if c.State.AdamM[p.Name] == nil || c.State.AdamV[p.Name] == nil {
				return fmt.Errorf("checkpoint lacks Adam moments of %s", p.Name)
			}
		}
		if t == nil {
			return fmt.Errorf("checkpoint lacks %s", p.Name)
		}
		if !nn.SameShape(t.Shape, p.Shape) {
			return fmt.Errorf("checkpoint %s has shape %v, the model %v", p.Name, t.Shape, p.Shape)
		}
		n++
	}
	if have := len(c.State.Params) + len(c.State.Buffers); have != n {
		return fmt.Errorf("checkpoint holds %d tensors, the model %d", have, n)
	}
	return nil
}
