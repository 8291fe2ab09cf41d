package cuda

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"poselab/engine/cuda/cu"
	"poselab/models"
	"poselab/nn"
)

// The fake's stream model must catch the misorderings staging could make,
// or the staging tests below would prove nothing.
func TestStreamModelCatchesMisordering(t *testing.T) {
	type env struct {
		f                *fakeGPU
		buf, dst         uint64
		host, host2      unsafe.Pointer
		copyStream, ev   uintptr
		htod             func(host unsafe.Pointer)
		record, wait     func()
		readOnCompute    func()
		syncCompute, evs func()
	}
	cases := []struct {
		name string
		run  func(e *env)
		want string // "" for no fault
	}{
		{"read without a wait", func(e *env) { e.htod(e.host); e.record(); e.readOnCompute() }, "without a wait"},
		{"read after a wait", func(e *env) { e.htod(e.host); e.record(); e.wait(); e.readOnCompute() }, ""},
		{"event recorded before the copy", func(e *env) { e.record(); e.htod(e.host); e.wait(); e.readOnCompute() }, "without a wait"},
		{"overwrite while read", func(e *env) {
			e.htod(e.host)
			e.record()
			e.wait()
			e.readOnCompute()
			e.htod(e.host2)
		}, "may still use it"},
		{"overwrite after the reader synchronised", func(e *env) {
			e.htod(e.host)
			e.record()
			e.wait()
			e.readOnCompute()
			e.syncCompute()
			e.htod(e.host2)
		}, ""},
		{"pinned buffer reused under its copy", func(e *env) { e.htod(e.host); e.htod(e.host) }, "copied again"},
		{"pinned buffer reused after the event", func(e *env) { e.htod(e.host); e.record(); e.evs(); e.htod(e.host) }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, f := newFakeDevice(t)
			defer close(d.work)
			drv := d.drv
			e := &env{f: f}
			drv.MemAlloc(&e.buf, 64)
			drv.MemAlloc(&e.dst, 64)
			drv.MemAllocHost(&e.host, 64)
			drv.MemAllocHost(&e.host2, 64)
			drv.StreamCreate(&e.copyStream, 1)
			drv.EventCreate(&e.ev, 2)
			e.htod = func(h unsafe.Pointer) { drv.MemcpyHtoDAsync(e.buf, h, 64, e.copyStream) }
			e.record = func() { drv.EventRecord(e.ev, e.copyStream) }
			e.wait = func() { drv.StreamWaitEvent(0, e.ev, 0) }
			e.readOnCompute = func() { drv.MemcpyDtoDAsync(e.dst, e.buf, 64, 0) }
			e.syncCompute = func() { drv.StreamSynchronize(0) }
			e.evs = func() { drv.EventSynchronize(e.ev) }
			c.run(e)
			errs := f.sm.errors()
			if c.want == "" && len(errs) > 0 {
				t.Fatalf("faults in a correct order: %v", errs)
			}
			if c.want != "" && (len(errs) == 0 || !strings.Contains(strings.Join(errs, "; "), c.want)) {
				t.Fatalf("faults %v, want one with %q", errs, c.want)
			}
		})
	}
}

func tensorHash(t *nn.Tensor) uint64 {
	h := fnv.New64a()
	h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&t.Data[0])), len(t.Data)*4))
	return h.Sum64()
}

// stagingProgram compiles the SH test network (three inputs) at batch 2 on
// a fake GPU that follows device contents.
func stagingProgram(t *testing.T) (*handle, *fakeGPU, *nn.Graph) {
	t.Helper()
	d, f := newFakeDevice(t)
	t.Cleanup(func() { close(d.work) })
	f.sm.track = true
	g, err := models.BuildSH(models.SHPresets["test"])
	if err != nil {
		t.Fatal(err)
	}
	pr, err := (&backend{d: d}).Compile(g, nn.Options{Batch: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close() })
	return pr.(*handle), f, g
}

// checkInputs asserts the graph's input buffers hold exactly b.
func checkInputs(t *testing.T, h *handle, f *fakeGPU, b nn.Batch, what string) {
	t.Helper()
	for _, name := range h.p.allInputs() {
		got, ok := f.sm.holds(h.p.y(h.p.g.Inputs[name]))
		if !ok || got != tensorHash(b[name]) {
			t.Errorf("%s: input %q on the device is not the batch's", what, name)
		}
	}
}

