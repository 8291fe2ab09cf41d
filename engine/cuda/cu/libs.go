package cu

import (
	"fmt"
	"unsafe"
)

// Blas holds the cuBLAS entry points (libcublas.so.13).
type Blas struct {
	Path string

	Create       func(h *uintptr) int32
	Destroy      func(h uintptr) int32
	SetStream    func(h uintptr, s uintptr) int32
	SetMathMode  func(h uintptr, mode int32) int32
	SetWorkspace func(h uintptr, ws DevicePtr, bytes uint64) int32
	GetVersion   func(h uintptr, v *int32) int32
	StatusString func(status int32) string
	// Sgemm is column-major C = alpha op(A) op(B) + beta C with host alpha/beta.
	Sgemm func(h uintptr, ta, tb int32, m, n, k int32, alpha *float32, a DevicePtr, lda int32,
		b DevicePtr, ldb int32, beta *float32, c DevicePtr, ldc int32) int32
}

// cuBLAS constants.
const (
	OpN             = 0
	OpT             = 1
	BlasDefaultMath = 0
	BlasPedantic    = 2
	BlasTF32Math    = 3
)

// LoadBlas opens cuBLAS.
func LoadBlas() (*Blas, error) {
	l, err := open("libcublas.so.13", "libcublas.so.12", "libcublas.so")
	if err != nil {
		return nil, err
	}
	b := &Blas{Path: l.path}
	return b, l.bind(map[string]any{
		"cublasCreate_v2":       &b.Create,
		"cublasDestroy_v2":      &b.Destroy,
		"cublasSetStream_v2":    &b.SetStream,
		"cublasSetMathMode":     &b.SetMathMode,
		"cublasSetWorkspace_v2": &b.SetWorkspace,
		"cublasGetVersion_v2":   &b.GetVersion,
		"cublasGetStatusString": &b.StatusString,
		"cublasSgemm_v2":        &b.Sgemm,
	})
}

// Check turns a cuBLAS status into an error.
func (b *Blas) Check(what string, s int32) error {
	if s == 0 {
		return nil
	}
	return fmt.Errorf("cublas: %s: status %d %s", what, s, b.StatusString(s))
}

// AlgoPerf is cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t (same layout).
type AlgoPerf struct {
	Algo        int32
	Status      int32
	Time        float32
	Memory      uint64
	Determinism int32
	MathType    int32
	Reserved    [3]int32
}

// cuDNN constants.
const (
	DnnNCHW          = 0
	DnnFloat         = 0
	DnnCrossCorr     = 1
	DnnDefaultMath   = 0
	DnnTensorOpMath  = 1
	DnnTensorOpAllow = 2
	DnnFMAMath       = 3
)

