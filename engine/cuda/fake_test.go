package cuda

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"poselab/engine/cuda/cu"
	"poselab/models"
	"poselab/nn"
)

// A fake GPU: the driver, cuBLAS and cuDNN entry points are Go functions
// that check their arguments against the memory they handed out and the
// descriptors they were given. It runs the whole Go side of the backend
// (plan, launches, matrix products, convolutions, graph capture) on a
// machine without a GPU.
type fakeGPU struct {
	t       *testing.T
	allocs  map[uint64]uint64
	next    uint64
	host    [][]byte
	tensors map[uintptr][4]int
	filters map[uintptr][4]int
	convs   map[uintptr][4]int // pad, stride
	nextH   uintptr
	sigs    map[string][]string
	calls   map[string]int
	errs    []string
	// log, when set, records every device memory access (memtrace_test.go).
	log *accessLog
	sm  *streamModel // streams, events and copies (fake_stream_test.go)
	// algos, when set, is what a cuDNN search finds for a primitive on the
	// cx and cy shapes (fastest first); else one algorithm with a 1 KiB
	// workspace.
	algos func(what string, cx, cy [4]int) []cu.AlgoPerf
}

func (f *fakeGPU) fail(format string, a ...any) {
	if len(f.errs) < 20 {
		f.errs = append(f.errs, fmt.Sprintf(format, a...))
	}
}

// inside reports whether [p, p+bytes) lies in one allocation.
func (f *fakeGPU) inside(p, bytes uint64) bool {
	for base, size := range f.allocs {
		if p >= base && p+bytes <= base+size {
			return true
		}
	}
	return false
}

func (f *fakeGPU) span(what string, p uint64, bytes uint64) {
	if p == 0 || !f.inside(p, bytes) {
		f.fail("%s: [%#x, +%d) is outside every allocation", what, p, bytes)
	}
}

// kernelSigs parses each kernel's parameter kinds from the source.
func kernelSigs() map[string][]string {
	sigs := map[string][]string{}
	re := regexp.MustCompile(`__global__ void (\w+)\(([^)]*)\)`)
	for _, m := range re.FindAllStringSubmatch(kernelSource, -1) {
		var kinds []string
		for _, p := range strings.Split(m[2], ",") {
			p = strings.TrimSpace(p)
			switch {
			case strings.Contains(p, "*"):
				kinds = append(kinds, "ptr")
			case strings.HasPrefix(p, "i64"):
				kinds = append(kinds, "i64")
			case strings.HasPrefix(p, "u64"):
				kinds = append(kinds, "u64")
			case strings.HasPrefix(p, "int"):
				kinds = append(kinds, "int")
			case strings.HasPrefix(p, "float"):
				kinds = append(kinds, "float")
			case strings.HasPrefix(p, "double"):
				kinds = append(kinds, "double")
			default:
				kinds = append(kinds, "?"+p)
			}
		}
		sigs[m[1]] = kinds
	}
	return sigs
}

// nullable lists the pointer parameters a kernel accepts as 0.
var nullable = map[string]map[int]bool{
	"bn_train_back":  {2: true, 6: true},
	"bn_back_reduce": {2: true},
	"bn_back_apply":  {2: true, 7: true},
	"loss_terms":     {2: true, 3: true},
	"bn_train":       {15: true},
	"bn_apply":       {18: true},
	"bn_eval":        {11: true},
	"add_fwd":        {4: true, 5: true},
	"add_relu_fwd":   {4: true, 5: true},
}

// argKind is the kernel parameter kind a launch argument's Go type fills.
func argKind(a any) string {
	switch a.(type) {
	case uint64:
		return "ptr"
	case int, i32:
		return "int"
	case i64:
		return "i64"
	case u64:
		return "u64"
	case f32:
		return "float"
	case f64:
		return "double"
	}
	return fmt.Sprintf("%T", a)
}