// stepCopies trains one step and returns the copies it and anything
// running alongside made, split into those that fill the graph's inputs
// from the host and from a slot.
func stepCopies(t *testing.T, h *handle, f *fakeGPU, b nn.Batch, step int) (uploads, fromSlot []fakeCopy, all []fakeCopy) {
	t.Helper()
	_, mark := f.sm.copies(0)
	if _, err := h.TrainStep(b, step, 1e-3); err != nil {
		t.Fatal(err)
	}
	all, _ = f.sm.copies(mark)
	isInput := map[uint64]bool{}
	for _, name := range h.p.allInputs() {
		isInput[h.p.y(h.p.g.Inputs[name])] = true
	}
	for _, c := range all {
		switch {
		case c.kind == "htod" && isInput[c.dst]:
			uploads = append(uploads, c)
		case c.kind == "dtod" && isInput[c.dst]:
			fromSlot = append(fromSlot, c)
		}
	}
	return uploads, fromSlot, all
}

func noFaults(t *testing.T, f *fakeGPU) {
	t.Helper()
	for _, e := range append(f.sm.errors(), f.errs...) {
		t.Error(e)
	}
}

// A staged batch reaches the graph's inputs by a device copy from its slot
// after the compute stream waited for the slot's upload; nothing is
// uploaded on the compute stream.
func TestStagedBatchIsUsed(t *testing.T) {
	h, f, g := stagingProgram(t)
	b0, b1 := randomBatch(g, 2, 1), randomBatch(g, 2, 2)
	up, slot, _ := stepCopies(t, h, f, b0, 0)
	if len(up) != 3 || len(slot) != 0 {
		t.Fatalf("unstaged step: %d uploads, %d slot copies; want 3 and 0", len(up), len(slot))
	}
	checkInputs(t, h, f, b0, "step 0")
	h.Stage(b1)
	st := h.p.stg.Load()
	if st == nil {
		t.Fatal("Stage made no stager")
	}
	up, slot, all := stepCopies(t, h, f, b1, 1)
	if len(up) != 0 || len(slot) != 3 {
		t.Fatalf("staged step: %d uploads, %d slot copies; want 0 and 3", len(up), len(slot))
	}
	if all[0].kind != "wait" || all[0].stream != 0 || uintptr(all[0].src) != st.slots[0].event {
		t.Errorf("the step's first operation is %+v, want the compute stream waiting for slot 0's event", all[0])
	}
	for i, c := range slot {
		if c.stream != 0 || c.src != st.slots[0].dev[i] {
			t.Errorf("slot copy %d: %+v, want stream 0 from slot 0's buffer %#x", i, c, st.slots[0].dev[i])
		}
	}
	checkInputs(t, h, f, b1, "staged step 1")
	if st.used != 1 {
		t.Errorf("%d staged steps, want 1", st.used)
	}
	if info := Info(h); !strings.Contains(info, "input staging: 1 training steps") {
		t.Errorf("Info does not report staging:\n%s", info)
	}
	if m := h.Memory(); m.Used != h.p.pl.Total+int64(h.p.wsLen)+int64(h.p.d.blasWSBytes)+st.bytes || st.bytes == 0 {
		t.Errorf("memory used %d does not count the %d bytes of the slots", m.Used, st.bytes)
	}
	noFaults(t, f)
}

