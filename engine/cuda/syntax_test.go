package cuda

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// cudaStubs lets a host C++ compiler parse the kernel source: CUDA's
// keywords and intrinsics become plain declarations. It catches syntax and
// type errors before the source ever reaches NVRTC on a GPU machine.
const cudaStubs = `
#include <cmath>
#include <cstring>
struct dim3_ { unsigned x, y, z; };
static dim3_ blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
inline void __syncthreads() {}
inline double __shfl_down_sync(unsigned, double v, int) { return v; }
inline float __shfl_down_sync(unsigned, float v, int) { return v; }
inline float __shfl_sync(unsigned, float v, int) { return v; }
inline float atomicAdd(float* p, float v) { float o = *p; *p += v; return o; }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
using std::sqrt; using std::pow; using std::fabs; using std::exp;
`

func TestKernelSourceCompilesAsCpp(t *testing.T) {
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("no g++ here")
	}
	cmd := exec.Command(gxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Wno-unused-variable", "-Wno-overflow", "-Wno-narrowing", "-x", "c++", "-")
	cmd.Stdin = strings.NewReader(cudaStubs + kernelSource)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("g++ -fsyntax-only on the kernel source: %v\n%s", err, out)
	}
}

// TestDumpKernelSource writes the kernel source to $POSELAB_DUMP_KERNELS
// (gpu-check.sh compiles it with nvcc for a register/spill report).
func TestDumpKernelSource(t *testing.T) {
	path := os.Getenv("POSELAB_DUMP_KERNELS")
	if path == "" {
		t.Skip("set POSELAB_DUMP_KERNELS=file.cu")
	}
	if err := os.WriteFile(path, []byte(kernelSource), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Without its multiblock sections the source still compiles and defines
// every kernel but the multi-block ones: the fallback when NVRTC rejects
// the full source.
func TestKernelSourceWithoutMultiblock(t *testing.T) {
	stripped := withoutMultiblock(kernelSource)
	if len(stripped) >= len(kernelSource) || strings.Contains(stripped, "multiblock") {
		t.Fatal("the multiblock sections were not removed")
	}
	full, rest := kernelParams, map[string]bool{}
	for _, k := range kernelNames {
		if strings.Contains(stripped, "__global__ void "+k+"(") {
			rest[k] = true
		}
	}
	for _, k := range kernelNames {
		if _, ok := full[k]; !ok {
			t.Fatalf("kernel %s is not in the source", k)
		}
		if rest[k] == multiblockKernels[k] {
			t.Errorf("kernel %s: in the stripped source %v, multi-block %v", k, rest[k], multiblockKernels[k])
		}
	}
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("no g++ here")
	}
	cmd := exec.Command(gxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Wno-unused-variable", "-Wno-overflow", "-Wno-narrowing", "-x", "c++", "-")
	cmd.Stdin = strings.NewReader(cudaStubs + stripped)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("g++ -fsyntax-only on the stripped source: %v\n%s", err, out)
	}
}
