// CPU emulation of the CUDA C subset kernelSource uses (emulate_test.go
// compiles: this prelude + kernelSource + a generated main). Blocks of a
// grid run one after another (x fastest, then y, then z; reversed with
// EMU_REVERSE). The threads of a
// block are fibers (each with its own stack) on one OS thread: a
// thread runs until it reaches a barrier (__syncthreads, a warp shuffle) or
// leaves the kernel, then the next runs. Sweeps over the threads alternate
// direction (0..N-1, then N-1..0, starting the other way in every other
// block), so between two barriers the threads run in different orders and
// a missing barrier tends to show. Real threads
// (one pthread per CUDA thread) cost about 45 ms per 256-thread block on a
// 2-core machine, too slow for tests; fibers switch in well under a
// microsecond (ucontext starts a fiber once; _setjmp/_longjmp switch,
// without the signal-mask system calls of swapcontext). A barrier that can never be passed (a __syncthreads in
// divergent code) is reported as a deadlock. Speed here means nothing.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <setjmp.h>
#include <ucontext.h>
#include <vector>

struct dim3_ {
	unsigned x, y, z;
};
// threadIdx is set by the scheduler before it resumes a thread.
static dim3_ threadIdx, blockIdx, blockDim, gridDim;

#define __global__
#define __device__
#define __forceinline__ inline
// Blocks run one at a time, so one static copy per declaration is the
// block's shared memory.
#define __shared__ static

using std::exp;
using std::fabs;
using std::pow;
using std::sqrt;

// emuBarrier counts the threads still running the current block: a thread
// that leaves the kernel drops out, as exited threads stop counting for
// __syncthreads on sm_70 and later. When the last one leaves, the count
// is restored for the next block.
struct emuBarrier {
	int size = 0, live = 0, arrived = 0;
	unsigned long gen = 0;
	void init(int n) {
		size = live = n;
		arrived = 0;
	}
	void release() {
		arrived = 0;
		gen++;
	}
	void wait();
	void drop() {
		if (--live == 0) {
			live = size;
			arrived = 0;
			return;
		}
		if (arrived > 0 && arrived >= live) release();
	}
};

struct emuFiber {
	jmp_buf env;
	ucontext_t start;
	char *stack = nullptr;
	emuBarrier *wait = nullptr;
	unsigned long gen = 0;
	bool done = false;
};

static jmp_buf emuSched;
static std::vector<emuFiber> emuFibers;
static emuFiber *emuCur;
static std::function<void()> *emuBody;
static emuBarrier emuBlockBar;
static emuBarrier emuWarpBar[32];
static uint64_t emuWarpSlot[32][32];

// wait: the last thread to arrive releases the others; the rest yield to
// the scheduler, which resumes them once the generation has moved on.
void emuBarrier::wait() {
	unsigned long g = gen;
	if (++arrived >= live) {
		release();
		return;
	}
	emuCur->wait = this;
	emuCur->gen = g;
	if (_setjmp(emuCur->env) == 0) _longjmp(emuSched, 1);
}

inline void __syncthreads() { emuBlockBar.wait(); }
inline void __threadfence() {}

// emuShfl: each lane posts its value, the warp meets, each lane reads
// lane src's (its own when src is past the warp's end), and the warp meets
// again before the slots can be overwritten. Works inside divergent code as
// long as the whole warp takes the branch, as the real intrinsics require.
template <class T> T emuShfl(T v, unsigned src) {
	static_assert(sizeof(T) <= 8, "shuffle of a value wider than 8 bytes");
	unsigned w = threadIdx.x >> 5, lane = threadIdx.x & 31;
	std::memcpy(&emuWarpSlot[w][lane], &v, sizeof(T));
	emuWarpBar[w].wait();
	T r = v;
	unsigned width = blockDim.x - w * 32;
	if (width > 32) width = 32;
	if (src < width) std::memcpy(&r, &emuWarpSlot[w][src], sizeof(T));
	emuWarpBar[w].wait();
	return r;
}

// __shfl_down_sync: lane + o's value; __shfl_sync: lane src's.
template <class T> T __shfl_down_sync(unsigned, T v, int o) { return emuShfl(v, (threadIdx.x & 31) + (unsigned)o); }
template <class T> T __shfl_sync(unsigned, T v, int src) { return emuShfl(v, (unsigned)src); }