// Only the very batch that was staged, unchanged, is taken from a slot.
func TestStagedBatchMismatchUploads(t *testing.T) {
	h, f, g := stagingProgram(t)
	b := func(seed uint64) nn.Batch { return randomBatch(g, 2, seed) }
	step := 0
	train := func(x nn.Batch, wantStaged bool, what string) {
		t.Helper()
		up, slot, _ := stepCopies(t, h, f, x, step)
		step++
		if wantStaged && (len(up) != 0 || len(slot) != 3) || !wantStaged && (len(up) != 3 || len(slot) != 0) {
			t.Errorf("%s: %d uploads, %d slot copies (want staged %v)", what, len(up), len(slot), wantStaged)
		}
		checkInputs(t, h, f, x, what)
	}
	b1, b2 := b(1), b(2)
	h.Stage(b1)
	train(b2, false, "another batch")
	train(b1, true, "the staged batch, a step later")
	train(b1, false, "the staged batch again, its slot already used")

	b3 := b(3)
	h.Stage(b3)
	for i := range b3[models.SHImage].Data {
		b3[models.SHImage].Data[i] += 1
	}
	train(b3, false, "staged, then changed in place")

	b4 := b(4)
	h.Stage(b4)
	b4x := nn.Batch{}
	for k, v := range b4 {
		b4x[k] = v
	}
	b4x[models.SHMask] = b(5)[models.SHMask]
	train(b4x, false, "one tensor replaced")
	same := nn.Batch{}
	for k, v := range b4 {
		same[k] = v
	}
	train(same, true, "the staged tensors in another map")

	_, mark := f.sm.copies(0)
	h.Stage(randomBatch(g, 3, 6))
	h.Stage(nn.Batch{})
	bad := b(7)
	bad[models.SHTarget] = nn.NewTensor(1)
	h.Stage(bad)
	if cs, _ := f.sm.copies(mark); len(cs) != 0 {
		t.Errorf("batches that do not fit were staged: %+v", cs)
	}
	noFaults(t, f)
}

// Slots alternate, a batch staged twice is copied once.
func TestStageSlotsAlternate(t *testing.T) {
	h, f, g := stagingProgram(t)
	var src []uint64
	for k := 1; k <= 4; k++ {
		x := randomBatch(g, 2, uint64(k))
		_, mark := f.sm.copies(0)
		h.Stage(x)
		h.Stage(x)
		cs, _ := f.sm.copies(mark)
		if len(cs) != 3 {
			t.Errorf("batch %d staged twice: %d uploads, want 3", k, len(cs))
		}
		_, slot, _ := stepCopies(t, h, f, x, k)
		if len(slot) != 3 {
			t.Fatalf("batch %d: %d slot copies", k, len(slot))
		}
		src = append(src, slot[0].src)
		checkInputs(t, h, f, x, "alternating")
	}
	st := h.p.stg.Load()
	a, b := st.slots[0].dev[0], st.slots[1].dev[0]
	if src[0] != a || src[1] != b || src[2] != a || src[3] != b {
		t.Errorf("slot sources %#x, want slot 0 (%#x) and 1 (%#x) in turn", src, a, b)
	}
	noFaults(t, f)
}

// Stage waits for a slot a step still reads instead of overwriting it
// (the stream model would report the overwrite).
func TestStageWaitsForSlotInUse(t *testing.T) {
	h, f, g := stagingProgram(t)
	p := h.p
	b1, b2, b3 := randomBatch(g, 2, 1), randomBatch(g, 2, 2), randomBatch(g, 2, 3)
	h.Stage(b1) // slot 0
	st := p.stg.Load()
	var sl *stageSlot
	if err := p.d.do(func() error {
		if sl = st.take(b1); sl != st.slots[0] {
			return fmt.Errorf("took %p, want slot 0", sl)
		}
		return st.use(sl, p) // the compute stream now reads slot 0
	}); err != nil {
		t.Fatal(err)
	}
	h.Stage(b2) // slot 1: free, returns at once
	done := make(chan struct{})
	go func() { h.Stage(b3); close(done) }() // slot 0 again
	select {
	case <-done:
		t.Fatal("Stage overwrote a slot in use")
	case <-time.After(100 * time.Millisecond):
	}
	p.d.do(func() error { st.release(sl, p.d.sync()); return nil })
	<-done
	if got, _ := f.sm.holds(st.slots[0].dev[0]); got != tensorHash(b3[p.allInputs()[0]]) {
		t.Error("slot 0 does not hold the third batch")
	}
	_, slot, _ := stepCopies(t, h, f, b3, 1)
	if len(slot) != 3 || slot[0].src != st.slots[0].dev[0] {
		t.Errorf("the third batch did not come from slot 0: %+v", slot)
	}
	checkInputs(t, h, f, b3, "after the wait")
	noFaults(t, f)
}

