package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// nvrtcLike is what NVRTC gives a program that includes nothing: the
// execution-space attributes, built-in variables, device math (declared by
// clang's own CUDA headers over libdevice), warp shuffles and atomics. With
// it clang compiles the kernel source as CUDA device code, a real CUDA
// front end's checks (host/device calls, intrinsic signatures, extern "C"
// names), where the g++ syntax test only sees C++.
const nvrtcLike = `
#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define CUDA_VERSION 11000
typedef unsigned long size_t;
#define INT_MAX __INT_MAX__
#define INT_MIN (-__INT_MAX__ - 1)
#define HUGE_VAL __builtin_huge_val()
#define HUGE_VALF __builtin_huge_valf()
#define INFINITY __builtin_huge_valf()
#define NAN __builtin_nanf("")
#include "__clang_cuda_builtin_vars.h"
#include "__clang_cuda_libdevice_declares.h"
#include "__clang_cuda_device_functions.h"
#include "__clang_cuda_math.h"
__device__ float __shfl_down_sync(unsigned, float, unsigned, int = 32);
__device__ double __shfl_down_sync(unsigned, double, unsigned, int = 32);
__device__ int __shfl_down_sync(unsigned, int, unsigned, int = 32);
__device__ float __shfl_xor_sync(unsigned, float, int, int = 32);
__device__ double __shfl_xor_sync(unsigned, double, int, int = 32);
__device__ float __shfl_sync(unsigned, float, int, int = 32);
__device__ double __shfl_sync(unsigned, double, int, int = 32);
__device__ int __shfl_sync(unsigned, int, int, int = 32);
__device__ float atomicAdd(float*, float);
__device__ double atomicAdd(double*, double);
__device__ int atomicAdd(int*, int);
__device__ unsigned atomicAdd(unsigned*, unsigned);
`

// The kernel source, whole and without its multi-block sections (the
// fallback), compiles as CUDA device code for sm_80 with clang, warning
// free, and its PTX has an unmangled entry for every kernel the backend
// launches. `make test` installs clang where it can; without it the test
// is skipped.
func TestKernelSourceCompilesAsCUDA(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("no clang here (make test-deps installs it)")
	}
	dir := t.TempDir()
	prelude := filepath.Join(dir, "nvrtc_like.h")
	if err := os.WriteFile(prelude, []byte(nvrtcLike), 0o644); err != nil {
		t.Fatal(err)
	}
	compile := func(src, ptx string) ([]byte, error) {
		return exec.Command(clang, "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib",
			"-Wall", "-O2", "-S", "-include", prelude, "-o", ptx, src).CombinedOutput()
	}
	// A clang whose CUDA headers want more than the prelude gives (other
	// versions than Debian 12's clang 14) cannot judge the source: skip
	// rather than blame the kernels.
	probe := filepath.Join(dir, "probe.cu")
	os.WriteFile(probe, []byte(`extern "C" __global__ void probe(float* p) {
	float v = __shfl_down_sync(0xffffffff, p[threadIdx.x], 1);
	atomicAdd(p, expf(v) + rsqrtf(v));
}
`), 0o644)
	if out, err := compile(probe, filepath.Join(dir, "probe.ptx")); err != nil || len(out) > 0 {
		t.Skipf("this clang cannot compile a minimal kernel with the NVRTC-like prelude (%v):\n%s", err, out)
	}
	entry := regexp.MustCompile(`\.entry ([A-Za-z0-9_]+)\(`)
	for _, c := range []struct {
		name, src string
		want      func(k string) bool
	}{
		{"whole", kernelSource, func(string) bool { return true }},
		{"without multiblock", withoutMultiblock(kernelSource), func(k string) bool { return !multiblockKernels[k] }},
	} {
		t.Run(c.name, func(t *testing.T) {
			src, ptx := filepath.Join(dir, "k.cu"), filepath.Join(dir, "k.ptx")
			if err := os.WriteFile(src, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := compile(src, ptx)
			if err != nil || len(out) > 0 {
				t.Fatalf("clang (CUDA, sm_80) on the kernel source: %v\n%s", err, out)
			}
			b, err := os.ReadFile(ptx)
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, m := range entry.FindAllStringSubmatch(string(b), -1) {
				got = append(got, m[1])
			}
			for _, k := range kernelNames {
				if c.want(k) {
					want = append(want, k)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("PTX entries %v\nwant the kernels %v", got, want)
			}
			if strings.Contains(string(b), ".entry _Z") {
				t.Fatal("a mangled entry: a kernel outside extern \"C\"")
			}
		})
	}
}
