package cuda

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"poselab/engine/cuda/cu"
	"poselab/nn"
)

// Staging copies the next training batch to the GPU while the current step
// computes (nn.Stager), so that a step only has a device-to-device copy
// (tens of microseconds) where it had a host-to-device one (milliseconds
// for an image batch).
//
// A copy worker, a goroutine locked to its own OS thread with the
// program's context current, owns a second, non-blocking stream. It fills
// one of two slots, each a pinned host buffer and a device buffer per
// graph input plus an event: Stage copies the batch into the slot's pinned
// memory, queues the upload on the copy stream and records the event. A
// training step whose batch is the one in a slot makes the compute stream
// wait for that event and copies the slot into the graph's input buffers
// on the compute stream (the captured CUDA graph reads its inputs at fixed
// addresses); any other batch is uploaded as before.
//
// Slot reuse: the slots alternate, so with the engine's pattern
// (Stage(b[k+1]) while TrainStep(b[k]) runs) the Stage of step k+2 fills the
// slot step k read, and TrainStep(b[k]) synchronised the compute stream
// before it released the slot, so that read is over. Stage never relies on
// that timing: it waits while its slot is in use by a step, and before it
// rewrites the pinned buffer it waits for the slot's previous upload
// (cuEventSynchronize), which may still be running when that batch was
// never trained on. Stage(b[k+1]) may also finish before TrainStep(b[k])
// starts: b[k] is then in the other slot, which alternation leaves alone.
//
// A slot is used only for a batch with the very tensors staged (held by
// the slot, so their addresses cannot be reused meanwhile) and the same
// sampled values; anything else, a batch staged but not trained on
// included, simply stays unused until its slot is refilled.
//
// The slots are separate allocations, not part of the plan's arena: they
// are written by another stream at any time during a step, so they must
// never share memory with buffers the planner reuses; separate buffers also
// cost nothing unless Stage is called (they are made on the first Stage).

// slotState is where a staging slot is in its cycle.
type slotState int

const (
	slotFree    slotState = iota // nothing usable
	slotFilling                  // Stage is copying a batch into it
	slotReady                    // the upload is queued, the event recorded
	slotInUse                    // a training step copies from it on the compute stream
)

// stageIn is one graph input as the staging slots hold it.
type stageIn struct {
	name  string
	id    int   // graph node
	shape []int // with the batch dimension
	n     int   // floats
}

// stageEntry identifies one input tensor of a staged batch. Holding the
// tensor and its data keeps their memory alive, so no other batch can get
// the same addresses while a slot names them; the fingerprint (a few
// sampled values) catches a tensor changed in place after Stage, which the
// nn.Stager contract forbids.
type stageEntry struct {
	t    *nn.Tensor
	data *float32
	n    int
	fp   uint64
}

type stageSlot struct {
	host   []unsafe.Pointer // pinned, per input
	dev    []uint64         // device, per input
	event  uintptr
	state  slotState
	key    []stageEntry // the batch it holds (filling or ready)
	issued bool         // an upload was queued and the event recorded
}

// stager is a program's copy worker and its two slots.
type stager struct {
	drv    *cu.Driver
	stream uintptr // the copy stream
	ins    []stageIn
	slots  [2]*stageSlot
	bytes  int64 // device memory of both slots

	mu     sync.Mutex
	cond   *sync.Cond
	fills  int   // slots filled so far: the next goes to slots[fills%2]
	closed bool  // Close began: Stage does nothing any more
	broken error // a driver call failed: staging is off from then on
	used   int   // training steps that took a staged batch (compute thread)

	work chan func() // closures for the copy thread
	done chan struct{}
}