// checkArgs checks a launch's arguments against the kernel's parameter
// kinds as the source declares them (sigs from kernelSigs).
func checkArgs(sigs map[string][]string, name string, args []any) error {
	sig, found := sigs[name]
	if !found {
		return fmt.Errorf("no such kernel in the source")
	}
	if len(sig) != len(args) {
		return fmt.Errorf("%d arguments, the kernel takes %d", len(args), len(sig))
	}
	for i, a := range args {
		if k := argKind(a); k != sig[i] {
			return fmt.Errorf("argument %d is %T, the kernel wants %s", i, a, sig[i])
		}
	}
	return nil
}

func newFakeDevice(t *testing.T) (*device, *fakeGPU) {
	f := &fakeGPU{t: t, allocs: map[uint64]uint64{}, next: 1 << 20, tensors: map[uintptr][4]int{}, filters: map[uintptr][4]int{},
		convs: map[uintptr][4]int{}, nextH: 100, sigs: kernelSigs(), calls: map[string]int{}}
	ok := cu.Result(0)
	drv := &cu.Driver{
		MemGetInfo: func(free, total *uint64) cu.Result { *free, *total = 80<<30, 80<<30; return ok },
		MemAlloc: func(p *uint64, bytes uint64) cu.Result {
			*p = f.next
			f.allocs[f.next] = bytes
			f.next += (bytes + 4095) / 4096 * 4096
			return ok
		},
		MemFree: func(p uint64) cu.Result {
			if _, found := f.allocs[p]; !found {
				f.fail("free of %#x, never allocated", p)
			}
			delete(f.allocs, p)
			return ok
		},
		MemsetD32Async: func(p uint64, v uint32, n uint64, s uintptr) cu.Result {
			f.span("memset", p, n*4)
			f.log.add("memset", access{p: p, bytes: n * 4, write: true})
			return ok
		},
		MemAllocHost: func(p *unsafe.Pointer, bytes uint64) cu.Result {
			b := make([]byte, bytes+8)
			f.host = append(f.host, b)
			*p = unsafe.Pointer(&b[0])
			return ok
		},
		MemFreeHost: func(p unsafe.Pointer) cu.Result { return ok },
		MemcpyHtoDAsync: func(dst uint64, src unsafe.Pointer, n uint64, s uintptr) cu.Result {
			f.span("upload", dst, n)
			f.log.add("upload", access{p: dst, bytes: n, write: true})
			return ok
		},
		MemcpyDtoHAsync: func(dst unsafe.Pointer, src uint64, n uint64, s uintptr) cu.Result {
			f.span("download", src, n)
			f.log.add("download", access{p: src, bytes: n})
			*(*float64)(dst) = 0.5
			return ok
		},
		MemcpyDtoH: func(dst unsafe.Pointer, src uint64, n uint64) cu.Result {
			f.span("download", src, n)
			f.log.add("download", access{p: src, bytes: n})
			return ok
		},
		StreamSynchronize:  func(s uintptr) cu.Result { return ok },
		StreamBeginCapture: func(s uintptr, mode int32) cu.Result { f.calls["capture"]++; return ok },
		StreamEndCapture:   func(s uintptr, g *uintptr) cu.Result { *g = 7; return ok },
		GraphInstantiate:   func(e *uintptr, g uintptr, fl uint64) cu.Result { *e = 8; return ok },
		GraphLaunch:        func(e, s uintptr) cu.Result { f.calls["graph launch"]++; return ok },
		GraphExecDestroy:   func(e uintptr) cu.Result { return ok },
		GraphDestroy:       func(g uintptr) cu.Result { return ok },
		GetErrorName:       func(r cu.Result, s **byte) cu.Result { return ok },
		GetErrorString:     func(r cu.Result, s **byte) cu.Result { return ok },
		LaunchKernel: func(fn uintptr, gx, gy, gz, bx, by, bz, sh uint32, s uintptr, params, extra unsafe.Pointer) cu.Result {
			if gx == 0 || gy == 0 || gy > 65535 || gz != 1 || bx == 0 || bx > 1024 || bx%32 != 0 || by != 1 || bz != 1 {
				f.fail("launch with grid (%d,%d,%d) block (%d,%d,%d)", gx, gy, gz, bx, by, bz)
			}
			return ok
		},
	}
	f.sm = newStreamModel()
	f.sm.install(drv)
	gemm := func(h uintptr, ta, tb int32, m, n, k int32, alpha *float32, a uint64, lda int32, b uint64, ldb int32,
		beta *float32, c uint64, ldc int32) int32 {
		f.calls["sgemm"]++
		acols, bcols := k, n
		if ta == cu.OpT {
			acols = m
		}
		if tb == cu.OpT {
			bcols = k
		}
		arows, brows := m, k
		if ta == cu.OpT {
			arows = k
		}
		if tb == cu.OpT {
			brows = n
		}
		if lda < arows || ldb < brows || ldc < m || m < 1 || n < 1 || k < 1 {
			f.fail("sgemm m %d n %d k %d lda %d ldb %d ldc %d", m, n, k, lda, ldb, ldc)
		}
		f.span("sgemm A", a, uint64(lda)*uint64(acols)*4)
		f.span("sgemm B", b, uint64(ldb)*uint64(bcols)*4)
		f.span("sgemm C", c, uint64(ldc)*uint64(n)*4)
		f.log.add("sgemm", access{p: a, bytes: uint64(lda) * uint64(acols) * 4}, access{p: b, bytes: uint64(ldb) * uint64(bcols) * 4},
			access{p: c, bytes: uint64(ldc) * uint64(n) * 4, write: true, rmw: *beta != 0})
		return 0
	}
	blas := &cu.Blas{SetMathMode: func(h uintptr, m int32) int32 { return 0 }, Sgemm: gemm, StatusString: func(int32) string { return "" }}
	newH := func(d *uintptr) int32 { f.nextH++; *d = f.nextH; return 0 }
	elems := func(d [4]int) uint64 { return uint64(d[0] * d[1] * d[2] * d[3]) }
	// conv checks cx -> cy is a valid forward convolution of the filter.
	conv := func(what string, cx, w, cd, cy uintptr, px, pw, pc, py uint64) {
		f.calls[what]++
		x, y, fl, c := f.tensors[cx], f.tensors[cy], f.filters[w], f.convs[cd]
		pad, st := c[0], c[1]
		oh, ow := (x[2]+2*pad-fl[2])/st+1, (x[3]+2*pad-fl[3])/st+1
		if x[1] != fl[1] || y[1] != fl[0] || y[0] != x[0] || y[2] != oh || y[3] != ow {
			f.fail("%s: x %v filter %v pad %d stride %d gives [%d %d %d %d], y is %v", what, x, fl, pad, st, x[0], fl[0], oh, ow, y)
		}
		f.span(what+" x", px, elems(x)*4)
		f.span(what+" y", py, elems(y)*4)
		f.span(what+" w", pw, elems(fl)*4)
		if pc != 0 {
			f.span(what+" workspace", pc, 1)
		}
	}
	find := func(what string, cx, cy uintptr, req int32, ret *int32, perf *cu.AlgoPerf) int32 {
		if f.algos == nil {
			*ret = 1
			*perf = cu.AlgoPerf{Algo: 1, Memory: 1024}
			return 0
		}
		list := f.algos(what, f.tensors[cx], f.tensors[cy])
		n := copy(unsafe.Slice(perf, req), list)
		*ret = int32(n)
		return 0
	}
	dnn := &cu.Dnn{
		ErrorString:            func(int32) string { return "" },
		CreateTensorDescriptor: newH, CreateFilterDescriptor: newH, CreateConvDescriptor: newH,
		SetTensor4d: func(d uintptr, fm, dt, n, c, h, w int32) int32 {
			f.tensors[d] = [4]int{int(n), int(c), int(h), int(w)}
			return 0
		},
		SetFilter4d: func(d uintptr, dt, fm, k, c, h, w int32) int32 {
			f.filters[d] = [4]int{int(k), int(c), int(h), int(w)}
			return 0
		},
		SetConv2d: func(d uintptr, ph, pw, u, v, dh, dw, mode, ct int32) int32 {
			if ph != pw || u != v || dh != 1 || dw != 1 || mode != cu.DnnCrossCorr {
				f.fail("conv descriptor pad %d,%d stride %d,%d dilation %d,%d mode %d", ph, pw, u, v, dh, dw, mode)
			}
			f.convs[d] = [4]int{int(ph), int(u)}
			return 0
		},
		SetConvMathType:   func(d uintptr, m int32) int32 { return 0 },
		DestroyTensorDesc: func(uintptr) int32 { return 0 }, DestroyFilterDesc: func(uintptr) int32 { return 0 },
		DestroyConvDesc: func(uintptr) int32 { return 0 },
		FindFwd: func(h, xD uintptr, x uint64, wD uintptr, w uint64, cD, yD uintptr, y uint64, req int32, ret *int32, perf *cu.AlgoPerf, ws uint64, wsb uint64) int32 {
			conv("find forward", xD, wD, cD, yD, x, w, ws, y)
			return find("forward", xD, yD, req, ret, perf)
		},
		FindBwdData: func(h, wD uintptr, w uint64, dyD uintptr, dy uint64, cD, dxD uintptr, dx uint64, req int32, ret *int32, perf *cu.AlgoPerf, ws uint64, wsb uint64) int32 {
			conv("find backward data", dxD, wD, cD, dyD, dx, w, ws, dy)
			return find("backward-data", dxD, dyD, req, ret, perf)
		},
		FindBwdFilter: func(h, xD uintptr, x uint64, dyD uintptr, dy uint64, cD, dwD uintptr, dw uint64, req int32, ret *int32, perf *cu.AlgoPerf, ws uint64, wsb uint64) int32 {
			conv("find backward filter", xD, dwD, cD, dyD, x, dw, ws, dy)
			return find("backward-filter", xD, dyD, req, ret, perf)
		},
		Forward: func(h uintptr, a *float32, xD uintptr, x uint64, wD uintptr, w uint64, cD uintptr, algo int32, ws uint64, wsb uint64, b *float32, yD uintptr, y uint64) int32 {
			conv("forward", xD, wD, cD, yD, x, w, ws, y)
			f.log.add("conv forward", access{p: x, bytes: elems(f.tensors[xD]) * 4}, access{p: w, bytes: elems(f.filters[wD]) * 4},
				access{p: ws, bytes: wsb, write: true}, access{p: y, bytes: elems(f.tensors[yD]) * 4, write: true, rmw: *b != 0})
			return 0
		},
		BackwardData: func(h uintptr, a *float32, wD uintptr, w uint64, dyD uintptr, dy uint64, cD uintptr, algo int32, ws uint64, wsb uint64, b *float32, dxD uintptr, dx uint64) int32 {
			conv("backward data", dxD, wD, cD, dyD, dx, w, ws, dy)
			f.log.add("conv backward data", access{p: w, bytes: elems(f.filters[wD]) * 4}, access{p: dy, bytes: elems(f.tensors[dyD]) * 4},
				access{p: ws, bytes: wsb, write: true}, access{p: dx, bytes: elems(f.tensors[dxD]) * 4, write: true, rmw: *b != 0})
			return 0
		},
		BackwardFilter: func(h uintptr, a *float32, xD uintptr, x uint64, dyD uintptr, dy uint64, cD uintptr, algo int32, ws uint64, wsb uint64, b *float32, dwD uintptr, dw uint64) int32 {
			conv("backward filter", xD, dwD, cD, dyD, x, dw, ws, dy)
			f.log.add("conv backward filter", access{p: x, bytes: elems(f.tensors[xD]) * 4}, access{p: dy, bytes: elems(f.tensors[dyD]) * 4},
				access{p: ws, bytes: wsb, write: true}, access{p: dw, bytes: elems(f.filters[dwD]) * 4, write: true, rmw: *b != 0})
			return 0
		},
	}
	d := &device{drv: drv, blas: blas, dnn: dnn, sms: 132, name: "fake", fn: map[string]uintptr{}, work: make(chan func())}
	for _, k := range kernelNames {
		d.fn[k] = 1
	}
	blasWS := uint64(0)
	drv.MemAlloc(&blasWS, 1<<20)
	d.check = func(name string, args []any) error {
		f.calls["kernel "+name]++
		if err := checkArgs(f.sigs, name, args); err != nil {
			return err
		}
		for i, a := range args {
			if v, isPtr := a.(uint64); isPtr {
				if v == 0 {
					if !nullable[name][i] {
						f.fail("%s: argument %d is a null pointer", name, i)
					}
				} else if !f.inside(v, 4) {
					f.fail("%s: argument %d (%#x) points outside every allocation", name, i, v)
				}
			}
		}
		f.log.addKernel(name, args)
		return nil
	}
	go func() {
		for fn := range d.work {
			fn()
		}
	}()
	return d, f
}

