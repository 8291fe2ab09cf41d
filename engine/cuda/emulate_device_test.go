package cuda

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"sync"
	"testing"
	"unsafe"

	"poselab/engine/cuda/cu"
)

// An emulated GPU: a *device whose driver, cuBLAS and cuDNN entry points
// forward to the kernel emulator running in interactive mode
// (testdata/emulate_serve.h). Device memory is the emulator's arena,
// kernels are kernelSource compiled by g++, matrix products and
// convolutions are plain loops there, so the whole CUDA program (plan,
// memory pooling, launches, graph capture and replay) computes real
// numbers on the CPU. The emulator runs every call in issue order, so
// streams, events and synchronisation are no-ops here; their ordering is
// what fake_stream_test.go checks.

// emuArenaSize is the emulator's address space; it maps pages lazily.
const emuArenaSize = 1 << 30

// emuGPU is the Go side of one emulator process. Its calls come from the
// device goroutine and from a program's staging copy thread; mu keeps
// them whole.
type emuGPU struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	w      *bufio.Writer
	r      *bufio.Reader
	stderr bytes.Buffer
	dead   error

	// Device memory: first fit in the arena, by offset.
	allocs map[uint64]uint64 // address -> bytes
	free   [][2]uint64       // address, bytes; sorted by address

	host [][]byte // pinned host memory (Go memory, kept reachable)

	// cuDNN descriptors, as set.
	tensors, filters map[uintptr][4]int32
	convs            map[uintptr][2]int32 // pad, stride
	nextH            uintptr

	// Graph capture: while a stream is captured, the calls queued on it are
	// recorded, with the values of their arguments, instead of run.
	capturing bool
	capStream uintptr
	rec       []func()
	graphs    map[uintptr][]func()
	execs     map[uintptr][]func()
	calls     map[string]int
	maxGridX  map[string]uint32 // widest grid per kernel
}

// cudaErrorStreamCaptureUnsupported, for calls a capture forbids.
const emuCaptureErr = cu.Result(900)

func (e *emuGPU) put(vs ...any) {
	for _, v := range vs {
		if err := binary.Write(e.w, binary.LittleEndian, v); err != nil {
			e.die(err)
		}
	}
}

// die reports the emulator's failure with its last words; it panics on
// the device goroutine, where device.do turns the panic into an error.
func (e *emuGPU) die(err error) {
	if e.dead == nil {
		e.in.Close()
		e.cmd.Wait()
		e.dead = fmt.Errorf("emulator: %v\n%s", err, e.stderr.String())
	}
	panic(e.dead)
}

// reply flushes the commands and reads n reply bytes into dst.
func (e *emuGPU) reply(dst []byte) {
	if err := e.w.Flush(); err != nil {
		e.die(err)
	}
	if _, err := io.ReadFull(e.r, dst); err != nil {
		e.die(err)
	}
}

// op runs f, queued on stream s, now, or records it while s is being
// captured.
func (e *emuGPU) op(s uintptr, f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dead != nil {
		panic(e.dead)
	}
	if e.capturing && s == e.capStream {
		e.rec = append(e.rec, f)
		return
	}
	f()
}

func (e *emuGPU) malloc(bytes uint64) (uint64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	bytes = uint64(alignUp(int64(max(bytes, 1))))
	for i, f := range e.free {
		if f[1] >= bytes {
			p := f[0]
			if f[1] == bytes {
				e.free = append(e.free[:i], e.free[i+1:]...)
			} else {
				e.free[i] = [2]uint64{p + bytes, f[1] - bytes}
			}
			e.allocs[p] = bytes
			return p, true
		}
	}
	return 0, false
}

func (e *emuGPU) release(p uint64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.allocs[p]
	if !ok {
		return false
	}
	delete(e.allocs, p)
	e.free = append(e.free, [2]uint64{p, n})
	sort.Slice(e.free, func(i, j int) bool { return e.free[i][0] < e.free[j][0] })
	merged := e.free[:1]
	for _, f := range e.free[1:] {
		last := &merged[len(merged)-1]
		if last[0]+last[1] == f[0] {
			last[1] += f[1]
		} else {
			merged = append(merged, f)
		}
	}
	e.free = merged
	return true
}

// poison fills [p, p+bytes) with NaN: fresh device memory holds
// whatever was there before, and freed memory must not be read again, so
// a program that reads either computes NaN. The largest allocations (the
// cuDNN search workspace, which the emulator never reads) are left alone
// to keep the arena's untouched pages unmapped.
func (e *emuGPU) poison(p, bytes uint64) {
	if bytes <= emuPoisonMax {
		e.op(0, func() { e.put(uint32(1), p, uint32(0xFFFFFFFF), bytes/4) })
	}
}

const emuPoisonMax = 64 << 20

