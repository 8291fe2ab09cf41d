package h36m

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// cpythonPickle writes an ETH annotation pickle the way CPython's pickle
// (protocol 4) and numpy write one: MEMOIZE after every object, BINGET
// for the objects it meets again (the interned dict keys, the numpy
// globals, the float64 dtype, the Camera class), each array a REDUCE of
// _reconstruct and a BUILD with its raw bytes (compare testdata/eth/val.pkl
// under pickletools.dis). Its memo grows by ~70 entries a record, as the
// real files' does, which is where gopickle spends its time.
type cpythonPickle struct {
	b    []byte
	memo int
	seen map[string]int // memo index of what is written once and fetched again
}

func (p *cpythonPickle) memoize() int {
	p.b = append(p.b, 0x94)
	p.memo++
	return p.memo - 1
}

func (p *cpythonPickle) get(i int) {
	if i < 256 {
		p.b = append(p.b, 'h', byte(i))
		return
	}
	p.b = append(p.b, 'j')
	p.b = binary.LittleEndian.AppendUint32(p.b, uint32(i))
}

func (p *cpythonPickle) str(s string) int {
	p.b = append(p.b, 0x8c, byte(len(s)))
	p.b = append(p.b, s...)
	return p.memoize()
}

// key writes an interned string: the first time, later a BINGET.
func (p *cpythonPickle) key(s string) {
	if i, ok := p.seen["str:"+s]; ok {
		p.get(i)
		return
	}
	p.seen["str:"+s] = p.str(s)
}

func (p *cpythonPickle) int1(k int) { p.b = append(p.b, 'K', byte(k)) }

func (p *cpythonPickle) float(x float64) {
	p.b = append(p.b, 'G')
	p.b = binary.BigEndian.AppendUint64(p.b, math.Float64bits(x))
}

// once writes what build writes the first time it is asked for name, and
// fetches it from the memo after.
func (p *cpythonPickle) once(name string, build func() int) {
	if i, ok := p.seen[name]; ok {
		p.get(i)
		return
	}
	p.seen[name] = build()
}

func (p *cpythonPickle) global(module, name string) {
	p.once("global:"+module+"."+name, func() int {
		p.key(module)
		p.key(name)
		p.b = append(p.b, 0x93) // STACK_GLOBAL
		return p.memoize()
	})
}

func (p *cpythonPickle) array(shape []int, data []float64) {
	p.global("numpy.core.multiarray", "_reconstruct")
	p.global("numpy", "ndarray")
	p.int1(0)
	p.b = append(p.b, 0x85) // TUPLE1
	p.memoize()
	p.once("b'b'", func() int { p.b = append(p.b, 'C', 1, 'b'); return p.memoize() })
	p.b = append(p.b, 0x87) // TUPLE3
	p.memoize()
	p.b = append(p.b, 'R')
	p.memoize()
	p.b = append(p.b, '(')
	p.int1(1)
	for _, n := range shape {
		p.int1(n)
	}
	p.b = append(p.b, 0x84+byte(len(shape))) // TUPLE1, TUPLE2
	p.memoize()
	p.once("dtype:f8", func() int {
		p.global("numpy", "dtype")
		p.key("f8")
		p.b = append(p.b, 0x89, 0x88, 0x87) // False, True, TUPLE3
		p.memoize()
		p.b = append(p.b, 'R')
		i := p.memoize()
		p.b = append(p.b, '(')
		p.int1(3)
		p.key("<")
		p.b = append(p.b, 'N', 'N', 'N', 'J', 0xff, 0xff, 0xff, 0xff, 'J', 0xff, 0xff, 0xff, 0xff)
		p.int1(0)
		p.b = append(p.b, 't')
		p.memoize()
		p.b = append(p.b, 'b')
		return i
	})
	p.b = append(p.b, 0x89) // fortran_order False
	raw := make([]byte, 0, 8*len(data))
	for _, x := range data {
		raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(x))
	}
	if len(raw) < 256 {
		p.b = append(p.b, 'C', byte(len(raw)))
	} else {
		p.b = append(p.b, 'B')
		p.b = binary.LittleEndian.AppendUint32(p.b, uint32(len(raw)))
	}
	p.b = append(p.b, raw...)
	p.memoize()
	p.b = append(p.b, 't')
	p.memoize()
	p.b = append(p.b, 'b')
}