// Dnn holds the cuDNN 9 legacy convolution entry points (libcudnn.so.9).
type Dnn struct {
	Path string

	Create                 func(h *uintptr) int32
	Destroy                func(h uintptr) int32
	SetStream              func(h uintptr, s uintptr) int32
	GetVersion             func() uint64
	ErrorString            func(s int32) string
	CreateTensorDescriptor func(d *uintptr) int32
	SetTensor4d            func(d uintptr, format, dtype, n, c, h, w int32) int32
	CreateFilterDescriptor func(d *uintptr) int32
	SetFilter4d            func(d uintptr, dtype, format, k, c, h, w int32) int32
	CreateConvDescriptor   func(d *uintptr) int32
	SetConv2d              func(d uintptr, padH, padW, u, v, dilH, dilW, mode, computeType int32) int32
	SetConvMathType        func(d uintptr, mt int32) int32
	DestroyTensorDesc      func(d uintptr) int32
	DestroyFilterDesc      func(d uintptr) int32
	DestroyConvDesc        func(d uintptr) int32

	FindFwd func(h, xD uintptr, x DevicePtr, wD uintptr, w DevicePtr, cD, yD uintptr, y DevicePtr,
		req int32, ret *int32, perf *AlgoPerf, ws DevicePtr, wsBytes uint64) int32
	FindBwdData func(h, wD uintptr, w DevicePtr, dyD uintptr, dy DevicePtr, cD, dxD uintptr, dx DevicePtr,
		req int32, ret *int32, perf *AlgoPerf, ws DevicePtr, wsBytes uint64) int32
	FindBwdFilter func(h, xD uintptr, x DevicePtr, dyD uintptr, dy DevicePtr, cD, dwD uintptr, dw DevicePtr,
		req int32, ret *int32, perf *AlgoPerf, ws DevicePtr, wsBytes uint64) int32
	GetFwdV7       func(h, xD, wD, cD, yD uintptr, req int32, ret *int32, perf *AlgoPerf) int32
	GetBwdDataV7   func(h, wD, dyD, cD, dxD uintptr, req int32, ret *int32, perf *AlgoPerf) int32
	GetBwdFilterV7 func(h, xD, dyD, cD, dwD uintptr, req int32, ret *int32, perf *AlgoPerf) int32
	FwdWS          func(h, xD, wD, cD, yD uintptr, algo int32, size *uint64) int32
	BwdDataWS      func(h, wD, dyD, cD, dxD uintptr, algo int32, size *uint64) int32
	BwdFilterWS    func(h, xD, dyD, cD, dwD uintptr, algo int32, size *uint64) int32

	Forward func(h uintptr, alpha *float32, xD uintptr, x DevicePtr, wD uintptr, w DevicePtr, cD uintptr,
		algo int32, ws DevicePtr, wsBytes uint64, beta *float32, yD uintptr, y DevicePtr) int32
	BackwardData func(h uintptr, alpha *float32, wD uintptr, w DevicePtr, dyD uintptr, dy DevicePtr, cD uintptr,
		algo int32, ws DevicePtr, wsBytes uint64, beta *float32, dxD uintptr, dx DevicePtr) int32
	BackwardFilter func(h uintptr, alpha *float32, xD uintptr, x DevicePtr, dyD uintptr, dy DevicePtr, cD uintptr,
		algo int32, ws DevicePtr, wsBytes uint64, beta *float32, dwD uintptr, dw DevicePtr) int32
}

// LoadDnn opens cuDNN 9.
func LoadDnn() (*Dnn, error) {
	l, err := open("libcudnn.so.9", "libcudnn.so")
	if err != nil {
		return nil, err
	}
	d := &Dnn{Path: l.path}
	return d, l.bind(map[string]any{
		"cudnnCreate":                                    &d.Create,
		"cudnnDestroy":                                   &d.Destroy,
		"cudnnSetStream":                                 &d.SetStream,
		"cudnnGetVersion":                                &d.GetVersion,
		"cudnnGetErrorString":                            &d.ErrorString,
		"cudnnCreateTensorDescriptor":                    &d.CreateTensorDescriptor,
		"cudnnSetTensor4dDescriptor":                     &d.SetTensor4d,
		"cudnnCreateFilterDescriptor":                    &d.CreateFilterDescriptor,
		"cudnnSetFilter4dDescriptor":                     &d.SetFilter4d,
		"cudnnCreateConvolutionDescriptor":               &d.CreateConvDescriptor,
		"cudnnSetConvolution2dDescriptor":                &d.SetConv2d,
		"cudnnSetConvolutionMathType":                    &d.SetConvMathType,
		"cudnnDestroyTensorDescriptor":                   &d.DestroyTensorDesc,
		"cudnnDestroyFilterDescriptor":                   &d.DestroyFilterDesc,
		"cudnnDestroyConvolutionDescriptor":              &d.DestroyConvDesc,
		"cudnnFindConvolutionForwardAlgorithmEx":         &d.FindFwd,
		"cudnnFindConvolutionBackwardDataAlgorithmEx":    &d.FindBwdData,
		"cudnnFindConvolutionBackwardFilterAlgorithmEx":  &d.FindBwdFilter,
		"cudnnGetConvolutionForwardAlgorithm_v7":         &d.GetFwdV7,
		"cudnnGetConvolutionBackwardDataAlgorithm_v7":    &d.GetBwdDataV7,
		"cudnnGetConvolutionBackwardFilterAlgorithm_v7":  &d.GetBwdFilterV7,
		"cudnnGetConvolutionForwardWorkspaceSize":        &d.FwdWS,
		"cudnnGetConvolutionBackwardDataWorkspaceSize":   &d.BwdDataWS,
		"cudnnGetConvolutionBackwardFilterWorkspaceSize": &d.BwdFilterWS,
		"cudnnConvolutionForward":                        &d.Forward,
		"cudnnConvolutionBackwardData":                   &d.BackwardData,
		"cudnnConvolutionBackwardFilter":                 &d.BackwardFilter,
	})
}

