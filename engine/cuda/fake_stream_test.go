package cuda

import (
	"fmt"
	"hash/fnv"
	"sync"
	"unsafe"

	"poselab/engine/cuda/cu"
)

// streamModel gives the fake GPU streams, events and copies with CUDA's
// ordering rules, so that tests see whether work on two streams is
// correctly ordered without a GPU. Each copy (and each event wait) is an
// operation numbered per stream; an operation is known complete after a
// synchronisation that covers it (cuStreamSynchronize, cuEventSynchronize
// on an event recorded after it, or the synchronisation of a stream that
// waited for such an event). It reports:
//   - a device-to-device copy reading memory another stream wrote, unless
//     that write is complete or the reading stream waited for an event
//     recorded after it;
//   - a host-to-device copy overwriting memory another stream may still
//     read or write;
//   - a host-to-device copy on a stream other than the compute stream (0
//     in the fake) from a host buffer whose previous copy may still run:
//     the buffer was rewritten under it.
//
// With track set it also follows what the device memory holds: a hash of
// the bytes each copy wrote, by destination address.
type streamModel struct {
	mu      sync.Mutex
	issued  map[uintptr]int // operations per stream
	done    map[uintptr]int // operations known complete per stream
	events  map[uintptr]fakeEvent
	waits   map[uintptr][]fakeWait
	writes  []fakeAccess
	reads   []fakeAccess
	hostSrc map[unsafe.Pointer]fakeAccess // last copy from each host buffer
	next    uintptr
	streams map[uintptr]bool // live streams and events
	pinned  map[unsafe.Pointer]bool
	errs    []string
	log     []fakeCopy
	track   bool
	content map[uint64]uint64 // destination address -> hash of what was copied there
}

type fakeEvent struct {
	stream uintptr
	seq    int // the operations of stream it covers
}

type fakeWait struct {
	seq    int // the wait's own number on the waiting stream
	stream uintptr
	upTo   int // the operations of stream it waits for
}

type fakeAccess struct {
	stream uintptr
	seq    int
	lo, hi uint64
}

type fakeCopy struct {
	kind     string // "htod", "dtod", "wait"
	stream   uintptr
	dst, src uint64 // src: 0 for host copies; wait: src is the event
}

func newStreamModel() *streamModel {
	return &streamModel{issued: map[uintptr]int{}, done: map[uintptr]int{}, events: map[uintptr]fakeEvent{},
		waits: map[uintptr][]fakeWait{}, hostSrc: map[unsafe.Pointer]fakeAccess{}, next: 500,
		streams: map[uintptr]bool{}, pinned: map[unsafe.Pointer]bool{}, content: map[uint64]uint64{}}
}

func (m *streamModel) fail(format string, a ...any) {
	if len(m.errs) < 20 {
		m.errs = append(m.errs, fmt.Sprintf(format, a...))
	}
}

// errors returns the ordering faults seen so far.
func (m *streamModel) errors() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.errs...)
}

func (m *streamModel) complete(s uintptr, seq int) bool { return m.done[s] >= seq }

// markDone records that stream s finished its first seq operations, and
// with them the operations of other streams it waited for.
func (m *streamModel) markDone(s uintptr, seq int) {
	if m.done[s] >= seq {
		return
	}
	m.done[s] = seq
	var open []fakeWait
	for _, w := range m.waits[s] {
		if w.seq <= seq {
			m.markDone(w.stream, w.upTo)
		} else {
			open = append(open, w)
		}
	}
	m.waits[s] = open
	keep := func(as []fakeAccess) []fakeAccess {
		out := as[:0]
		for _, a := range as {
			if !m.complete(a.stream, a.seq) {
				out = append(out, a)
			}
		}
		return out
	}
	m.writes, m.reads = keep(m.writes), keep(m.reads)
}

// orderedBefore: is operation seq of stream w complete or waited for by
// stream s (which is about to issue an operation)?
func (m *streamModel) orderedBefore(w uintptr, seq int, s uintptr) bool {
	if w == s || m.complete(w, seq) {
		return true
	}
	for _, wt := range m.waits[s] {
		if wt.stream == w && wt.upTo >= seq {
			return true
		}
	}
	return false
}

func overlaps(a fakeAccess, lo, hi uint64) bool { return a.lo < hi && lo < a.hi }

