package pyload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"testing"
)

// memoPickle is a list of 3000 lists, each a string fetched from the
// memo (300 strings stored first, between 300 stored and never fetched)
// and a float: written with MEMOIZE (protocol 4) or explicit BINPUT and
// LONG_BINPUT (protocol 2), indices past 255 fetched with LONG_BINGET.
func memoPickle(explicit bool) []byte {
	b := []byte{0x80, 4}
	n := 0
	put := func() int {
		if explicit {
			if n < 256 {
				b = append(b, 'q', byte(n))
			} else {
				b = append(b, 'r')
				b = binary.LittleEndian.AppendUint32(b, uint32(n))
			}
		} else {
			b = append(b, 0x94)
		}
		n++
		return n - 1
	}
	get := func(i int) {
		if i < 256 {
			b = append(b, 'h', byte(i))
			return
		}
		b = append(b, 'j')
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
	}
	str := func(s string) int {
		b = append(b, 0x8c, byte(len(s)))
		b = append(b, s...)
		return put()
	}
	b = append(b, ']')
	put()
	b = append(b, '(')
	var shared []int
	for i := 0; i < 300; i++ {
		shared = append(shared, str(fmt.Sprintf("s%d", i)))
		str(fmt.Sprintf("unused%d", i))
	}
	b = append(b, 'e', '(')
	for j := 0; j < 3000; j++ {
		b = append(b, ']')
		put()
		b = append(b, '(')
		get(shared[(7*j)%300])
		b = append(b, 'G')
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(float64(j)))
		b = append(b, 'e')
	}
	return append(b, 'e', '.')
}

// loadUnpruned is LoadsPickle with the memo left as the file has it.
func loadUnpruned(t *testing.T, data []byte) any {
	t.Helper()
	defer func(n int) { pruneMemoMin = n }(pruneMemoMin)
	pruneMemoMin = math.MaxInt
	v, err := LoadsPickle(data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Pruning the memo (what nothing fetches again) changes no value read,
// with either kind of store, and shrinks the memo gopickle builds.
func TestPruneMemoKeepsValues(t *testing.T) {
	defer func(n int) { pruneMemoMin = n }(pruneMemoMin)
	pruneMemoMin = 1000
	for _, explicit := range []bool{false, true} {
		data := memoPickle(explicit)
		pruned, err := pruneMemo(data)
		if err != nil {
			t.Fatal(err)
		}
		stores := func(p []byte) (n int) {
			walkPickle(p, func(op byte, _, _ int) bool {
				if op == 0x94 || op == 'q' || op == 'r' {
					n++
				}
				return true
			})
			return n
		}
		if got := stores(pruned); got != 300 || stores(data) != 3601 {
			t.Errorf("explicit %v: %d memo stores left of %d, want the 300 fetched", explicit, got, stores(data))
		}
		v, err := LoadsPickle(data)
		if err != nil {
			t.Fatal(err)
		}
		want := loadUnpruned(t, data)
		if !reflect.DeepEqual(v, want) {
			t.Fatalf("explicit %v: pruned and unpruned loads differ", explicit)
		}
		l := v.(interface{ Len() int })
		if l.Len() != 600+3000 {
			t.Fatalf("explicit %v: %d items", explicit, l.Len())
		}
	}
}

// What pruneMemo cannot renumber safely it leaves alone: both kinds of
// store in one pickle, or a fetch of an index never stored.
func TestPruneMemoLeavesOddPickles(t *testing.T) {
	defer func(n int) { pruneMemoMin = n }(pruneMemoMin)
	pruneMemoMin = 1000
	mixed := memoPickle(false)
	i := bytes.IndexByte(mixed[2:], 0x94) + 2
	mixed = append(append(append([]byte{}, mixed[:i]...), 'q', 0), mixed[i+1:]...) // the first MEMOIZE as a BINPUT 0
	unknown := memoPickle(false)
	unknown = append(unknown[:len(unknown)-2], 'j', 0xff, 0xff, 0, 0, 'e', '.') // one more item: memo 65535
	for name, data := range map[string][]byte{"mixed": mixed, "unknown index": unknown} {
		got, err := pruneMemo(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if &got[0] != &data[0] || len(got) != len(data) {
			t.Errorf("%s: rewritten", name)
		}
	}
}
