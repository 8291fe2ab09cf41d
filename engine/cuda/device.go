package cuda

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"poselab/engine/cuda/cu"
)

// device is the one GPU context of the process. CUDA contexts are bound to
// OS threads, so every call into the driver, cuBLAS and cuDNN runs on one
// goroutine locked to its thread; other goroutines hand it closures.
type device struct {
	drv  *cu.Driver
	blas *cu.Blas
	dnn  *cu.Dnn
	rtc  *cu.Nvrtc

	ord                int32
	ctx, stream        uintptr
	cublas, cudnn      uintptr
	name, arch         string
	sms                int
	totalMem           uint64
	driverVer, blasVer int32
	dnnVer             uint64
	rtcMajor, rtcMinor int32
	mod                uintptr
	fn                 map[string]uintptr
	blasWS             cu.DevicePtr
	blasWSBytes        uint64
	work               chan func()
	algoCache          map[string]primCands // convolution algorithms measured so far
	// multiblockErr is why the multi-block BatchNorm kernels did not
	// compile (nil: they did); programs then use the legacy ones.
	multiblockErr error
	// check, when set (tests without a GPU), sees every launch first.
	check func(name string, args []any) error
}

const blasWorkspaceBytes = 32 << 20

var (
	sharedMu  sync.Mutex
	sharedDev *device
)

// getDevice starts (once per process) the GPU worker on device 0.
func getDevice() (*device, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedDev != nil {
		return sharedDev, nil
	}
	drv, err := cu.LoadDriver()
	if err != nil {
		return nil, fmt.Errorf("%w (no NVIDIA driver on this machine?)", err)
	}
	d := &device{drv: drv, work: make(chan func())}
	errc := make(chan error)
	go d.loop(errc)
	if err := <-errc; err != nil {
		close(d.work)
		return nil, err
	}
	sharedDev = d
	return d, nil
}

// loop is the GPU goroutine: it owns the OS thread the context is current on.
func (d *device) loop(errc chan<- error) {
	runtime.LockOSThread()
	err := d.init()
	errc <- err
	if err != nil {
		return
	}
	for f := range d.work {
		f()
	}
}

// do runs f on the GPU goroutine and waits for it.
func (d *device) do(f func() error) error {
	var err error
	done := make(chan struct{})
	d.work <- func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("cuda: panic on the GPU thread: %v", r)
			}
		}()
		err = f()
	}
	<-done
	return err
}

func (d *device) init() error {
	c := d.drv
	if err := c.Check("cuInit", c.Init(0)); err != nil {
		return err
	}
	c.DriverGetVersion(&d.driverVer)
	var n int32
	if err := c.Check("cuDeviceGetCount", c.DeviceGetCount(&n)); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("cuda: the driver (%s, version %s) sees no GPU", c.Path, verString(int64(d.driverVer)))
	}
	if err := c.Check("cuDeviceGet", c.DeviceGet(&d.ord, 0)); err != nil {
		return err
	}
	name := make([]byte, 256)
	c.DeviceGetName(&name[0], int32(len(name)), d.ord)
	d.name = cu.GoString(&name[0])
	var major, minor, sms int32
	c.DeviceGetAttribute(&major, cu.AttrComputeMajor, d.ord)
	c.DeviceGetAttribute(&minor, cu.AttrComputeMinor, d.ord)
	c.DeviceGetAttribute(&sms, cu.AttrMultiprocessorCount, d.ord)
	d.arch, d.sms = fmt.Sprintf("sm_%d%d", major, minor), int(sms)
	c.DeviceTotalMem(&d.totalMem, d.ord)
	if err := c.Check("cuDevicePrimaryCtxRetain", c.DevicePrimaryCtxRetain(&d.ctx, d.ord)); err != nil {
		return err
	}
	if err := c.Check("cuCtxSetCurrent", c.CtxSetCurrent(d.ctx)); err != nil {
		return err
	}
	if err := c.Check("cuStreamCreate", c.StreamCreate(&d.stream, 1)); err != nil {
		return err
	}
	var err error
	if d.blas, err = cu.LoadBlas(); err != nil {
		return err
	}
	if d.dnn, err = cu.LoadDnn(); err != nil {
		return err
	}
	if d.rtc, err = cu.LoadNvrtc(); err != nil {
		return err
	}
	d.dnnVer = d.dnn.GetVersion()
	d.rtc.Version(&d.rtcMajor, &d.rtcMinor)
	if err := d.blas.Check("cublasCreate", d.blas.Create(&d.cublas)); err != nil {
		return err
	}
	d.blas.GetVersion(d.cublas, &d.blasVer)
	if err := d.blas.Check("cublasSetStream", d.blas.SetStream(d.cublas, d.stream)); err != nil {
		return err
	}
	// An explicit workspace keeps cuBLAS from allocating inside a graph capture.
	if err := c.Check("cuMemAlloc(cublas workspace)", c.MemAlloc(&d.blasWS, blasWorkspaceBytes)); err != nil {
		return err
	}
	d.blasWSBytes = blasWorkspaceBytes
	if err := d.blas.Check("cublasSetWorkspace", d.blas.SetWorkspace(d.cublas, d.blasWS, d.blasWSBytes)); err != nil {
		return err
	}
	if err := d.dnn.Check("cudnnCreate", d.dnn.Create(&d.cudnn)); err != nil {
		return err
	}
	if err := d.dnn.Check("cudnnSetStream", d.dnn.SetStream(d.cudnn, d.stream)); err != nil {
		return err
	}
	bin, err := d.rtc.Compile(kernelSource, "poselab_kernels.cu", d.arch)
	if err != nil {
		// Train on the one-block-per-channel BatchNorm kernels rather than
		// not at all; Info and every program's compile log say why.
		var err2 error
		if bin, err2 = d.rtc.Compile(withoutMultiblock(kernelSource), "poselab_kernels.cu", d.arch); err2 != nil {
			return err
		}
		d.multiblockErr = err
	}
	if err := c.Check("cuModuleLoadData", c.ModuleLoadData(&d.mod, unsafe.Pointer(&bin[0]))); err != nil {
		return err
	}
	d.fn = map[string]uintptr{}
	for _, k := range kernelNames {
		if d.multiblockErr != nil && multiblockKernels[k] {
			continue
		}
		var f uintptr
		if err := c.Check("cuModuleGetFunction "+k, c.ModuleGetFunction(&f, d.mod, k)); err != nil {
			return err
		}
		d.fn[k] = f
	}
	return nil
}

