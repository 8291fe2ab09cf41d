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
// With must, a failed load fails the test.
func loadUnpruned(t *testing.T, data []byte, must bool) (any, error) {
	t.Helper()
	defer func(n int) { pruneMemoMin = n }(pruneMemoMin)
	pruneMemoMin = math.MaxInt
	v, err := LoadsPickle(data)
	if err != nil && must {
		t.Fatal(err)
	}
	return v, err
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
		want, _ := loadUnpruned(t, data, true)
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

// A PUT whose index gopickle (and CPython) refuses is no PUT that nothing
// fetches: pruning must leave it, so the pickle is still refused.
func TestPruneMemoKeepsBadPut(t *testing.T) {
	defer func(n int) { pruneMemoMin = n }(pruneMemoMin)
	pruneMemoMin = 1000
	data := memoPickle(true)
	i := bytes.IndexByte(data[2:], 'q') + 2 // the first BINPUT 0, after ']'
	data = append(append(append([]byte{}, data[:i]...), "p-1\n"...), data[i+2:]...)
	if _, err := loadUnpruned(t, data, false); err == nil {
		t.Fatal("gopickle read a negative PUT: the test no longer tests anything")
	}
	if _, err := LoadsPickle(data); err == nil {
		t.Error("a pickle with a negative PUT loaded once its memo was pruned")
	}
}

// FuzzPruneMemo: whatever pickle pruning rewrites, it reads as the
// unpruned one does (and no input panics the rewrite).
func FuzzPruneMemo(f *testing.F) {
	// Small seeds: the fuzzer minimizes what it finds, slowly on ~50 kB
	// (memoPickle is covered by the tests above).
	f.Add([]byte("\x80\x02]q\x00(K\x01h\x00e."))
	f.Add([]byte("(lp0\nI1\nag0\na."))
	f.Add([]byte("\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01h\x00e."))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer func(n int) { pruneMemoMin = n }(pruneMemoMin)
		pruneMemoMin = 0
		want, werr := loadUnpruned(t, data, false)
		again, _ := loadUnpruned(t, data, false)
		// Two loads of one pickle that DeepEqual tells apart (a NaN, a
		// set keyed by pointers) cannot tell pruning's work either.
		if werr != nil || !reflect.DeepEqual(want, again) {
			pruneMemo(data) // still must not panic
			return
		}
		got, err := LoadsPickle(data)
		if err != nil {
			t.Fatalf("pruned pickle refused (%v); unpruned read %#v", err, want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("pruned read %#v, unpruned %#v", got, want)
		}
	})
}