// newStager makes the copy stream, the slots and the copy worker. It runs
// on the GPU goroutine.
func newStager(p *program) (_ *stager, err error) {
	d := p.d
	c := d.drv
	st := &stager{drv: c, work: make(chan func()), done: make(chan struct{})}
	st.cond = sync.NewCond(&st.mu)
	for _, name := range p.allInputs() {
		id := p.g.Inputs[name]
		shape := append([]int{p.pl.B}, p.g.Nodes[id].Shape...)
		n := nn.Numel(shape)
		if n == 0 {
			return nil, fmt.Errorf("input %q is empty", name)
		}
		st.ins = append(st.ins, stageIn{name: name, id: id, shape: shape, n: n})
	}
	defer func() {
		if err != nil {
			st.free()
		}
	}()
	if err := c.Check("cuStreamCreate(copy stream)", c.StreamCreate(&st.stream, cu.StreamNonBlocking)); err != nil {
		return nil, err
	}
	for i := range st.slots {
		sl := &stageSlot{}
		st.slots[i] = sl
		if err := c.Check("cuEventCreate", c.EventCreate(&sl.event, cu.EventDisableTiming)); err != nil {
			return nil, err
		}
		for _, in := range st.ins {
			var h unsafe.Pointer
			if err := c.Check("cuMemAllocHost(staging)", c.MemAllocHost(&h, uint64(in.n*4))); err != nil {
				return nil, err
			}
			sl.host = append(sl.host, h)
			var dp uint64
			if err := c.Check(fmt.Sprintf("cuMemAlloc(%d bytes staging)", in.n*4), c.MemAlloc(&dp, uint64(in.n*4))); err != nil {
				return nil, err
			}
			sl.dev = append(sl.dev, dp)
			st.bytes += int64(in.n * 4)
		}
	}
	started := make(chan error)
	go st.loop(d.ctx, started)
	if err := <-started; err != nil {
		<-st.done
		st.work = nil
		return nil, err
	}
	return st, nil
}

// loop is the copy worker: like the GPU goroutine, it keeps one OS thread
// with the context current. Returning without unlocking ends the thread.
func (st *stager) loop(ctx uintptr, started chan<- error) {
	defer close(st.done)
	runtime.LockOSThread()
	if err := st.drv.Check("cuCtxSetCurrent(copy thread)", st.drv.CtxSetCurrent(ctx)); err != nil {
		started <- err
		return
	}
	started <- nil
	for f := range st.work {
		f()
	}
}

// run executes f on the copy thread and waits for it.
func (st *stager) run(f func() error) error {
	errc := make(chan error, 1)
	st.work <- func() {
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("cuda: panic on the copy thread: %v", r)
			}
		}()
		errc <- f()
	}
	return <-errc
}

// keyOf checks b against the inputs (a batch that does not fit is not
// staged) and identifies its tensors.
func (st *stager) keyOf(b nn.Batch) ([]stageEntry, bool) {
	key := make([]stageEntry, len(st.ins))
	for i, in := range st.ins {
		t := b[in.name]
		if t == nil || t.Check() != nil || !nn.SameShape(t.Shape, in.shape) {
			return nil, false
		}
		key[i] = stageEntry{t: t, data: &t.Data[0], n: len(t.Data), fp: fingerprint(t.Data)}
	}
	return key, true
}

// fingerprint hashes 64 values spread over x (and the last one).
func fingerprint(x []float32) uint64 {
	h := uint64(14695981039346656037)
	mix := func(v float32) {
		h ^= uint64(math.Float32bits(v))
		h *= 1099511628211
	}
	const samples = 64
	for k := 0; k < samples; k++ {
		mix(x[k*len(x)/samples])
	}
	mix(x[len(x)-1])
	return h
}

func sameKey(a, b []stageEntry) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// find returns the slot filling or holding key.
func (st *stager) find(key []stageEntry) *stageSlot {
	for _, sl := range st.slots {
		if (sl.state == slotFilling || sl.state == slotReady) && sameKey(sl.key, key) {
			return sl
		}
	}
	return nil
}

// stage copies b into the next slot and queues its upload (any goroutine).
func (st *stager) stage(b nn.Batch) {
	key, ok := st.keyOf(b)
	if !ok {
		return
	}
	st.mu.Lock()
	var sl *stageSlot
	for {
		if st.closed || st.broken != nil || st.find(key) != nil {
			st.mu.Unlock()
			return
		}
		sl = st.slots[st.fills%2]
		if sl.state != slotInUse && sl.state != slotFilling {
			break
		}
		// Never overwrite a slot a step may still read (or another Stage
		// fills); look again after any change.
		st.cond.Wait()
	}
	st.fills++
	sl.state, sl.key = slotFilling, key
	issued := sl.issued
	st.mu.Unlock()

	err := st.run(func() error { return st.fill(sl, key, issued) })

	st.mu.Lock()
	if err != nil {
		sl.state, sl.key = slotFree, nil
		if st.broken == nil {
			st.broken = err
		}
	} else {
		sl.state, sl.issued = slotReady, true
	}
	st.cond.Broadcast()
	st.mu.Unlock()
}

