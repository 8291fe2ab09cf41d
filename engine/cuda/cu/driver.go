package cu

import (
	"fmt"
	"unsafe"
)

// DevicePtr is a device address (CUdeviceptr).
type DevicePtr = uint64

// Result is a CUDA driver status code (CUresult).
type Result int32

// Driver holds the CUDA driver API entry points (libcuda.so.1).
type Driver struct {
	Path string

	Init                    func(flags uint32) Result
	DriverGetVersion        func(v *int32) Result
	DeviceGetCount          func(n *int32) Result
	DeviceGet               func(dev *int32, ordinal int32) Result
	DeviceGetName           func(name *byte, n int32, dev int32) Result
	DeviceGetAttribute      func(v *int32, attr int32, dev int32) Result
	DeviceTotalMem          func(bytes *uint64, dev int32) Result
	DevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) Result
	DevicePrimaryCtxRelease func(dev int32) Result
	CtxSetCurrent           func(ctx uintptr) Result
	MemAlloc                func(p *DevicePtr, bytes uint64) Result
	MemFree                 func(p DevicePtr) Result
	MemAllocHost            func(p *unsafe.Pointer, bytes uint64) Result
	MemFreeHost             func(p unsafe.Pointer) Result
	MemcpyHtoD              func(dst DevicePtr, src unsafe.Pointer, bytes uint64) Result
	MemcpyDtoH              func(dst unsafe.Pointer, src DevicePtr, bytes uint64) Result
	MemcpyHtoDAsync         func(dst DevicePtr, src unsafe.Pointer, bytes uint64, stream uintptr) Result
	MemcpyDtoHAsync         func(dst unsafe.Pointer, src DevicePtr, bytes uint64, stream uintptr) Result
	MemcpyDtoDAsync         func(dst, src DevicePtr, bytes uint64, stream uintptr) Result
	MemsetD32Async          func(dst DevicePtr, v uint32, n uint64, stream uintptr) Result
	MemGetInfo              func(free, total *uint64) Result
	StreamCreate            func(s *uintptr, flags uint32) Result
	StreamDestroy           func(s uintptr) Result
	StreamSynchronize       func(s uintptr) Result
	ModuleLoadData          func(m *uintptr, image unsafe.Pointer) Result
	ModuleGetFunction       func(f *uintptr, m uintptr, name string) Result
	ModuleUnload            func(m uintptr) Result
	LaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32, stream uintptr, params unsafe.Pointer, extra unsafe.Pointer) Result
	StreamBeginCapture      func(s uintptr, mode int32) Result
	StreamEndCapture        func(s uintptr, g *uintptr) Result
	GraphInstantiate        func(exec *uintptr, g uintptr, flags uint64) Result
	GraphLaunch             func(exec uintptr, s uintptr) Result
	GraphExecDestroy        func(exec uintptr) Result
	GraphDestroy            func(g uintptr) Result
	EventCreate             func(e *uintptr, flags uint32) Result
	EventRecord             func(e uintptr, s uintptr) Result
	EventSynchronize        func(e uintptr) Result
	EventDestroy            func(e uintptr) Result
	StreamWaitEvent         func(s uintptr, e uintptr, flags uint32) Result
	GetErrorName            func(r Result, s **byte) Result
	GetErrorString          func(r Result, s **byte) Result
}

// Device attributes used by the backend (CUdevice_attribute).
const (
	AttrMultiprocessorCount = 16
	AttrComputeMajor        = 75
	AttrComputeMinor        = 76
)

// Stream capture modes.
const (
	CaptureModeGlobal      = 0
	CaptureModeThreadLocal = 1
	CaptureModeRelaxed     = 2
)

// Stream and event creation flags (CU_STREAM_NON_BLOCKING: no implicit
// synchronisation with the legacy default stream; CU_EVENT_DISABLE_TIMING:
// the cheapest event for cross-stream ordering).
const (
	StreamNonBlocking  = 1
	EventDisableTiming = 2
)

