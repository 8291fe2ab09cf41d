package checkpoints

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"strings"
	"testing"

	"poselab/nn"
)

// rawCheckpoint frames a header and body as a checkpoint with a valid
// checksum, as a hostile or buggy writer could.
func rawCheckpoint(t testing.TB, h header, body []byte) []byte {
	hj, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString(Magic)
	binary.Write(&buf, binary.LittleEndian, uint32(FormatVersion))
	binary.Write(&buf, binary.LittleEndian, uint32(len(hj)))
	buf.Write(hj)
	buf.Write(body)
	binary.Write(&buf, binary.LittleEndian, crc32.Checksum(buf.Bytes()[len(Magic):], castagnoli))
	return buf.Bytes()
}

// A shape whose element count overflows int must be refused, not wrap to
// a size that matches the body: [2^62] wrapped to 0 bytes needed and then
// allocated 2^62 floats (panic), [2^32, 2^32] wrapped to 0 and loaded a
// tensor whose data does not fill its shape.
func TestOverflowingShapeIsRefused(t *testing.T) {
	for _, shape := range [][]int{{1 << 62}, {1 << 32, 1 << 32}, {1 << 31, 1 << 31, 4}} {
		b := rawCheckpoint(t, header{Model: "x", Tensors: []entry{{Group: groupTask, Name: "m", Shape: shape}}}, nil)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("shape %v: panic %v", shape, r)
				}
			}()
			c, err := Decode(b)
			if err == nil {
				t.Fatalf("shape %v accepted: %d values", shape, len(c.Task["m"].Data))
			}
		}()
	}
}

func FuzzDecode(f *testing.F) {
	good, err := Encode(testCheckpoint())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(rawCheckpoint(f, header{Tensors: []entry{{Group: groupTask, Name: "m", Shape: []int{1 << 62}}}}, nil))
	f.Add(rawCheckpoint(f, header{Tensors: []entry{{Group: "param", Name: "a", Shape: []int{2}}}}, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The checksum stops nearly every mutation before the header is
		// read: also try the input with a checksum that matches.
		for _, b := range [][]byte{data, fixCRC(data)} {
			c, err := Decode(b)
			if err != nil {
				if strings.TrimSpace(err.Error()) == "" {
					t.Fatal("empty error")
				}
				continue
			}
			for _, m := range []map[string]*nn.Tensor{c.State.Params, c.State.Buffers, c.State.AdamM, c.State.AdamV, c.Task} {
				for n, x := range m {
					if err := x.Check(); err != nil {
						t.Fatalf("decoded tensor %s is inconsistent: %v", n, err)
					}
				}
			}
			back, err := Encode(c)
			if err != nil {
				t.Fatalf("decoded checkpoint does not encode: %v", err)
			}
			if _, err := Decode(back); err != nil {
				t.Fatalf("re-encoded checkpoint does not decode: %v", err)
			}
		}
	})
}

// fixCRC returns data with its last four bytes replaced by the checksum
// of what lies between the magic and them.
func fixCRC(data []byte) []byte {
	if len(data) < len(Magic)+12 {
		return data
	}
	b := append([]byte(nil), data...)
	binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[len(Magic):len(b)-4], castagnoli))
	return b
}