// Every model and parity case runs through the whole program on the fake
// GPU: compile, a captured training step, eager gradients, predict, loss,
// state round trip, close.
func TestProgramOnFakeGPU(t *testing.T) {
	graphs := map[string]func() *nn.Graph{}
	for _, c := range parityCases() {
		c := c
		graphs[c.name] = func() *nn.Graph { b := nn.NewBuilder(); c.build(b); return b.Build() }
	}
	graphs["sb"] = func() *nn.Graph { return models.SB(models.DefaultSB) }
	graphs["sh-seed"] = func() *nn.Graph { g, _ := models.BuildSH(models.SHPresets["seed"]); return g }
	graphs["ir-tiny"] = func() *nn.Graph { c, _ := models.IRPreset("tiny"); g, _ := models.IR(c); return g }
	graphs["sh-test-zerograd"] = func() *nn.Graph { g, _ := models.BuildSH(models.SHPresets["test"]); return g }
	graphs["sh-test-bnlegacy"] = func() *nn.Graph { g, _ := models.BuildSH(models.SHPresets["test"]); return g }
	for name, mk := range graphs {
		t.Run(name, func(t *testing.T) {
			if strings.HasSuffix(name, "-zerograd") {
				t.Setenv("POSELAB_CUDA_ZEROGRAD", "1")
			}
			legacy := strings.HasSuffix(name, "-bnlegacy")
			if legacy {
				t.Setenv("POSELAB_CUDA_BN", "legacy")
			}
			d, f := newFakeDevice(t)
			defer close(d.work)
			g := mk()
			B := 2
			be := &backend{d: d}
			pr, err := be.Compile(g, nn.Options{Batch: B, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			batch := randomBatch(g, B, 1)
			if _, err := pr.TrainStep(batch, 0, 1e-3); err != nil {
				t.Fatal(err)
			}
			if _, err := pr.TrainStep(batch, 1, 1e-3); err != nil {
				t.Fatal(err)
			}
			if f.calls["capture"] != 1 || f.calls["graph launch"] != 2 {
				t.Errorf("captured %d times, launched the graph %d times; want 1 and 2", f.calls["capture"], f.calls["graph launch"])
			}
			_, grads, err := pr.Gradients(batch, 2)
			if err != nil {
				t.Fatal(err)
			}
			nparams := 0
			for _, ps := range g.Params {
				if !ps.Buffer {
					nparams++
				}
			}
			if len(grads) != nparams {
				t.Errorf("%d gradients for %d parameters", len(grads), nparams)
			}
			if _, err := pr.Predict(batch); err != nil {
				t.Fatal(err)
			}
			h := pr.(*handle)
			if d := h.Describe(); !strings.Contains(d, "training step: CUDA graph; ") || !strings.Contains(d, "; memory: ") ||
				strings.Contains(d, "\n") {
				t.Errorf("Describe: %q", d)
			}
			if err := h.p.d.do(func() error {
				prof, err := h.p.profileStep(batch)
				if err == nil && len(prof) == 0 {
					err = fmt.Errorf("empty profile")
				}
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := pr.Loss(batch); err != nil {
				t.Fatal(err)
			}
			st, err := pr.State()
			if err != nil {
				t.Fatal(err)
			}
			if err := pr.SetState(st); err != nil {
				t.Fatal(err)
			}
			if _, err := pr.TrainStep(nn.Batch{}, 0, 1e-3); err == nil {
				t.Error("a batch without inputs was accepted")
			}
			if err := pr.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := pr.Predict(batch); err == nil {
				t.Error("Predict after Close succeeded")
			}
			t.Logf("calls: %v", f.calls)
			// The BatchNorm switch picks one kernel family or the other.
			hasBN := false
			for _, n := range g.Nodes {
				hasBN = hasBN || n.Op == nn.OpBatchNorm
			}
			if hasBN {
				old, multi := f.calls["kernel bn_train"]+f.calls["kernel bn_train_back"], f.calls["kernel bn_stats"]+f.calls["kernel bn_back_apply"]
				if (legacy && (old == 0 || multi != 0)) || (!legacy && (old != 0 || multi == 0)) {
					t.Errorf("POSELAB_CUDA_BN legacy=%v: %d legacy and %d multi-block BatchNorm launches", legacy, old, multi)
				}
			}
			for _, e := range f.errs {
				t.Error(e)
			}
			if len(f.allocs) != 1 { // only the cuBLAS workspace is left
				t.Errorf("%d device allocations left after Close", len(f.allocs))
			}
		})
	}
}

// Bad input gets a clear error and changes nothing.
func TestProgramErrorsOnFakeGPU(t *testing.T) {
	d, _ := newFakeDevice(t)
	defer close(d.work)
	be := &backend{d: d}
	g := models.SB(models.SBPresets["tiny"])
	if _, err := be.Compile(g, nn.Options{Batch: 0}); err == nil || !strings.Contains(err.Error(), "batch size 0") {
		t.Fatalf("batch 0: %v", err)
	}
	pr, err := be.Compile(g, nn.Options{Batch: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	good := randomBatch(g, 4, 1)
	bad := randomBatch(g, 5, 1)
	cases := []struct {
		what string
		err  error
		want string
	}{
		{"wrong batch", func() error { _, err := pr.TrainStep(bad, 0, 1e-3); return err }(), "compiled for batch 4"},
		{"NaN lr", func() error { _, err := pr.TrainStep(good, 0, math.NaN()); return err }(), "learning rate"},
		{"negative step", func() error { _, _, err := pr.Gradients(good, -1); return err }(), "negative step"},
		{"missing input", func() error { _, err := pr.Predict(nn.Batch{}); return err }(), "no input"},
		{"ragged tensor", func() error {
			b := randomBatch(g, 4, 1)
			b[models.SBInput].Data = b[models.SBInput].Data[:3]
			_, err := pr.Loss(b)
			return err
		}(), "holds 3 values"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.what, c.err, c.want)
		}
	}
	st, err := pr.State()
	if err != nil {
		t.Fatal(err)
	}
	if st.AdamStep != 0 {
		t.Errorf("failed steps advanced Adam to %d", st.AdamStep)
	}
	for _, mutate := range []func(s *nn.State){
		func(s *nn.State) { s.Params["input.linear.weight"] = nn.NewTensor(1, 1) },
		func(s *nn.State) { s.Params["input.linear.bias"].Data[0] = float32(math.Inf(1)) },
		func(s *nn.State) { delete(s.Buffers, "input.bn.running_var") },
		func(s *nn.State) { s.AdamStep = -1 },
	} {
		s, _ := pr.State()
		if s.Params["input.linear.weight"] == nil || s.Buffers["input.bn.running_var"] == nil {
			t.Fatal("SB parameter names changed; update this test")
		}
		mutate(s)
		if err := pr.SetState(s); err == nil {
			t.Errorf("a broken state was accepted")
		}
	}
}

// Details (poselab devices) names the GPU, the kernel family, TF32 and the
// free memory, and says why when the multi-block kernels did not compile.
func TestDetailsOnFakeGPU(t *testing.T) {
	d, _ := newFakeDevice(t)
	defer close(d.work)
	d.rtc, d.arch = &cu.Nvrtc{}, "sm_90"
	got := (&backend{d: d}).Details()
	for _, want := range []string{"fake (sm_90", "multi-block BatchNorm and soft-argmax kernels", "TF32 available", "memory 80.0 GiB free of 80.0 GiB"} {
		if !strings.Contains(got, want) {
			t.Errorf("Details lacks %q:\n%s", want, got)
		}
	}
	d.arch, d.multiblockErr = "sm_75", errors.New("nvrtc: error 6")
	got = (&backend{d: d}).Details()
	for _, want := range []string{"one-block-per-channel", "did not compile: nvrtc: error 6", "no TF32"} {
		if !strings.Contains(got, want) {
			t.Errorf("Details lacks %q:\n%s", want, got)
		}
	}
}