// versions describes the libraries in use, for logs and error messages.
func (d *device) versions() string {
	return fmt.Sprintf("%s (%s, %d SMs, %.1f GiB); driver API %s (%s), cuBLAS %d (%s), cuDNN %d (%s), NVRTC %d.%d (%s)",
		d.name, d.arch, d.sms, float64(d.totalMem)/(1<<30), verString(int64(d.driverVer)), d.drv.Path,
		d.blasVer, d.blas.Path, d.dnnVer, d.dnn.Path, d.rtcMajor, d.rtcMinor, d.rtc.Path)
}

func verString(v int64) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// Kernel arguments: each value goes into its own 8-byte slot and the
// driver gets an array of pointers to the slots.
type (
	i32 int32
	i64 int64
	u64 uint64
	f32 float32
	f64 float64
	ptr = cu.DevicePtr
)

// launch queues kernel name on the stream with a 1D grid.
func (d *device) launch(name string, grid, block int, args ...any) error {
	return d.launch2(name, grid, 1, block, args...)
}

// maxGridY is the most blocks a grid may have along y.
const maxGridY = 65535

// launch2 queues kernel name with a 2D grid (gx, gy); gy is at most maxGridY.
func (d *device) launch2(name string, gx, gy, block int, args ...any) error {
	f, ok := d.fn[name]
	if !ok {
		return fmt.Errorf("cuda: no kernel %q", name)
	}
	if gx < 1 {
		gx = 1
	}
	if gy < 1 || gy > maxGridY {
		return fmt.Errorf("cuda: kernel %s: grid y %d outside [1, %d]", name, gy, maxGridY)
	}
	if d.check != nil {
		if err := d.check(name, args); err != nil {
			return fmt.Errorf("cuda: kernel %s: %w", name, err)
		}
	}
	slots := make([]uint64, len(args))
	params := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case uint64: // device pointer
			slots[i] = v
		case i32:
			slots[i] = uint64(uint32(v))
		case int:
			slots[i] = uint64(uint32(int32(v)))
		case i64:
			slots[i] = uint64(v)
		case u64:
			slots[i] = uint64(v)
		case f32:
			slots[i] = uint64(math.Float32bits(float32(v)))
		case f64:
			slots[i] = math.Float64bits(float64(v))
		default:
			return fmt.Errorf("cuda: kernel %s argument %d has unsupported type %T", name, i, a)
		}
		params[i] = unsafe.Pointer(&slots[i])
	}
	var pp unsafe.Pointer
	if len(params) > 0 {
		pp = unsafe.Pointer(&params[0])
	}
	r := d.drv.LaunchKernel(f, uint32(gx), uint32(gy), 1, uint32(block), 1, 1, 0, d.stream, pp, nil)
	runtime.KeepAlive(slots)
	runtime.KeepAlive(params)
	return d.drv.Check("launch "+name, r)
}

// gridFor sizes a grid-stride launch of n elements with 256 threads.
func (d *device) gridFor(n int64) int {
	g := (n + 255) / 256
	if max := int64(d.sms) * 16; g > max {
		g = max
	}
	if g < 1 {
		g = 1
	}
	return int(g)
}

func (d *device) sync() error {
	return d.drv.Check("cuStreamSynchronize", d.drv.StreamSynchronize(d.stream))
}