// Close stops the copy worker and frees the stream, events, pinned and
// device memory; Stage after Close does nothing.
func TestStageCloseFreesEverything(t *testing.T) {
	h, f, g := stagingProgram(t)
	b1, b2 := randomBatch(g, 2, 1), randomBatch(g, 2, 2)
	h.Stage(b1)
	if _, err := h.TrainStep(b1, 0, 1e-3); err != nil {
		t.Fatal(err)
	}
	h.Stage(b2) // staged, never trained on
	st := h.p.stg.Load()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.done:
	default:
		t.Error("the copy worker still runs after Close")
	}
	f.sm.mu.Lock()
	live, pinned := len(f.sm.streams), len(f.sm.pinned)
	f.sm.mu.Unlock()
	if live != 0 || pinned != 0 {
		t.Errorf("after Close: %d streams or events and %d pinned buffers left", live, pinned)
	}
	if len(f.allocs) != 1 {
		t.Errorf("%d device allocations left after Close, want the cuBLAS workspace only", len(f.allocs))
	}
	_, mark := f.sm.copies(0)
	h.Stage(randomBatch(g, 2, 3))
	if cs, _ := f.sm.copies(mark); len(cs) != 0 {
		t.Errorf("Stage after Close copied: %+v", cs)
	}
	noFaults(t, f)
}

// POSELAB_CUDA_STAGE=0: Stage does nothing, every step uploads.
func TestStageOffSwitch(t *testing.T) {
	t.Setenv("POSELAB_CUDA_STAGE", "0")
	h, f, g := stagingProgram(t)
	b1 := randomBatch(g, 2, 1)
	h.Stage(b1)
	up, slot, _ := stepCopies(t, h, f, b1, 0)
	if h.p.stg.Load() != nil || len(up) != 3 || len(slot) != 0 {
		t.Errorf("staging off: stager %v, %d uploads, %d slot copies", h.p.stg.Load() != nil, len(up), len(slot))
	}
	f.sm.mu.Lock()
	live := len(f.sm.streams)
	f.sm.mu.Unlock()
	if live != 0 {
		t.Errorf("%d streams or events made with staging off", live)
	}
	if !strings.Contains(Info(h), "input staging: off") {
		t.Errorf("Info:\n%s", Info(h))
	}
	checkInputs(t, h, f, b1, "staging off")
}

// Stage from other goroutines while steps train, as the engine does and
// at random (run with -race): every step trains on its own batch.
func TestStageAlongsideTraining(t *testing.T) {
	h, f, g := stagingProgram(t)
	const steps = 12
	batches := make([]nn.Batch, steps)
	for i := range batches {
		batches[i] = randomBatch(g, 2, uint64(10+i))
	}
	for k := 0; k < steps; k++ {
		var wg sync.WaitGroup
		if k+1 < steps {
			wg.Add(1)
			go func() { defer wg.Done(); h.Stage(batches[k+1]) }()
		}
		if _, err := h.TrainStep(batches[k], k, 1e-3); err != nil {
			t.Fatal(err)
		}
		checkInputs(t, h, f, batches[k], "engine pattern")
		wg.Wait()
	}
	if used := h.p.stg.Load().used; used != steps-1 {
		t.Errorf("%d of %d steps staged", used, steps-1)
	}

	// At random: a stager and the trainer pick batches from a pool.
	pool := batches[:4]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
					h.Stage(pool[rng.IntN(len(pool))])
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for k := 0; k < 60; k++ {
		x := pool[rng.IntN(len(pool))]
		if _, err := h.TrainStep(x, steps+k, 1e-3); err != nil {
			t.Fatal(err)
		}
		checkInputs(t, h, f, x, "random")
	}
	// Close while the stagers still run.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	noFaults(t, f)
}

// The engine may stage the next batch before the step it overlaps has
// started: both batches are then in slots, and both are used.
func TestStageTwoAhead(t *testing.T) {
	h, f, g := stagingProgram(t)
	b1, b2 := randomBatch(g, 2, 1), randomBatch(g, 2, 2)
	h.Stage(b1)
	h.Stage(b2)
	for k, x := range []nn.Batch{b1, b2} {
		if up, slot, _ := stepCopies(t, h, f, x, k); len(up) != 0 || len(slot) != 3 {
			t.Errorf("batch %d: %d uploads, %d slot copies; want 0 and 3", k+1, len(up), len(slot))
		}
		checkInputs(t, h, f, x, "two ahead")
	}
	noFaults(t, f)
}