func (e *emuGPU) freeBytes() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n uint64
	for _, f := range e.free {
		n += f[1]
	}
	return n
}

// newEmuDevice starts an emulator process and a device on it; the test
// skips without g++. Close the device's work channel when done.
func newEmuDevice(t *testing.T) (*device, *emuGPU) {
	bin := emulator(t)
	e := &emuGPU{allocs: map[uint64]uint64{}, free: [][2]uint64{{emuBase, emuArenaSize}},
		tensors: map[uintptr][4]int32{}, filters: map[uintptr][4]int32{}, convs: map[uintptr][2]int32{}, nextH: 100,
		graphs: map[uintptr][]func(){}, execs: map[uintptr][]func(){}, calls: map[string]int{}, maxGridX: map[string]uint32{}}
	e.cmd = exec.Command(bin, "-i", fmt.Sprint(emuArenaSize))
	e.cmd.Stderr = &e.stderr
	var err error
	if e.in, err = e.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := e.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.w, e.r = bufio.NewWriterSize(e.in, 1<<16), bufio.NewReaderSize(out, 1<<16)
	t.Cleanup(func() {
		if e.dead == nil {
			e.w.Flush()
			e.in.Close()
			if err := e.cmd.Wait(); err != nil {
				t.Errorf("emulator: %v\n%s", err, e.stderr.String())
			}
		}
	})
	ok := cu.Result(0)
	sigs := kernelSigs()
	names := map[uintptr]string{}
	handle := func(h *uintptr) { e.nextH++; *h = e.nextH }
	drv := &cu.Driver{
		MemGetInfo: func(free, total *uint64) cu.Result { *free, *total = e.freeBytes(), emuArenaSize; return ok },
		MemAlloc: func(p *uint64, bytes uint64) cu.Result {
			a, found := e.malloc(bytes)
			if !found {
				return 2 // CUDA_ERROR_OUT_OF_MEMORY
			}
			*p = a
			e.poison(a, bytes)
			return ok
		},
		MemFree: func(p uint64) cu.Result {
			e.mu.Lock()
			n, found := e.allocs[p]
			e.mu.Unlock()
			if !found {
				return 1 // CUDA_ERROR_INVALID_VALUE
			}
			e.poison(p, n)
			e.release(p)
			return ok
		},
		MemAllocHost: func(p *unsafe.Pointer, bytes uint64) cu.Result {
			b := make([]byte, bytes+8)
			e.host = append(e.host, b)
			*p = unsafe.Pointer(&b[0])
			return ok
		},
		MemFreeHost: func(p unsafe.Pointer) cu.Result { return ok },
		MemsetD32Async: func(p uint64, v uint32, n uint64, s uintptr) cu.Result {
			e.op(s, func() { e.put(uint32(1), p, v, n) })
			return ok
		},
		// The host bytes are read when the copy runs: at issue time, or at
		// each replay of a graph that captured it, as on a GPU.
		MemcpyHtoDAsync: func(dst uint64, src unsafe.Pointer, n uint64, s uintptr) cu.Result {
			e.op(s, func() {
				e.put(uint32(2), dst, n)
				if _, err := e.w.Write(unsafe.Slice((*byte)(src), n)); err != nil {
					e.die(err)
				}
			})
			return ok
		},
		MemcpyDtoHAsync: func(dst unsafe.Pointer, src uint64, n uint64, s uintptr) cu.Result {
			e.op(s, func() { e.put(uint32(3), src, n); e.reply(unsafe.Slice((*byte)(dst), n)) })
			return ok
		},
		MemcpyDtoH: func(dst unsafe.Pointer, src uint64, n uint64) cu.Result {
			if e.capturing {
				return emuCaptureErr
			}
			e.op(0, func() { e.put(uint32(3), src, n); e.reply(unsafe.Slice((*byte)(dst), n)) })
			return ok
		},
		MemcpyDtoDAsync: func(dst, src, n uint64, s uintptr) cu.Result {
			e.op(s, func() { e.put(uint32(4), dst, src, n) })
			return ok
		},
		// A synchronisation makes the emulator answer, so that its failure
		// shows at the call that waited for the work.
		StreamSynchronize: func(s uintptr) cu.Result {
			if e.capturing && s == e.capStream {
				return emuCaptureErr
			}
			e.op(s, func() { e.put(uint32(8)); e.reply(make([]byte, 1)) })
			return ok
		},
		StreamCreate:     func(s *uintptr, fl uint32) cu.Result { handle(s); return ok },
		StreamDestroy:    func(s uintptr) cu.Result { return ok },
		EventCreate:      func(ev *uintptr, fl uint32) cu.Result { handle(ev); return ok },
		EventDestroy:     func(ev uintptr) cu.Result { return ok },
		EventRecord:      func(ev, s uintptr) cu.Result { return ok },
		EventSynchronize: func(ev uintptr) cu.Result { return ok },
		StreamWaitEvent:  func(s, ev uintptr, fl uint32) cu.Result { return ok },
		CtxSetCurrent:    func(ctx uintptr) cu.Result { return ok },
		GetErrorName:     func(r cu.Result, s **byte) cu.Result { return ok },
		GetErrorString:   func(r cu.Result, s **byte) cu.Result { return ok },
		StreamBeginCapture: func(s uintptr, mode int32) cu.Result {
			e.calls["capture"]++
			e.mu.Lock()
			e.capturing, e.capStream, e.rec = true, s, nil
			e.mu.Unlock()
			return ok
		},
		StreamEndCapture: func(s uintptr, g *uintptr) cu.Result {
			e.mu.Lock()
			e.capturing = false
			e.mu.Unlock()
			handle(g)
			e.graphs[*g] = e.rec
			e.rec = nil
			return ok
		},
		GraphInstantiate: func(x *uintptr, g uintptr, fl uint64) cu.Result {
			handle(x)
			e.execs[*x] = append([]func(){}, e.graphs[g]...)
			return ok
		},
		GraphLaunch: func(x, s uintptr) cu.Result {
			e.calls["graph launch"]++
			for _, f := range e.execs[x] {
				e.op(s, f)
			}
			return ok
		},
		GraphExecDestroy: func(x uintptr) cu.Result { delete(e.execs, x); return ok },
		GraphDestroy:     func(g uintptr) cu.Result { delete(e.graphs, g); return ok },
		LaunchKernel: func(fn uintptr, gx, gy, gz, bx, by, bz, sh uint32, s uintptr, params, extra unsafe.Pointer) cu.Result {
			name := names[fn]
			if by != 1 || bz != 1 || sh != 0 {
				panic(fmt.Sprintf("%s: block (%d,%d,%d) shared %d: the kernels use 1D blocks and static shared memory", name, bx, by, bz, sh))
			}
			n := len(sigs[name])
			slots := make([]uint64, n) // the values now, as cuLaunchKernel and graph capture copy them
			if n > 0 {
				for i, p := range unsafe.Slice((*unsafe.Pointer)(params), n) {
					slots[i] = *(*uint64)(p)
				}
			}
			e.calls["kernel "+name]++
			e.maxGridX[name] = max(e.maxGridX[name], gx)
			e.op(s, func() {
				e.put(uint32(5), uint32(len(name)), []byte(name), gx, gy, gz, bx, uint32(n))
				if n > 0 {
					e.put(slots)
				}
			})
			return ok
		},
	}
	// cuBLAS and cuDNN queue on the compute stream (device.init sets
	// their handles' streams to it).
	var compute uintptr
	blas := &cu.Blas{
		SetMathMode:  func(h uintptr, m int32) int32 { return 0 },
		StatusString: func(int32) string { return "" },
		// alpha and beta are host pointers: cuBLAS reads them at the call
		// (and a captured graph keeps those values).
		Sgemm: func(h uintptr, ta, tb int32, m, n, k int32, alpha *float32, a uint64, lda int32, b uint64, ldb int32,
			beta *float32, c uint64, ldc int32) int32 {
			e.calls["sgemm"]++
			al, be := *alpha, *beta
			e.op(compute, func() { e.put(uint32(6), ta, tb, m, n, k, lda, ldb, ldc, al, be, a, b, c) })
			return 0
		},
	}
	// conv queues one primitive on the geometry of the forward convolution
	// xD -> yD with filter wD.
	conv := func(kind int32, what string, alpha *float32, xD uintptr, x uint64, wD uintptr, w uint64, cD uintptr,
		yD uintptr, y uint64, ws, wsBytes uint64, beta *float32) int32 {
		e.calls[what]++
		xs, ys, fs, cs := e.tensors[xD], e.tensors[yD], e.filters[wD], e.convs[cD]
		pad, st := cs[0], cs[1]
		oh, ow := (xs[2]+2*pad-fs[2])/st+1, (xs[3]+2*pad-fs[3])/st+1
		if st < 1 || xs[1] != fs[1] || ys[1] != fs[0] || ys[0] != xs[0] || ys[2] != oh || ys[3] != ow {
			panic(fmt.Sprintf("%s: x %v filter %v pad %d stride %d does not give y %v", what, xs, fs, pad, st, ys))
		}
		al, be := *alpha, *beta
		e.op(compute, func() {
			e.put(uint32(7), kind, xs[0], xs[1], xs[2], xs[3], fs[0], fs[2], fs[3], pad, st, ys[2], ys[3], al, be, x, w, y, ws, wsBytes)
		})
		return 0
	}
	// Every search finds one algorithm with a small workspace, different
	// per primitive, so that the plan's workspace pooling has work to do
	// (the emulator fills workspaces with NaN around each primitive).
	find := func(ws uint64) func(ret *int32, perf *cu.AlgoPerf) int32 {
		return func(ret *int32, perf *cu.AlgoPerf) int32 {
			*ret = 1
			*perf = cu.AlgoPerf{Algo: 1, Memory: ws}
			return 0
		}
	}
	findFwd, findData, findFilter := find(1024), find(2048), find(4096)
	dnn := &cu.Dnn{
		ErrorString:            func(int32) string { return "" },
		CreateTensorDescriptor: func(d *uintptr) int32 { handle(d); return 0 },
		CreateFilterDescriptor: func(d *uintptr) int32 { handle(d); return 0 },
		CreateConvDescriptor:   func(d *uintptr) int32 { handle(d); return 0 },
		SetTensor4d: func(d uintptr, fm, dt, n, c, h, w int32) int32 {
			if fm != cu.DnnNCHW || dt != cu.DnnFloat {
				return 3 // CUDNN_STATUS_BAD_PARAM
			}
			e.tensors[d] = [4]int32{n, c, h, w}
			return 0
		},
		SetFilter4d: func(d uintptr, dt, fm, k, c, h, w int32) int32 {
			if fm != cu.DnnNCHW || dt != cu.DnnFloat {
				return 3
			}
			e.filters[d] = [4]int32{k, c, h, w}
			return 0
		},
		SetConv2d: func(d uintptr, ph, pw, u, v, dh, dw, mode, ct int32) int32 {
			if ph != pw || u != v || dh != 1 || dw != 1 || mode != cu.DnnCrossCorr || ct != cu.DnnFloat {
				return 9 // CUDNN_STATUS_NOT_SUPPORTED
			}
			e.convs[d] = [2]int32{ph, u}
			return 0
		},
		SetConvMathType:   func(d uintptr, m int32) int32 { return 0 },
		DestroyTensorDesc: func(uintptr) int32 { return 0 },
		DestroyFilterDesc: func(uintptr) int32 { return 0 },
		DestroyConvDesc:   func(uintptr) int32 { return 0 },
		FindFwd: func(h, xD uintptr, x uint64, wD uintptr, w uint64, cD, yD uintptr, y uint64, req int32, ret *int32, perf *cu.AlgoPerf, ws uint64, wsb uint64) int32 {
			return findFwd(ret, perf)
		},
		FindBwdData: func(h, wD uintptr, w uint64, dyD uintptr, dy uint64, cD, dxD uintptr, dx uint64, req int32, ret *int32, perf *cu.AlgoPerf, ws uint64, wsb uint64) int32 {
			return findData(ret, perf)
		},
		FindBwdFilter: func(h, xD uintptr, x uint64, dyD uintptr, dy uint64, cD, dwD uintptr, dw uint64, req int32, ret *int32, perf *cu.AlgoPerf, ws uint64, wsb uint64) int32 {
			return findFilter(ret, perf)
		},
		Forward: func(h uintptr, a *float32, xD uintptr, x uint64, wD uintptr, w uint64, cD uintptr, algo int32, ws uint64, wsb uint64, b *float32, yD uintptr, y uint64) int32 {
			return conv(0, "conv forward", a, xD, x, wD, w, cD, yD, y, ws, wsb, b)
		},
		BackwardData: func(h uintptr, a *float32, wD uintptr, w uint64, dyD uintptr, dy uint64, cD uintptr, algo int32, ws uint64, wsb uint64, b *float32, dxD uintptr, dx uint64) int32 {
			return conv(1, "conv backward data", a, dxD, dx, wD, w, cD, dyD, dy, ws, wsb, b)
		},
		BackwardFilter: func(h uintptr, a *float32, xD uintptr, x uint64, dyD uintptr, dy uint64, cD uintptr, algo int32, ws uint64, wsb uint64, b *float32, dwD uintptr, dw uint64) int32 {
			return conv(2, "conv backward filter", a, xD, x, dwD, dw, cD, dyD, dy, ws, wsb, b)
		},
	}
	// 8 SMs cap gridFor's grids at 128 blocks, fewer than the larger
	// tensors here need, so the grid-stride loops run several rounds, as
	// they do on a real GPU at training sizes.
	d := &device{drv: drv, blas: blas, dnn: dnn, sms: 8, name: "emulated", arch: "emu", fn: map[string]uintptr{}, work: make(chan func())}
	drv.StreamCreate(&d.stream, cu.StreamNonBlocking)
	compute = d.stream
	for i, k := range kernelNames {
		d.fn[k] = uintptr(i + 1)
		names[uintptr(i+1)] = k
	}
	d.check = func(name string, args []any) error { return checkArgs(sigs, name, args) }
	go func() {
		for fn := range d.work {
			fn()
		}
	}()
	return d, e
}