// LoadDriver opens libcuda.so.1 and binds its entry points.
func LoadDriver() (*Driver, error) {
	l, err := open("libcuda.so.1", "libcuda.so")
	if err != nil {
		return nil, err
	}
	d := &Driver{Path: l.path}
	err = l.bind(map[string]any{
		"cuInit":                       &d.Init,
		"cuDriverGetVersion":           &d.DriverGetVersion,
		"cuDeviceGetCount":             &d.DeviceGetCount,
		"cuDeviceGet":                  &d.DeviceGet,
		"cuDeviceGetName":              &d.DeviceGetName,
		"cuDeviceGetAttribute":         &d.DeviceGetAttribute,
		"cuDeviceTotalMem_v2":          &d.DeviceTotalMem,
		"cuDevicePrimaryCtxRetain":     &d.DevicePrimaryCtxRetain,
		"cuDevicePrimaryCtxRelease_v2": &d.DevicePrimaryCtxRelease,
		"cuCtxSetCurrent":              &d.CtxSetCurrent,
		"cuMemAlloc_v2":                &d.MemAlloc,
		"cuMemFree_v2":                 &d.MemFree,
		"cuMemAllocHost_v2":            &d.MemAllocHost,
		"cuMemFreeHost":                &d.MemFreeHost,
		"cuMemcpyHtoD_v2":              &d.MemcpyHtoD,
		"cuMemcpyDtoH_v2":              &d.MemcpyDtoH,
		"cuMemcpyHtoDAsync_v2":         &d.MemcpyHtoDAsync,
		"cuMemcpyDtoHAsync_v2":         &d.MemcpyDtoHAsync,
		"cuMemcpyDtoDAsync_v2":         &d.MemcpyDtoDAsync,
		"cuMemsetD32Async":             &d.MemsetD32Async,
		"cuMemGetInfo_v2":              &d.MemGetInfo,
		"cuStreamCreate":               &d.StreamCreate,
		"cuStreamDestroy_v2":           &d.StreamDestroy,
		"cuStreamSynchronize":          &d.StreamSynchronize,
		"cuModuleLoadData":             &d.ModuleLoadData,
		"cuModuleGetFunction":          &d.ModuleGetFunction,
		"cuModuleUnload":               &d.ModuleUnload,
		"cuLaunchKernel":               &d.LaunchKernel,
		"cuStreamBeginCapture_v2":      &d.StreamBeginCapture,
		"cuStreamEndCapture":           &d.StreamEndCapture,
		"cuGraphInstantiateWithFlags":  &d.GraphInstantiate,
		"cuGraphLaunch":                &d.GraphLaunch,
		"cuGraphExecDestroy":           &d.GraphExecDestroy,
		"cuGraphDestroy":               &d.GraphDestroy,
		"cuEventCreate":                &d.EventCreate,
		"cuEventRecord":                &d.EventRecord,
		"cuEventSynchronize":           &d.EventSynchronize,
		"cuEventDestroy_v2":            &d.EventDestroy,
		"cuStreamWaitEvent":            &d.StreamWaitEvent,
		"cuGetErrorName":               &d.GetErrorName,
		"cuGetErrorString":             &d.GetErrorString,
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Check turns a driver status into an error naming the call.
func (d *Driver) Check(what string, r Result) error {
	if r == 0 {
		return nil
	}
	var name, desc *byte
	d.GetErrorName(r, &name)
	d.GetErrorString(r, &desc)
	return fmt.Errorf("cuda: %s: error %d %s (%s)", what, int32(r), GoString(name), GoString(desc))
}

// GoString copies a NUL-terminated C string.
func GoString(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for ptr := unsafe.Pointer(p); *(*byte)(ptr) != 0; ptr = unsafe.Add(ptr, 1) {
		b = append(b, *(*byte)(ptr))
	}
	return string(b)
}