// record writes one ETH record of camera cam (0..3), number i.
func (p *cpythonPickle) record(cam, i int) {
	p.b = append(p.b, '}')
	p.memoize()
	p.b = append(p.b, '(')
	p.key("image")
	p.str(fmt.Sprintf("S1/S1_Directions_1.5413896%d/S1_Directions_1.5413896%d_%06d.jpg", cam, cam, i+1))
	f := float64(i%97) / 97
	for _, k := range []string{"center_x", "center_y", "width", "height"} {
		p.key(k)
		p.float(400 + 100*f)
	}
	j3 := make([]float64, 17*3)
	vis := make([]float64, 17*3)
	for j := 0; j < 17; j++ {
		j3[3*j], j3[3*j+1], j3[3*j+2] = 300+20*float64(j)+f, 250+25*float64(j), 10*float64(j%5)-20
		vis[3*j], vis[3*j+1], vis[3*j+2] = 1, 1, 1
	}
	p.key("joints_3d")
	p.array([]int{17, 3}, j3)
	p.key("joints_3d_vis")
	p.array([]int{17, 3}, vis)
	p.key("pelvis")
	p.array([]int{3}, []float64{-180 + f, -320, 5200})
	p.key("fl")
	p.array([]int{2}, []float64{1145.05, 1143.78})
	p.key("c_p")
	p.array([]int{2}, []float64{512.54, 515.45})
	p.key("camera")
	p.global("lib.utils.cameras", "Camera")
	p.b = append(p.b, ')', 0x81) // EMPTY_TUPLE NEWOBJ
	p.memoize()
	p.b = append(p.b, '}')
	p.memoize()
	p.b = append(p.b, '(')
	p.key("R")
	p.array([]int{3, 3}, []float64{-0.9153617, 0.4020032, 0.0222906, 0.0514427, 0.0620215, 0.9967483, 0.3993293, 0.9135351, -0.0776478})
	p.key("T")
	p.array([]int{3}, []float64{1841.1, 4955.3, 1563.4})
	for _, k := range []string{"fx", "fy", "cx", "cy"} {
		p.key(k)
		p.float(1000 + f)
	}
	p.key("k")
	p.array([]int{3}, []float64{-0.2071, 0.2477, -0.0031})
	p.key("p")
	p.array([]int{2}, []float64{-0.0009, -0.0014})
	p.key("name")
	p.key(fmt.Sprintf("5413896%d", cam))
	p.b = append(p.b, 'u', 'b', 'u') // camera dict SETITEMS, BUILD; record SETITEMS
}

// ethPickleOf is an ETH annotation pickle of n records (n/4 a camera).
func ethPickleOf(n int) []byte {
	p := &cpythonPickle{seen: map[string]int{}, b: make([]byte, 0, 1500*n)}
	p.b = append(p.b, 0x80, 4, '}')
	p.memoize()
	p.b = append(p.b, '(')
	for cam := 0; cam < 4; cam++ {
		p.int1(cam + 1)
		p.b = append(p.b, ']')
		p.memoize()
		for s := 0; s < n/4; s += 1000 { // CPython appends 1000 at a time
			p.b = append(p.b, '(')
			for i := s; i < min(s+1000, n/4); i++ {
				p.record(cam, i)
			}
			p.b = append(p.b, 'e')
		}
	}
	p.b = append(p.b, 'u', '.')
	return p.b
}

// The generator writes what the loader reads (the benchmark's file is no
// fixture that could go stale).
func TestCPythonStylePickleLoads(t *testing.T) {
	recs, err := ParseETH(ethPickleOf(8))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 8 || recs[7].Image != "S1/S1_Directions_1.54138963/S1_Directions_1.54138963_000002.jpg" || recs[0].Cam.Fx != 1145.05 {
		t.Fatalf("%d records, the last %q, fx %v", len(recs), recs[len(recs)-1].Image, recs[0].Cam.Fx)
	}
}

// BenchmarkLoadETHLarge reads a train.pkl of the real one's size (40,000
// records, ~57 MB; it took 10 to 18 s on the 2-core machine):
//
//	go test ./datasets/h36m -run XXX -bench LoadETHLarge -benchtime 3x -benchmem
func BenchmarkLoadETHLarge(b *testing.B) {
	path := filepath.Join(b.TempDir(), "train.pkl")
	data := ethPickleOf(40000)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	size := len(data)
	b.SetBytes(int64(size))
	data = nil
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		recs, err := LoadETH(path)
		if err != nil || len(recs) != 40000 {
			b.Fatalf("%d records: %v", len(recs), err)
		}
	}
	b.ReportMetric(float64(size)/1e6, "file-MB")
}