// Check turns a cuDNN status into an error.
func (d *Dnn) Check(what string, s int32) error {
	if s == 0 {
		return nil
	}
	return fmt.Errorf("cudnn: %s: status %d %s", what, s, d.ErrorString(s))
}

// Nvrtc holds the NVRTC entry points (libnvrtc.so.13).
type Nvrtc struct {
	Path string

	Version        func(major, minor *int32) int32
	CreateProgram  func(p *uintptr, src, name string, nHeaders int32, headers, includeNames unsafe.Pointer) int32
	CompileProgram func(p uintptr, nOpts int32, opts unsafe.Pointer) int32
	LogSize        func(p uintptr, n *uint64) int32
	Log            func(p uintptr, buf *byte) int32
	CubinSize      func(p uintptr, n *uint64) int32
	Cubin          func(p uintptr, buf *byte) int32
	DestroyProgram func(p *uintptr) int32
	ErrorString    func(s int32) string
}

// LoadNvrtc opens NVRTC.
func LoadNvrtc() (*Nvrtc, error) {
	l, err := open("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so")
	if err != nil {
		return nil, err
	}
	n := &Nvrtc{Path: l.path}
	return n, l.bind(map[string]any{
		"nvrtcVersion":           &n.Version,
		"nvrtcCreateProgram":     &n.CreateProgram,
		"nvrtcCompileProgram":    &n.CompileProgram,
		"nvrtcGetProgramLogSize": &n.LogSize,
		"nvrtcGetProgramLog":     &n.Log,
		"nvrtcGetCUBINSize":      &n.CubinSize,
		"nvrtcGetCUBIN":          &n.Cubin,
		"nvrtcDestroyProgram":    &n.DestroyProgram,
		"nvrtcGetErrorString":    &n.ErrorString,
	})
}

// Compile builds CUDA C source into a cubin for the given architecture
// (e.g. "sm_90"); a compile error carries the compiler log.
func (n *Nvrtc) Compile(src, name, arch string, extra ...string) ([]byte, error) {
	var p uintptr
	if s := n.CreateProgram(&p, src, name, 0, nil, nil); s != 0 {
		return nil, fmt.Errorf("nvrtc: create program: %s", n.ErrorString(s))
	}
	defer n.DestroyProgram(&p)
	opts := append([]string{"--gpu-architecture=" + arch, "--std=c++17"}, extra...)
	cstrs := make([][]byte, len(opts))
	ptrs := make([]*byte, len(opts))
	for i, o := range opts {
		cstrs[i] = append([]byte(o), 0)
		ptrs[i] = &cstrs[i][0]
	}
	s := n.CompileProgram(p, int32(len(ptrs)), unsafe.Pointer(&ptrs[0]))
	var logN uint64
	n.LogSize(p, &logN)
	log := ""
	if logN > 1 {
		buf := make([]byte, logN)
		n.Log(p, &buf[0])
		log = string(buf[:logN-1])
	}
	if s != 0 {
		return nil, fmt.Errorf("nvrtc: compile %s for %s: %s\n%s", name, arch, n.ErrorString(s), log)
	}
	var size uint64
	if s := n.CubinSize(p, &size); s != 0 {
		return nil, fmt.Errorf("nvrtc: cubin size: %s", n.ErrorString(s))
	}
	bin := make([]byte, size)
	if s := n.Cubin(p, &bin[0]); s != 0 {
		return nil, fmt.Errorf("nvrtc: get cubin: %s", n.ErrorString(s))
	}
	return bin, nil
}