func (m *streamModel) htod(dst uint64, src unsafe.Pointer, n uint64, s uintptr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s != 0 {
		if last, ok := m.hostSrc[src]; ok && !m.complete(last.stream, last.seq) {
			m.fail("host buffer %p copied again on stream %d while its copy %d on stream %d may still run", src, s, last.seq, last.stream)
		}
	}
	for _, as := range [][]fakeAccess{m.reads, m.writes} {
		for _, a := range as {
			if a.stream != s && overlaps(a, dst, dst+n) && !m.complete(a.stream, a.seq) {
				m.fail("upload on stream %d into [%#x,+%d) while stream %d may still use it (operation %d)", s, dst, n, a.stream, a.seq)
			}
		}
	}
	m.issued[s]++
	acc := fakeAccess{s, m.issued[s], dst, dst + n}
	m.writes = append(m.writes, acc)
	m.hostSrc[src] = acc
	m.log = append(m.log, fakeCopy{"htod", s, dst, 0})
	if m.track {
		h := fnv.New64a()
		h.Write(unsafe.Slice((*byte)(src), n))
		m.content[dst] = h.Sum64()
	}
}

func (m *streamModel) dtod(dst, src, n uint64, s uintptr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.writes {
		if overlaps(w, src, src+n) && !m.orderedBefore(w.stream, w.seq, s) {
			m.fail("copy on stream %d reads [%#x,+%d), written by stream %d (operation %d) without a wait for it", s, src, n, w.stream, w.seq)
		}
	}
	m.issued[s]++
	m.reads = append(m.reads, fakeAccess{s, m.issued[s], src, src + n})
	m.writes = append(m.writes, fakeAccess{s, m.issued[s], dst, dst + n})
	m.log = append(m.log, fakeCopy{"dtod", s, dst, src})
	if m.track {
		m.content[dst] = m.content[src]
	}
}

// install adds the model's entry points to a fake driver; the copies keep
// the fake's own argument checks.
func (m *streamModel) install(drv *cu.Driver) {
	ok := cu.Result(0)
	htod := drv.MemcpyHtoDAsync
	drv.MemcpyHtoDAsync = func(dst uint64, src unsafe.Pointer, n uint64, s uintptr) cu.Result {
		m.htod(dst, src, n, s)
		return htod(dst, src, n, s)
	}
	drv.MemcpyDtoDAsync = func(dst, src, n uint64, s uintptr) cu.Result {
		m.dtod(dst, src, n, s)
		return ok
	}
	allocHost := drv.MemAllocHost
	drv.MemAllocHost = func(p *unsafe.Pointer, bytes uint64) cu.Result {
		r := allocHost(p, bytes)
		m.mu.Lock()
		m.pinned[*p] = true
		m.mu.Unlock()
		return r
	}
	drv.MemFreeHost = func(p unsafe.Pointer) cu.Result {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.pinned[p] {
			m.fail("cuMemFreeHost of %p, not allocated", p)
		}
		delete(m.pinned, p)
		return ok
	}
	drv.CtxSetCurrent = func(ctx uintptr) cu.Result { return ok }
	newHandle := func(h *uintptr) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.next++
		*h = m.next
		m.streams[*h] = true
	}
	drop := func(what string, h uintptr) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.streams[h] {
			m.fail("%s of %d, not live", what, h)
		}
		delete(m.streams, h)
	}
	drv.StreamCreate = func(s *uintptr, flags uint32) cu.Result { newHandle(s); return ok }
	drv.StreamDestroy = func(s uintptr) cu.Result { drop("cuStreamDestroy", s); return ok }
	drv.EventCreate = func(e *uintptr, flags uint32) cu.Result { newHandle(e); return ok }
	drv.EventDestroy = func(e uintptr) cu.Result { drop("cuEventDestroy", e); return ok }
	drv.EventRecord = func(e, s uintptr) cu.Result {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.events[e] = fakeEvent{stream: s, seq: m.issued[s]}
		return ok
	}
	drv.EventSynchronize = func(e uintptr) cu.Result {
		m.mu.Lock()
		defer m.mu.Unlock()
		if ev, found := m.events[e]; found {
			m.markDone(ev.stream, ev.seq)
		}
		return ok
	}
	drv.StreamWaitEvent = func(s, e uintptr, flags uint32) cu.Result {
		m.mu.Lock()
		defer m.mu.Unlock()
		ev, found := m.events[e]
		if !found {
			m.fail("stream %d waits for event %d, never recorded", s, e)
		}
		m.issued[s]++
		m.waits[s] = append(m.waits[s], fakeWait{seq: m.issued[s], stream: ev.stream, upTo: ev.seq})
		m.log = append(m.log, fakeCopy{"wait", s, 0, uint64(e)})
		return ok
	}
	drv.StreamSynchronize = func(s uintptr) cu.Result {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.markDone(s, m.issued[s])
		return ok
	}
}

// copies returns the copies and waits logged since mark (a length of the
// log), and the log's length now.
func (m *streamModel) copies(mark int) ([]fakeCopy, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]fakeCopy(nil), m.log[mark:]...), len(m.log)
}

// holds returns the hash of what was last copied to device address p.
func (m *streamModel) holds(p uint64) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.content[p]
	return h, ok
}
