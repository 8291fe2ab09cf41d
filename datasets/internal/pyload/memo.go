package pyload

import (
	"encoding/binary"
	"strconv"
	"strings"
)

// pruneMemoMin is the number of memo stores below which pruneMemo leaves
// a pickle as it is: a small memo costs gopickle nothing worth a rewrite.
var pruneMemoMin = 4096 // a variable for the tests

// pruneMemo checks a pickle as scanPickle does and rewrites it so that it stores in the memo only
// what a GET fetches again. CPython memoizes every object it writes: a
// 40,000-record ETH train.pkl stores ~2.6 million, of which ~30 (the
// dict keys, numpy's globals and dtype) are fetched again, and gopickle
// keeps them all in a map[int]any that it grows one entry at a time; that
// map and the collections it causes were most of a 10 to 18 s load.
//
// MEMOIZE (protocol 4, the memo index implicit: the memo's size) keeps
// the fetched ones in order, so their indices shrink and the GETs are
// rewritten to match; an explicit PUT (protocols 0 to 3) that nothing
// fetches is dropped, the others stay as they are. A pickle mixing both
// kinds, or fetching an index it never stored, is returned unchanged
// (gopickle then reads it as before). FRAMEs are dropped: their lengths
// would no longer hold, and frames are only a reading hint.
func pruneMemo(data []byte) ([]byte, error) {
	fetched := map[int]bool{}
	memoize, puts := 0, 0
	ok := true
	index := func(op byte, at, end int) (int, bool) {
		switch op {
		case 'h', 'q': // BINGET BINPUT
			return int(data[at+1]), true
		case 'j', 'r': // LONG_BINGET LONG_BINPUT
			return int(binary.LittleEndian.Uint32(data[at+1:])), true
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(data[at+1 : end])))
		return n, err == nil && n >= 0
	}
	err := walkPickle(data, func(op byte, at, end int) bool {
		switch op {
		case '\x94':
			memoize++
		case 'p', 'q', 'r':
			puts++
			// A PUT gopickle refuses ("p-1", "p1x") must stay to be
			// refused: dropped as never fetched, the pickle would load.
			if _, good := index(op, at, end); !good {
				ok = false
			}
		case 'g', 'h', 'j':
			if i, good := index(op, at, end); good {
				fetched[i] = true
			} else {
				ok = false
			}
		}
		return true // to the end: this walk is the scan too
	})
	if err != nil {
		return nil, err
	}
	if !ok || memoize+puts < pruneMemoMin || (memoize > 0 && puts > 0) {
		return data, nil
	}
	out := make([]byte, 0, len(data))
	last := 0 // data[last:at] is still to copy
	drop := func(at, end int) {
		out = append(out, data[last:at]...)
		last = end
	}
	renum := map[int]int{} // MEMOIZE: old index -> new
	stored := 0
	err = walkPickle(data, func(op byte, at, end int) bool {
		switch op {
		case '\x95': // FRAME
			drop(at, end)
		case '\x94':
			if fetched[stored] {
				renum[stored] = len(renum)
			} else {
				drop(at, end)
			}
			stored++
		case 'p', 'q', 'r':
			if i, _ := index(op, at, end); !fetched[i] {
				drop(at, end)
			}
		case 'g', 'h', 'j':
			if memoize == 0 {
				break // explicit PUTs keep their indices
			}
			i, _ := index(op, at, end)
			n, known := renum[i]
			if !known {
				ok = false
				return false
			}
			drop(at, end)
			if n < 256 {
				out = append(out, 'h', byte(n))
			} else {
				out = append(out, 'j')
				out = binary.LittleEndian.AppendUint32(out, uint32(n))
			}
		}
		return true
	})
	if err != nil || !ok {
		return data, nil
	}
	return append(out, data[last:]...), nil
}