// A stager that cannot be made (the device out of memory, the copy
// thread without a context) leaves nothing behind and turns staging off;
// training uploads as before.
func TestStageSetupFailureTurnsStagingOff(t *testing.T) {
	cases := []struct {
		name, why string
		tries     int // calls of the failing entry point: a failed set-up is not retried
		inject    func(drv *cu.Driver, calls *int)
	}{
		{"out of memory", "cuMemAlloc", 4, func(drv *cu.Driver, calls *int) {
			alloc := drv.MemAlloc
			drv.MemAlloc = func(p *uint64, bytes uint64) cu.Result {
				if *calls++; *calls == 4 { // slot 1's first buffer
					return 2 // CUDA_ERROR_OUT_OF_MEMORY
				}
				return alloc(p, bytes)
			}
		}},
		{"no context", "cuCtxSetCurrent", 1, func(drv *cu.Driver, calls *int) {
			drv.CtxSetCurrent = func(uintptr) cu.Result { *calls++; return 201 } // CUDA_ERROR_INVALID_CONTEXT
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, f, g := stagingProgram(t)
			f.sm.mu.Lock()
			pinnedBefore := len(f.sm.pinned)
			f.sm.mu.Unlock()
			allocsBefore := len(f.allocs)
			calls := 0
			c.inject(h.p.d.drv, &calls)
			b1 := randomBatch(g, 2, 1)
			h.Stage(b1)
			h.Stage(b1)
			if calls != c.tries {
				t.Errorf("%d calls of the failing entry point, want %d", calls, c.tries)
			}
			up, slot, _ := stepCopies(t, h, f, b1, 0)
			if h.p.stg.Load() != nil || len(up) != 3 || len(slot) != 0 {
				t.Errorf("after a failed set-up: stager %v, %d uploads, %d slot copies", h.p.stg.Load() != nil, len(up), len(slot))
			}
			checkInputs(t, h, f, b1, "staging failed")
			f.sm.mu.Lock()
			live, pinned := len(f.sm.streams), len(f.sm.pinned)
			f.sm.mu.Unlock()
			if live != 0 || pinned != pinnedBefore || len(f.allocs) != allocsBefore {
				t.Errorf("a failed set-up left %d streams or events, %d pinned buffers (had %d), %d allocations (had %d)",
					live, pinned, pinnedBefore, len(f.allocs), allocsBefore)
			}
			if info := Info(h); !strings.Contains(info, "input staging: off (cuda: "+c.why) {
				t.Errorf("Info does not say why staging is off:\n%s", info)
			}
			noFaults(t, f)
		})
	}
}

// A copy that fails on the copy stream turns staging off for good: the
// batch, and every later one, is uploaded; Close still frees everything.
func TestStageCopyFailureFallsBack(t *testing.T) {
	h, f, g := stagingProgram(t)
	b1, b2, b3 := randomBatch(g, 2, 1), randomBatch(g, 2, 2), randomBatch(g, 2, 3)
	h.Stage(b1)
	if _, err := h.TrainStep(b1, 0, 1e-3); err != nil {
		t.Fatal(err)
	}
	drv := h.p.d.drv
	htod := drv.MemcpyHtoDAsync
	drv.MemcpyHtoDAsync = func(dst uint64, src unsafe.Pointer, n uint64, s uintptr) cu.Result {
		if s != 0 {
			return 700 // CUDA_ERROR_ILLEGAL_ADDRESS
		}
		return htod(dst, src, n, s)
	}
	h.Stage(b2)
	h.Stage(b3)
	for k, x := range []nn.Batch{b2, b3} {
		if up, slot, _ := stepCopies(t, h, f, x, k+1); len(up) != 3 || len(slot) != 0 {
			t.Errorf("batch %d after a failed copy: %d uploads, %d slot copies; want 3 and 0", k+2, len(up), len(slot))
		}
		checkInputs(t, h, f, x, "after a failed copy")
	}
	if info := Info(h); !strings.Contains(info, "off after an error: cuda: stage") {
		t.Errorf("Info:\n%s", info)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	f.sm.mu.Lock()
	live, pinned := len(f.sm.streams), len(f.sm.pinned)
	f.sm.mu.Unlock()
	if live != 0 || pinned != 0 || len(f.allocs) != 1 {
		t.Errorf("after Close: %d streams or events, %d pinned buffers, %d allocations", live, pinned, len(f.allocs))
	}
	noFaults(t, f)
}
