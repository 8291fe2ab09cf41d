package cpu

import (
	"os"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// Matrix products are most of a training step, and gonum's pure-Go SGEMM
// runs at about a fifth of OpenBLAS's speed on this machine. So when the
// system has OpenBLAS we load its cblas_sgemm/cblas_dgemm at run time with
// purego (the binary stays cgo-free) and fall back to gonum otherwise.

// openBLASPaths are tried in order; the first that loads wins.
var openBLASPaths = []string{
	"libopenblas.so.0",
	"/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
	"/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
	"/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
	"/usr/lib/libopenblas.so.0",
}

const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// openBLAS is gonum's implementation with the two GEMMs replaced.
type openBLAS struct {
	gonum.Implementation
	sgemm func(order, ta, tb, m, n, k int32, alpha float32, a unsafe.Pointer, lda int32, b unsafe.Pointer, ldb int32, beta float32, c unsafe.Pointer, ldc int32)
	dgemm func(order, ta, tb, m, n, k int32, alpha float64, a unsafe.Pointer, lda int32, b unsafe.Pointer, ldb int32, beta float64, c unsafe.Pointer, ldc int32)
}

func cblasTranspose(t blas.Transpose) int32 {
	if t == blas.NoTrans {
		return cblasNoTrans
	}
	return cblasTrans
}

// Sgemm computes C = alpha op(A) op(B) + beta C (row-major), as gonum's.
func (o *openBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 || k == 0 || len(a) == 0 || len(b) == 0 || len(c) == 0 {
		o.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	o.sgemm(cblasRowMajor, cblasTranspose(tA), cblasTranspose(tB), int32(m), int32(n), int32(k), alpha,
		unsafe.Pointer(&a[0]), int32(lda), unsafe.Pointer(&b[0]), int32(ldb), beta, unsafe.Pointer(&c[0]), int32(ldc))
}

// Dgemm is Sgemm in float64.
func (o *openBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 || k == 0 || len(a) == 0 || len(b) == 0 || len(c) == 0 {
		o.Implementation.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	o.dgemm(cblasRowMajor, cblasTranspose(tA), cblasTranspose(tB), int32(m), int32(n), int32(k), alpha,
		unsafe.Pointer(&a[0]), int32(lda), unsafe.Pointer(&b[0]), int32(ldb), beta, unsafe.Pointer(&c[0]), int32(ldc))
}

var (
	blasOnce sync.Once
	blasImpl G.BLAS = gonum.Implementation{}
	blasName        = "gonum BLAS"
)

// setupBLAS picks the BLAS once per process and hands it to gorgonia too.
// POSELAB_BLAS=gonum forces the pure-Go implementation (for comparisons).
func setupBLAS() {
	blasOnce.Do(func() {
		if os.Getenv("POSELAB_BLAS") != "gonum" {
			if impl := loadOpenBLAS(); impl != nil {
				blasImpl, blasName = impl, "OpenBLAS"
			}
		}
		G.Use(blasImpl)
	})
}

func loadOpenBLAS() (impl *openBLAS) {
	defer func() {
		if recover() != nil { // a library without the symbols: stay on gonum
			impl = nil
		}
	}()
	// OpenBLAS's idle worker threads spin for about 2^28 cycles (~0.1 s)
	// after each product before sleeping, which on a small machine takes a
	// core from the Go kernels that run between the products. 2^20 cycles
	// (~0.3 ms) keeps them warm across back-to-back products only. The
	// library reads this when it loads; a value the user set wins.
	if os.Getenv("OPENBLAS_THREAD_TIMEOUT") == "" {
		os.Setenv("OPENBLAS_THREAD_TIMEOUT", "20")
	}
	for _, path := range openBLASPaths {
		lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			continue
		}
		o := &openBLAS{}
		purego.RegisterLibFunc(&o.sgemm, lib, "cblas_sgemm")
		purego.RegisterLibFunc(&o.dgemm, lib, "cblas_dgemm")
		return o
	}
	return nil
}

// gemm is C = alpha op(A) op(B) + beta C in row-major order for either
// float type, through the chosen BLAS.
func gemm[T float32 | float64](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if tA {
		ta = blas.Trans
	}
	if tB {
		tb = blas.Trans
	}
	switch a := any(a).(type) {
	case []float32:
		blasImpl.Sgemm(ta, tb, m, n, k, float32(alpha), a, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		blasImpl.Dgemm(ta, tb, m, n, k, float64(alpha), a, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}
