package cpu

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

func TestDeviceNamesBLAS(t *testing.T) {
	d := New().Device()
	if !strings.HasPrefix(d, "CPU (") || !strings.Contains(d, "cores, ") {
		t.Fatalf("device %q", d)
	}
	forced := os.Getenv("POSELAB_BLAS") == "gonum"
	if forced && !strings.Contains(d, "gonum") {
		t.Fatalf("device %q with POSELAB_BLAS=gonum", d)
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libopenblas.so.0"); err == nil && !forced && !strings.Contains(d, "OpenBLAS") {
		t.Fatalf("device %q although Debian's OpenBLAS is installed", d)
	}
	t.Logf("device: %s", d)
}

// TestBLASMatchesGonum holds the run-time OpenBLAS binding (argument order,
// transposes, leading dimensions, alpha/beta) to gonum's reference GEMM.
func TestBLASMatchesGonum(t *testing.T) {
	setupBLAS()
	if _, ok := blasImpl.(*openBLAS); !ok {
		t.Skip("OpenBLAS not loaded: gemm is gonum's own")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	fill := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.Float64()*2 - 1
		}
		return v
	}
	const m, n, k, pad = 7, 5, 9, 3
	ref := gonum.Implementation{}
	for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
		for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			ar, ac := m, k
			if tA == blas.Trans {
				ar, ac = k, m
			}
			br, bc := k, n
			if tB == blas.Trans {
				br, bc = n, k
			}
			lda, ldb, ldc := ac+pad, bc+pad, n+pad
			a, b, c := fill(ar*lda), fill(br*ldb), fill(m*ldc)
			want := append([]float64(nil), c...)
			ref.Dgemm(tA, tB, m, n, k, 0.7, a, lda, b, ldb, 0.3, want, ldc)
			got := append([]float64(nil), c...)
			blasImpl.Dgemm(tA, tB, m, n, k, 0.7, a, lda, b, ldb, 0.3, got, ldc)
			a32, b32, c32 := to32(a), to32(b), to32(c)
			blasImpl.Sgemm(tA, tB, m, n, k, 0.7, a32, lda, b32, ldb, 0.3, c32, ldc)
			for i := range want {
				if math.Abs(got[i]-want[i]) > 1e-12 || math.Abs(float64(c32[i])-want[i]) > 1e-5 {
					t.Fatalf("tA=%c tB=%c element %d: dgemm %v sgemm %v, gonum %v", tA, tB, i, got[i], c32[i], want[i])
				}
			}
		}
	}
}

func to32(v []float64) []float32 {
	r := make([]float32, len(v))
	for i, x := range v {
		r[i] = float32(x)
	}
	return r
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOpenBLASThreadsSleep: after a product OpenBLAS's worker threads go to
// sleep within about 0.3 ms (OPENBLAS_THREAD_TIMEOUT=20) instead of
// spinning for ~0.1 s on a core the Go kernels need.
func TestOpenBLASThreadsSleep(t *testing.T) {
	setupBLAS()
	if _, ok := blasImpl.(*openBLAS); !ok || os.Getenv("OPENBLAS_THREAD_TIMEOUT") != "20" {
		t.Skip("OpenBLAS not loaded, or its thread timeout set by the user")
	}
	a, w, c := make([]float32, 256*512), make([]float32, 512*512), make([]float32, 256*512)
	for r := 0; r < 3; r++ {
		gemm(false, true, 256, 512, 512, 1, a, 512, w, 512, 0, c, 512)
		c0 := processCPU()
		time.Sleep(50 * time.Millisecond)
		if used := processCPU() - c0; used > 15*time.Millisecond {
			t.Fatalf("the process used %v of CPU during a 50 ms sleep after a product", used)
		}
	}
}