// One OS thread runs everything, so plain read-modify-writes are atomic.
inline float atomicAdd(float *p, float v) {
	float o = *p;
	*p = o + v;
	return o;
}
inline double atomicAdd(double *p, double v) {
	double o = *p;
	*p = o + v;
	return o;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __int_as_float(int i) {
	float f;
	std::memcpy(&f, &i, 4);
	return f;
}

// emuFiberMain is each fiber's whole life: park, then run the body once
// per block it is resumed for.
static void emuFiberMain() {
	for (;;) {
		if (_setjmp(emuCur->env) == 0) _longjmp(emuSched, 1);
		(*emuBody)();
		emuCur->done = true;
		emuBlockBar.drop();
		emuWarpBar[threadIdx.x >> 5].drop();
	}
}

// With EMU_REVERSE set, blocks run last to first: a kernel whose result
// depends on the order of its blocks (a GPU runs them in any order) gives
// different bytes.
static const bool emuReverse = std::getenv("EMU_REVERSE") != nullptr;

// emuLaunch runs body for every thread of every block of the grid.
static void emuLaunch(unsigned gx, unsigned gy, unsigned gz, unsigned bx, std::function<void()> body) {
	if (gx < 1 || gy < 1 || gz < 1 || bx < 1 || bx > 1024 || gy > 65535 || gz > 65535) {
		std::fprintf(stderr, "emulator: bad launch grid (%u,%u,%u) block %u\n", gx, gy, gz, bx);
		std::exit(4);
	}
	emuBody = &body;
	blockDim = {bx, 1, 1};
	gridDim = {gx, gy, gz};
	emuBlockBar.init(bx);
	for (unsigned w = 0; w < 32; w++) {
		int n = (int)bx - (int)w * 32;
		emuWarpBar[w].init(n < 0 ? 0 : (n > 32 ? 32 : n));
	}
	for (size_t t = emuFibers.size(); t < bx; t++) {
		emuFibers.emplace_back();
		emuFiber &f = emuFibers.back();
		f.stack = (char *)std::malloc(128 << 10);
		getcontext(&f.start);
		f.start.uc_stack.ss_sp = f.stack;
		f.start.uc_stack.ss_size = 128 << 10;
		f.start.uc_link = nullptr;
		makecontext(&f.start, emuFiberMain, 0);
		emuCur = &f;
		if (_setjmp(emuSched) == 0) setcontext(&f.start); // it parks and jumps back
	}
	for (unsigned zz = 0; zz < gz; zz++)
		for (unsigned yy = 0; yy < gy; yy++)
			for (unsigned xx = 0; xx < gx; xx++) {
				unsigned x = emuReverse ? gx - 1 - xx : xx, y = emuReverse ? gy - 1 - yy : yy, z = emuReverse ? gz - 1 - zz : zz;
				blockIdx = {x, y, z};
				for (unsigned t = 0; t < bx; t++) {
					emuFibers[t].wait = nullptr;
					emuFibers[t].done = false;
				}
				unsigned left = bx;
				for (int sweep = 0; left > 0; sweep++) {
					bool progress = false;
					for (unsigned k = 0; k < bx; k++) {
						unsigned t = (sweep + x + y + z) % 2 ? bx - 1 - k : k;
						emuFiber &f = emuFibers[t];
						if (f.done || (f.wait && f.wait->gen == f.gen)) continue;
						f.wait = nullptr;
						emuCur = &f;
						threadIdx = {t, 0, 0};
						if (_setjmp(emuSched) == 0) _longjmp(f.env, 1);
						progress = true;
						if (f.done) left--;
					}
					if (!progress) {
						std::fprintf(stderr, "emulator: deadlock in block (%u,%u,%u): %u threads wait at barriers that can never open (a barrier or shuffle in divergent code?)\n",
						             x, y, z, left);
						std::exit(9);
					}
				}
			}
}

// The device arena: device address emuBase + k is byte k of emuArena.
static const uint64_t emuBase = 1ull << 32;
static unsigned char *emuArena;
static uint64_t emuArenaBytes;

static void *emuPtr(uint64_t a) {
	if (a == 0) return nullptr;
	if (a < emuBase || a >= emuBase + emuArenaBytes) {
		std::fprintf(stderr, "emulator: pointer %#llx outside the arena\n", (unsigned long long)a);
		std::exit(6);
	}
	return emuArena + (a - emuBase);
}
static float emuF32(uint64_t s) {
	uint32_t u = (uint32_t)s;
	float f;
	std::memcpy(&f, &u, 4);
	return f;
}
static double emuF64(uint64_t s) {
	double f;
	std::memcpy(&f, &s, 8);
	return f;
}