// fill runs on the copy thread: it copies the tensors key names.
func (st *stager) fill(sl *stageSlot, key []stageEntry, issued bool) error {
	c := st.drv
	if issued {
		// The slot's last upload may still read the pinned buffers.
		if err := c.Check("cuEventSynchronize(staging)", c.EventSynchronize(sl.event)); err != nil {
			return err
		}
	}
	for i, in := range st.ins {
		parallelCopy(unsafe.Slice((*float32)(sl.host[i]), in.n), unsafe.Slice(key[i].data, key[i].n))
		if err := c.Check("stage "+in.name, c.MemcpyHtoDAsync(sl.dev[i], sl.host[i], uint64(in.n*4), st.stream)); err != nil {
			return err
		}
	}
	return c.Check("cuEventRecord(staging)", c.EventRecord(sl.event, st.stream))
}

// take returns the slot holding b, now in use, or nil: then the step
// uploads b itself. It waits for a slot still being filled with b.
func (st *stager) take(b nn.Batch) *stageSlot {
	key, ok := st.keyOf(b)
	if !ok {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		if st.closed || st.broken != nil {
			return nil
		}
		sl := st.find(key)
		if sl == nil {
			return nil
		}
		if sl.state == slotReady {
			sl.state = slotInUse
			st.used++
			return sl
		}
		st.cond.Wait()
	}
}

// use queues, on the compute stream, the wait for the slot's upload and
// the copies into the graph's input buffers.
func (st *stager) use(sl *stageSlot, p *program) error {
	c := st.drv
	if err := c.Check("cuStreamWaitEvent", c.StreamWaitEvent(p.d.stream, sl.event, 0)); err != nil {
		return err
	}
	for i, in := range st.ins {
		if err := c.Check("copy staged "+in.name, c.MemcpyDtoDAsync(p.y(in.id), sl.dev[i], uint64(in.n*4), p.d.stream)); err != nil {
			return err
		}
	}
	return nil
}

// release frees a slot after its step; synced says the compute stream was
// synchronised after the copies out of it. Without that the slot stays in
// use for good and staging goes off.
func (st *stager) release(sl *stageSlot, synced error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if synced != nil {
		if st.broken == nil {
			st.broken = synced
		}
	} else {
		sl.state, sl.key = slotFree, nil
	}
	st.cond.Broadcast()
}

// close stops the worker once no slot is being filled and frees
// everything (GPU goroutine).
func (st *stager) close() {
	st.mu.Lock()
	st.closed = true
	st.cond.Broadcast()
	for st.slots[0].state == slotFilling || st.slots[1].state == slotFilling {
		st.cond.Wait()
	}
	st.mu.Unlock()
	close(st.work)
	<-st.done
	st.work = nil
	st.free()
}

// free releases what newStager made (the worker has stopped or never ran).
func (st *stager) free() {
	c := st.drv
	if st.stream != 0 {
		c.StreamSynchronize(st.stream)
	}
	for _, sl := range st.slots {
		if sl == nil {
			continue
		}
		if sl.event != 0 {
			c.EventDestroy(sl.event)
		}
		for _, h := range sl.host {
			c.MemFreeHost(h)
		}
		for _, dp := range sl.dev {
			c.MemFree(dp)
		}
		sl.host, sl.dev, sl.event, sl.key = nil, nil, 0, nil
	}
	if st.stream != 0 {
		c.StreamDestroy(st.stream)
		st.stream = 0
	}
}

// status describes staging for Info (GPU goroutine).
func (st *stager) status() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := fmt.Sprintf("input staging: %d training steps took their batch from a background copy (%.1f MiB device memory)",
		st.used, float64(st.bytes)/(1<<20))
	if st.broken != nil {
		s += fmt.Sprintf("; off after an error: %v", st.broken)
	}
	return s
}
