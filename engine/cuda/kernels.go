package cuda

import "strings"

// kernelSource is every CUDA C kernel the backend launches, compiled once
// per process by NVRTC for the device's architecture. Conventions: tensors
// are NCHW float32; "n" counts elements over the whole batch; backward
// kernels take acc: 0 writes dx (the first contribution to a gradient
// buffer in the step's order), 1 adds to it (later contributions: a value
// used twice accumulates both); pointers may be 0 where a kernel says so.
const kernelSource = `
typedef unsigned long long u64;
typedef long long i64;
#define NEG_INF __int_as_float(0xff800000)

// Ctrl is the small device block the host rewrites before every step, so
// that a captured CUDA graph can be replayed with a new step and lr.
struct Ctrl { u64 step; double lr; double t; };

#define ACC(dst, v) ((dst) = (acc ? (dst) : 0.f) + (v))
#define GRID_STRIDE(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// dropKeep is nn.DropoutUniform(seed, step, node, i) >= p, bit for bit:
// the same SplitMix64-style mix in uint64 arithmetic, then the top 24 bits
// as an exact double in [0,1).
__device__ __forceinline__ bool dropKeep(u64 seed, u64 step, u64 node, u64 i, double p) {
	u64 z = seed ^ step * 0x9e3779b97f4a7c15ULL ^ node * 0xbf58476d1ce4e5b9ULL ^ i * 0x94d049bb133111ebULL;
	z ^= z >> 30;
	z *= 0xbf58476d1ce4e5b9ULL;
	z ^= z >> 27;
	z *= 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (double)(z >> 40) * (1.0 / 16777216.0) >= p;
}

// blockSum adds v over the block (blockDim.x a multiple of 32, <= 1024)
// and returns the total to every thread.
__device__ double blockSum(double v) {
	__shared__ double sh[33];
	for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	__syncthreads();
	if (lane == 0) sh[w] = v;
	__syncthreads();
	if (w == 0) {
		v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0;
		for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
		if (lane == 0) sh[32] = v;
	}
	__syncthreads();
	return sh[32];
}

// Index arithmetic is 32-bit unsigned (the plan refuses tensors of 2^31
// elements or more): 64-bit division costs several times a memory access.

// Element (b, c, hw) of channel c's i-th element over batch and space.
__device__ __forceinline__ i64 chanIndex(int i, int c, int C, int HW) {
	if (HW == 1) return (i64)i * C + c;
	int b = i / HW, hw = i - b * HW;
	return ((i64)b * C + c) * HW + hw;
}

// reluPasses is whether a fused BatchNorm+ReLU passed element v: its
// forward output before the ReLU, computed by the very expression (and
// operands) of bn_train and bn_apply, so the answer is the forward's.
__device__ __forceinline__ bool reluPasses(float v, float mean, float inv, float g, float bt) {
	return (v - mean) * inv * g + bt > 0.f;
}

// bnSave keeps channel c's batch mean and 1/std for backward and, with
// update, applies PyTorch's running-statistics update (unbiased variance).
// cb, when not null, is the bias of the convolution feeding the BatchNorm,
// left out of its output (see the plan's BiasInto): the statistics of x
// and x + cb differ only in the mean, so the running mean adds it back.
__device__ void bnSave(int c, int n, double mean, double var, float inv, float* smean, float* sinv, float* rmean,
                       float* rvar, float mom, int update, const float* cb) {
	smean[c] = (float)mean;
	sinv[c] = inv;
	if (update) {
		double unb = n > 1 ? var * n / (n - 1) : var;
		double m = cb ? mean + (double)cb[c] : mean;
		rmean[c] = (float)((1.0 - mom) * rmean[c] + mom * m);
		rvar[c] = (float)((1.0 - mom) * rvar[c] + mom * unb);
	}
}

// BEGIN multiblock
// Helpers of the multi-block BatchNorm kernels (described below).

// chunkBounds is block (blockIdx.x)'s element range of its channel.
__device__ __forceinline__ void chunkBounds(int n, int chunk, int* lo, int* hi) {
	*lo = blockIdx.x * chunk;
	*hi = *lo + chunk;
	if (*hi > n) *hi = n;
}

// ChanWalk visits channel c's elements i = lo + threadIdx.x, then
// i + blockDim.x, ... and keeps each one's memory index k (chanIndex) with
// two divisions per thread instead of one per element: a step of blockDim.x
// elements is qb whole samples plus rb < HW positions, so the position in
// the sample wraps at most once. (Integer division costs about 20
// instructions; at one per element the kernels would be bound by it, not
// by memory.)
struct ChanWalk {
	int i, hw, HW, rb;
	i64 k, dk, wrap;
	__device__ ChanWalk(int lo, int c, int C, int HW_) : HW(HW_) {
		i = lo + threadIdx.x;
		int b = i / HW;
		hw = i - b * HW;
		k = ((i64)b * C + c) * HW + hw;
		int qb = blockDim.x / HW;
		rb = blockDim.x - qb * HW;
		dk = (i64)qb * C * HW + rb;
		wrap = (i64)(C - 1) * HW;
	}
	__device__ __forceinline__ void next() {
		i += blockDim.x;
		k += dk;
		hw += rb;
		if (hw >= HW) {
			hw -= HW;
			k += wrap;
		}
	}
	// take4 hands out the indices of the next (up to) 4 elements below hi
	// and returns how many (ks[0..m)). The kernels load all of a group
	// before they use or store any: one load in flight per warp (a load,
	// then a store the compiler cannot move it past) keeps HBM well under
	// half busy. Constant indices only, so that ks stays in registers.
	__device__ __forceinline__ int take4(int hi, i64* ks) {
		int m = 0;
		for (int j = 0; j < 4; j++)
			if (i < hi) {
				ks[j] = k;
				next();
				m++;
			}
		return m;
	}
};

// bnCombine adds channel c's S partial pairs and returns both sums to
// every thread of the block. Warp 0 loads them in parallel (lane l: chunks
// l, l+32, ...) and adds them in a shuffle tree: an order fixed by S alone.
__device__ void bnCombine(const double* part, int c, int S, double* a, double* b) {
	__shared__ double tot[2];
	if (threadIdx.x < 32) {
		const double* p = part + (i64)c * S * 2;
		double s1 = 0, s2 = 0;
		for (int s = threadIdx.x; s < S; s += 32) {
			s1 += p[2 * s];
			s2 += p[2 * s + 1];
		}
		for (int o = 16; o > 0; o >>= 1) {
			s1 += __shfl_down_sync(0xffffffffu, s1, o);
			s2 += __shfl_down_sync(0xffffffffu, s2, o);
		}
		if (threadIdx.x == 0) {
			tot[0] = s1;
			tot[1] = s2;
		}
	}
	__syncthreads();
	*a = tot[0];
	*b = tot[1];
}
// END multiblock

extern "C" {

__global__ void add_bias(float* y, const float* b, i64 n, int C, int HW) {
	GRID_STRIDE(i, n) y[i] += b[((unsigned)i / (unsigned)HW) % (unsigned)C];
}

// bias_grad: db[c] = sum over batch and space of dy (one block per channel).
__global__ void bias_grad(const float* dy, float* db, int B, int C, int HW) {
	int c = blockIdx.x, n = B * HW;
	double s = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) s += dy[chanIndex(i, c, C, HW)];
	s = blockSum(s);
	if (threadIdx.x == 0) db[c] = (float)s;
}

// bn_train: batch statistics of channel c (one block per channel), the
// normalised output (with relu set, max(0, .) of it: a BatchNorm whose only
// consumer is a ReLU runs fused), the saved mean and 1/std for backward and,
// when update is set, PyTorch's running-statistics update (unbiased
// variance). Sum and sum of squares in one pass, in double.
__global__ void bn_train(const float* x, float* y, const float* gamma, const float* beta, float* rmean, float* rvar,
                         float* smean, float* sinv, int B, int C, int HW, float eps, float mom, int update, int relu,
                         const float* cb) {
	int c = blockIdx.x, n = B * HW;
	double s = 0, s2 = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		double v = x[chanIndex(i, c, C, HW)];
		s += v;
		s2 += v * v;
	}
	s = blockSum(s);
	s2 = blockSum(s2);
	double mean = s / n;
	double var = s2 / n - mean * mean;
	if (var < 0) var = 0;
	float inv = (float)(1.0 / sqrt(var + (double)eps));
	float g = gamma[c], bt = beta[c], mf = (float)mean;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		i64 k = chanIndex(i, c, C, HW);
		float v = (x[k] - mf) * inv * g + bt; // reluPasses' expression
		y[k] = (relu && !(v > 0.f)) ? 0.f : v;
	}
	if (threadIdx.x == 0) bnSave(c, n, mean, var, inv, smean, sinv, rmean, rvar, mom, update, cb);
}

// bn_train_back: gamma/beta gradients and (dx != 0) the input gradient.
// With rb != 0 (a fused ReLU; rb is beta) the incoming gradient is dy
// where the ReLU passed its input and 0 elsewhere: reluPasses recomputes
// that from x instead of reading the ReLU's output, one pass less.
__global__ void bn_train_back(const float* x, const float* dy, const float* rb, const float* gamma, const float* smean,
                              const float* sinv, float* dx, float* dgamma, float* dbeta, int B, int C, int HW, int acc) {
	int c = blockIdx.x, n = B * HW;
	float mean = smean[c], inv = sinv[c], g = gamma[c], bt = rb ? rb[c] : 0.f;
	double sdy = 0, sdyx = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		i64 k = chanIndex(i, c, C, HW);
		float d = dy[k];
		if (rb && !reluPasses(x[k], mean, inv, g, bt)) d = 0.f;
		sdy += d;
		sdyx += (double)d * ((x[k] - mean) * inv);
	}
	sdy = blockSum(sdy);
	sdyx = blockSum(sdyx);
	if (threadIdx.x == 0) {
		dgamma[c] = (float)sdyx;
		dbeta[c] = (float)sdy;
	}
	if (dx == 0) return;
	float k1 = gamma[c] * inv / n, a = (float)sdy, b = (float)sdyx;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		i64 k = chanIndex(i, c, C, HW);
		float d = dy[k];
		if (rb && !reluPasses(x[k], mean, inv, g, bt)) d = 0.f;
		float xh = (x[k] - mean) * inv;
		ACC(dx[k], k1 * (n * d - a - xh * b));
	}
}

// Multi-block BatchNorm (the default; POSELAB_CUDA_BN=legacy selects the
// one-block-per-channel kernels above). Grid (S, C): block (s, c) covers
// elements [s*chunk, min(n, (s+1)*chunk)) of channel c. The reduce kernels
// write per-block partial sums (double) to part[(c*S + s)*2 + {0, 1}];
// the apply kernels' blocks each add their channel's S partials in an
// order fixed by S (bnCombine), so the result has the same bits in every
// block and every run: no float atomics anywhere.
//
// Memory traffic per BatchNorm of n*C floats: forward reads x twice and
// writes y once (3 passes; a 32x256x64x64 tensor is 134 MB, about 40 us a
// pass at the H100's ~3.3 TB/s); backward reads x and dy in the reduce
// and again (dx too when acc) in the apply, writing dx: 5 or 6 passes (a
// fused ReLU's mask is recomputed from x, not read). The old kernels moved
// the same bytes but from only C blocks.

// BEGIN multiblock
// bn_stats: sum and sum of squares of one chunk of a channel.
__global__ void bn_stats(const float* x, double* part, int B, int C, int HW, int S, int chunk) {
	int c = blockIdx.y, lo, hi;
	chunkBounds(B * HW, chunk, &lo, &hi);
	double s = 0, s2 = 0;
	ChanWalk w(lo, c, C, HW);
	i64 ks[4];
	for (int m; (m = w.take4(hi, ks)) > 0;) {
		float v[4];
		for (int j = 0; j < 4; j++)
			if (j < m) v[j] = x[ks[j]];
		for (int j = 0; j < 4; j++)
			if (j < m) {
				s += (double)v[j];
				s2 += (double)v[j] * v[j];
			}
	}
	s = blockSum(s);
	s2 = blockSum(s2);
	if (threadIdx.x == 0) {
		part[((i64)c * S + blockIdx.x) * 2] = s;
		part[((i64)c * S + blockIdx.x) * 2 + 1] = s2;
	}
}

// bn_apply: bn_train's output for one chunk from bn_stats' partials (mean
// and 1/std computed as bn_train does); block s == 0 saves mean and 1/std
// and updates the running statistics.
__global__ void bn_apply(const float* x, float* y, const float* gamma, const float* beta, float* rmean, float* rvar,
                         float* smean, float* sinv, const double* part, int B, int C, int HW, int S, int chunk, float eps,
                         float mom, int update, int relu, const float* cb) {
	int c = blockIdx.y, n = B * HW, lo, hi;
	chunkBounds(n, chunk, &lo, &hi);
	double s, s2;
	bnCombine(part, c, S, &s, &s2);
	double mean = s / n;
	double var = s2 / n - mean * mean;
	if (var < 0) var = 0;
	float inv = (float)(1.0 / sqrt(var + (double)eps));
	float g = gamma[c], bt = beta[c], mf = (float)mean;
	ChanWalk w(lo, c, C, HW);
	i64 ks[4];
	for (int m; (m = w.take4(hi, ks)) > 0;) {
		float v[4];
		for (int j = 0; j < 4; j++)
			if (j < m) v[j] = x[ks[j]];
		for (int j = 0; j < 4; j++)
			if (j < m) {
				float o = (v[j] - mf) * inv * g + bt; // reluPasses' expression
				y[ks[j]] = (relu && !(o > 0.f)) ? 0.f : o;
			}
	}
	if (blockIdx.x == 0 && threadIdx.x == 0) bnSave(c, n, mean, var, inv, smean, sinv, rmean, rvar, mom, update, cb);
}

// bn_back_reduce: sum(dy') and sum(dy' * xhat) of one chunk (dy' is dy
// masked as in bn_train_back when rb != 0).
__global__ void bn_back_reduce(const float* x, const float* dy, const float* rb, const float* gamma, const float* smean,
                               const float* sinv, double* part, int B, int C, int HW, int S, int chunk) {
	int c = blockIdx.y, lo, hi;
	chunkBounds(B * HW, chunk, &lo, &hi);
	float mean = smean[c], inv = sinv[c], g = gamma[c], bt = rb ? rb[c] : 0.f;
	double sdy = 0, sdyx = 0;
	ChanWalk w(lo, c, C, HW);
	i64 ks[4];
	for (int m; (m = w.take4(hi, ks)) > 0;) {
		float d[4], xv[4];
		for (int j = 0; j < 4; j++)
			if (j < m) {
				d[j] = dy[ks[j]];
				xv[j] = x[ks[j]];
			}
		for (int j = 0; j < 4; j++)
			if (j < m) {
				if (rb && !reluPasses(xv[j], mean, inv, g, bt)) d[j] = 0.f;
				sdy += d[j];
				sdyx += (double)d[j] * ((xv[j] - mean) * inv);
			}
	}
	sdy = blockSum(sdy);
	sdyx = blockSum(sdyx);
	if (threadIdx.x == 0) {
		part[((i64)c * S + blockIdx.x) * 2] = sdy;
		part[((i64)c * S + blockIdx.x) * 2 + 1] = sdyx;
	}
}

// bn_back_apply: block s == 0 writes dgamma and dbeta; with dx != 0 every
// block writes (acc: adds) its chunk of the input gradient. With dx == 0
// the host launches only the s == 0 blocks (grid (1, C)).
__global__ void bn_back_apply(const float* x, const float* dy, const float* rb, const float* gamma, const float* smean,
                              const float* sinv, const double* part, float* dx, float* dgamma, float* dbeta, int B, int C,
                              int HW, int S, int chunk, int acc) {
	int c = blockIdx.y, n = B * HW, lo, hi;
	chunkBounds(n, chunk, &lo, &hi);
	double sdy, sdyx;
	bnCombine(part, c, S, &sdy, &sdyx);
	if (blockIdx.x == 0 && threadIdx.x == 0) {
		dgamma[c] = (float)sdyx;
		dbeta[c] = (float)sdy;
	}
	if (dx == 0) return;
	float mean = smean[c], inv = sinv[c], g = gamma[c], bt = rb ? rb[c] : 0.f;
	float k1 = g * inv / n, a = (float)sdy, b = (float)sdyx;
	ChanWalk w(lo, c, C, HW);
	i64 ks[4];
	for (int m; (m = w.take4(hi, ks)) > 0;) {
		float d[4], xv[4], old[4];
		for (int j = 0; j < 4; j++)
			if (j < m) {
				d[j] = dy[ks[j]];
				xv[j] = x[ks[j]];
				old[j] = acc ? dx[ks[j]] : 0.f;
			}
		for (int j = 0; j < 4; j++)
			if (j < m) {
				if (rb && !reluPasses(xv[j], mean, inv, g, bt)) d[j] = 0.f;
				dx[ks[j]] = old[j] + k1 * (n * d[j] - a - (xv[j] - mean) * inv * b);
			}
	}
}

// bias_part: one chunk's sum of dy into part[c*S + s] (grid (S, C)).
__global__ void bias_part(const float* dy, double* part, int B, int C, int HW, int S, int chunk) {
	int c = blockIdx.y, lo, hi;
	chunkBounds(B * HW, chunk, &lo, &hi);
	double s = 0;
	ChanWalk w(lo, c, C, HW);
	i64 ks[4];
	for (int m; (m = w.take4(hi, ks)) > 0;) {
		float v[4];
		for (int j = 0; j < 4; j++)
			if (j < m) v[j] = dy[ks[j]];
		for (int j = 0; j < 4; j++)
			if (j < m) s += v[j];
	}
	s = blockSum(s);
	if (threadIdx.x == 0) part[(i64)c * S + blockIdx.x] = s;
}

// bias_final: db[c] = the sum of channel c's S partials, in order.
__global__ void bias_final(const double* part, float* db, int C, int S) {
	GRID_STRIDE(c, C) {
		double s = 0;
		for (int k = 0; k < S; k++) s += part[c * S + k];
		db[c] = (float)s;
	}
}
// END multiblock

// bn_eval: y = (x - running mean) / sqrt(running var + eps) * gamma + beta
// (then max(0, .) with relu set); cb (may be null) is a convolution bias
// left out of x, added first.
__global__ void bn_eval(const float* x, float* y, const float* gamma, const float* beta, const float* rmean,
                        const float* rvar, i64 n, int C, int HW, float eps, int relu, const float* cb) {
	GRID_STRIDE(i, n) {
		int c = ((unsigned)i / (unsigned)HW) % (unsigned)C;
		float inv = rsqrtf(rvar[c] + eps);
		float xv = cb ? x[i] + cb[c] : x[i];
		float v = (xv - rmean[c]) * inv * gamma[c] + beta[c];
		y[i] = (relu && !(v > 0.f)) ? 0.f : v;
	}
}

__global__ void relu_fwd(const float* x, float* y, i64 n) {
	GRID_STRIDE(i, n) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

__global__ void relu_back(const float* y, const float* dy, float* dx, i64 n, int acc) {
	GRID_STRIDE(i, n) ACC(dx[i], y[i] > 0.f ? dy[i] : 0.f);
}

// dropout_fwd: inverted dropout with the shared mask hash; train == 0 is
// the identity. The step comes from the control block.
__global__ void dropout_fwd(const float* x, float* y, i64 n, u64 seed, const Ctrl* ctl, u64 node, double p,
                            float scale, int train) {
	u64 step = ctl->step;
	GRID_STRIDE(i, n) {
		if (!train) y[i] = x[i];
		else y[i] = dropKeep(seed, step, node, (u64)i, p) ? x[i] * scale : 0.f;
	}
}

__global__ void dropout_back(const float* dy, float* dx, i64 n, u64 seed, const Ctrl* ctl, u64 node, double p,
                             float scale, int acc) {
	u64 step = ctl->step;
	GRID_STRIDE(i, n) ACC(dx[i], dropKeep(seed, step, node, (u64)i, p) ? dy[i] * scale : 0.f);
}

// dropout_mask writes the keep mask (1/0) so the host can test the hash.
__global__ void dropout_mask(float* m, i64 n, u64 seed, u64 step, u64 node, double p) {
	GRID_STRIDE(i, n) m[i] = dropKeep(seed, step, node, (u64)i, p) ? 1.f : 0.f;
}

// addBiased is a[i] + b[i], each first plus its per-channel bias when it
// has one: ba and bb (may be null) are the biases of convolutions feeding
// the Add, left out of their outputs (the plan's BiasInto). The order of
// the additions is add_bias' then add_fwd's, so the bits are the same.
__device__ __forceinline__ float addBiased(const float* a, const float* b, i64 i, const float* ba, const float* bb, int C,
                                           int HW) {
	float av = a[i], bv = b[i];
	if (ba || bb) {
		int c = ((unsigned)i / (unsigned)HW) % (unsigned)C;
		if (ba) av += ba[c];
		if (bb) bv += bb[c];
	}
	return av + bv;
}

__global__ void add_fwd(const float* a, const float* b, float* y, i64 n, const float* ba, const float* bb, int C, int HW) {
	GRID_STRIDE(i, n) y[i] = addBiased(a, b, i, ba, bb, C, HW);
}

// add_relu_fwd: an Add whose only consumer is a ReLU writes the ReLU's
// output (relu_fwd's comparison, so the bits are the same).
__global__ void add_relu_fwd(const float* a, const float* b, float* y, i64 n, const float* ba, const float* bb, int C,
                             int HW) {
	GRID_STRIDE(i, n) {
		float v = addBiased(a, b, i, ba, bb, C, HW);
		y[i] = v > 0.f ? v : 0.f;
	}
}

__global__ void accumulate(const float* dy, float* dx, i64 n, int acc) {
	GRID_STRIDE(i, n) ACC(dx[i], dy[i]);
}

// maxpool_fwd: PyTorch semantics (padding is -inf, first maximum wins);
// idx keeps the winner's flat input index for backward.
__global__ void maxpool_fwd(const float* x, float* y, int* idx, int BC, int H, int W, int OH, int OW, int K, int S, int P) {
	i64 n = (i64)BC * OH * OW;
	GRID_STRIDE(i, n) {
		unsigned u = (unsigned)i, q = u / (unsigned)OW;
		int ow = u - q * OW, oh = q % (unsigned)OH;
		i64 bc = q / (unsigned)OH;
		const float* xp = x + bc * H * W;
		float best = NEG_INF;
		int bi = -1;
		for (int kh = 0; kh < K; kh++) {
			int h = oh * S - P + kh;
			if (h < 0 || h >= H) continue;
			for (int kw = 0; kw < K; kw++) {
				int w = ow * S - P + kw;
				if (w < 0 || w >= W) continue;
				float v = xp[h * W + w];
				if (bi < 0 || v > best || v != v) { best = v; bi = h * W + w; }
			}
		}
		y[i] = best;
		idx[i] = bi;
	}
}

__global__ void maxpool_back(const float* dy, const int* idx, float* dx, int BC, int HW, int OHW) {
	i64 n = (i64)BC * OHW;
	GRID_STRIDE(i, n) {
		int j = idx[i];
		if (j >= 0) atomicAdd(dx + (i64)((unsigned)i / (unsigned)OHW) * HW + j, dy[i]);
	}
}

// maxpool_back_disjoint: windows that do not overlap (K <= S): each input
// element lies in at most one window, so a gather over dx writes every
// element without atomics.
__global__ void maxpool_back_disjoint(const float* dy, const int* idx, float* dx, int BC, int H, int W, int OH, int OW,
                                      int K, int S, int P, int acc) {
	i64 n = (i64)BC * H * W;
	GRID_STRIDE(i, n) {
		unsigned u = (unsigned)i, q = u / (unsigned)W;
		int w = u - q * W, h = q % (unsigned)H;
		i64 bc = q / (unsigned)H;
		int ph = h + P, pw = w + P, oh = ph / S, ow = pw / S;
		float v = 0.f;
		if (ph % S < K && pw % S < K && oh < OH && ow < OW) {
			i64 o = (bc * OH + oh) * OW + ow;
			if (idx[o] == h * W + w) v = dy[o];
		}
		ACC(dx[i], v);
	}
}

// upsample2x: nearest neighbour; output (2H, 2W).
__global__ void upsample_fwd(const float* x, float* y, int BC, int H, int W) {
	i64 n = (i64)BC * 4 * H * W;
	int OW = 2 * W, OH = 2 * H;
	GRID_STRIDE(i, n) {
		unsigned u = (unsigned)i, q = u / (unsigned)OW;
		int ow = u - q * OW, oh = q % (unsigned)OH;
		i64 bc = q / (unsigned)OH;
		y[i] = x[bc * H * W + (oh >> 1) * W + (ow >> 1)];
	}
}

__global__ void upsample_back(const float* dy, float* dx, int BC, int H, int W, int acc) {
	i64 n = (i64)BC * H * W;
	int OW = 2 * W;
	GRID_STRIDE(i, n) {
		unsigned u = (unsigned)i, q = u / (unsigned)W;
		int w = u - q * W, h = q % (unsigned)H;
		i64 bc = q / (unsigned)H;
		const float* d = dy + bc * 4 * H * W + (2 * h) * OW + 2 * w;
		ACC(dx[i], d[0] + d[1] + d[OW] + d[OW + 1]);
	}
}

// gap: mean over HW of each (b, c); one warp per output.
__global__ void gap_fwd(const float* x, float* y, int BC, int HW) {
	i64 warp = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	int lane = threadIdx.x & 31;
	if (warp >= BC) return;
	float s = 0.f;
	for (int k = lane; k < HW; k += 32) s += x[warp * HW + k];
	for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
	if (lane == 0) y[warp] = s / HW;
}

__global__ void gap_back(const float* dy, float* dx, int BC, int HW, int acc) {
	i64 n = (i64)BC * HW;
	float inv = 1.f / HW;
	GRID_STRIDE(i, n) ACC(dx[i], dy[(unsigned)i / (unsigned)HW] * inv);
}

// softargmax_fwd: one block per (b, joint): softmax over the D*H*W volume
// (saved in prob) and its expected (x, y, z) in voxel units.
__global__ void softargmax_fwd(const float* x, float* prob, float* y, int D, int H, int W) {
	int n = D * H * W;
	i64 base = (i64)blockIdx.x * n;
	const float* xp = x + base;
	float* pp = prob + base;
	float m = NEG_INF;
	for (int i = threadIdx.x; i < n; i += blockDim.x) m = fmaxf(m, xp[i]);
	__shared__ float shm[32];
	for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
	if ((threadIdx.x & 31) == 0) shm[threadIdx.x >> 5] = m;
	__syncthreads();
	m = NEG_INF;
	for (int w = 0; w < (int)(blockDim.x >> 5); w++) m = fmaxf(m, shm[w]);
	double s = 0;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float e = expf(xp[i] - m);
		pp[i] = e;
		s += e;
	}
	s = blockSum(s);
	float inv = (float)(1.0 / s);
	double sx = 0, sy = 0, sz = 0;
	int HW = H * W;
	for (int i = threadIdx.x; i < n; i += blockDim.x) {
		float p = pp[i] * inv;
		pp[i] = p;
		int d = i / HW, r = i - d * HW, h = r / W, w = r - h * W;
		sx += (double)p * w;
		sy += (double)p * h;
		sz += (double)p * d;
	}
	sx = blockSum(sx);
	sy = blockSum(sy);
	sz = blockSum(sz);
	if (threadIdx.x == 0) {
		y[blockIdx.x * 3 + 0] = (float)sx;
		y[blockIdx.x * 3 + 1] = (float)sy;
		y[blockIdx.x * 3 + 2] = (float)sz;
	}
}

// BEGIN multiblock
// Multi-block soft-argmax forward. Each volume (b, joint) of n = D*H*W
// values is cut into S chunks, grid (S, B*J): softargmax_stats writes each
// chunk's max and sum of exp(x - max) in one pass (a thread rescales its
// sum when its max grows); softargmax_apply combines its volume's S pairs
// (in the same order in every block), writes the probabilities and the
// chunk's partial expected coordinates; softargmax_final adds those. That
// reads the volume twice and writes it once, where softargmax_fwd reads it
// three times and writes it twice, and fills the GPU: IR's seed model has
// 544 volumes of 262k values, two waves and a sliver of one block each.

// blockMax is the max of m over the block, returned to every thread.
__device__ float blockMax(float m) {
	__shared__ float sh[33];
	for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
	int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	__syncthreads();
	if (lane == 0) sh[w] = m;
	__syncthreads();
	if (w == 0) {
		m = lane < (int)(blockDim.x >> 5) ? sh[lane] : NEG_INF;
		for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_down_sync(0xffffffffu, m, o));
		if (lane == 0) sh[32] = m;
	}
	__syncthreads();
	return sh[32];
}

__global__ void softargmax_stats(const float* x, double* part, int n, int S, int chunk) {
	int lo, hi;
	chunkBounds(n, chunk, &lo, &hi);
	const float* xp = x + (i64)blockIdx.y * n;
	float m = NEG_INF;
	double s = 0;
	for (int i = lo + threadIdx.x; i < hi; i += blockDim.x) {
		float v = xp[i];
		if (v > m) {
			s = s * (double)expf(m - v) + 1.0; // the first value: expf(-inf) = 0
			m = v;
		} else if (v != NEG_INF) { // exp(-inf) adds 0; while m is -inf too it would add NaN
			s += (double)expf(v - m);
		}
	}
	float M = blockMax(m);
	double t = m == NEG_INF ? 0.0 : s * (double)expf(m - M);
	t = blockSum(t);
	if (threadIdx.x == 0) {
		double* q = part + ((i64)blockIdx.y * S + blockIdx.x) * 2;
		q[0] = (double)M;
		q[1] = t;
	}
}

__global__ void softargmax_apply(const float* x, float* prob, const double* part, double* mpart, int n, int S, int chunk,
                                 int H, int W) {
	int lo, hi;
	chunkBounds(n, chunk, &lo, &hi);
	i64 base = (i64)blockIdx.y * n;
	__shared__ float shM;
	__shared__ double shS;
	if (threadIdx.x < 32) { // warp 0: lane l takes chunks l, l+32, ...
		const double* q = part + (i64)blockIdx.y * S * 2;
		float M = NEG_INF;
		for (int s = threadIdx.x; s < S; s += 32) M = fmaxf(M, (float)q[2 * s]);
		for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_down_sync(0xffffffffu, M, o));
		M = __shfl_sync(0xffffffffu, M, 0);
		double t = 0;
		for (int s = threadIdx.x; s < S; s += 32) t += q[2 * s + 1] * (double)expf((float)q[2 * s] - M);
		for (int o = 16; o > 0; o >>= 1) t += __shfl_down_sync(0xffffffffu, t, o);
		if (threadIdx.x == 0) {
			shM = M;
			shS = t;
		}
	}
	__syncthreads();
	float M = shM, inv = (float)(1.0 / shS);
	// The coordinates (d, h, w) of element i, kept up to date with carries
	// instead of two divisions per element.
	int HW = H * W, i = lo + threadIdx.x;
	int d = i / HW, r = i - d * HW, h = r / W, w = r - h * W;
	int sd = blockDim.x / HW, sr = blockDim.x - sd * HW, sh = sr / W, sw = sr - sh * W;
	double sx = 0, sy = 0, sz = 0;
	for (; i < hi; i += blockDim.x) {
		float p = expf(x[base + i] - M) * inv;
		prob[base + i] = p;
		sx += (double)p * w;
		sy += (double)p * h;
		sz += (double)p * d;
		w += sw;
		h += sh;
		d += sd;
		if (w >= W) {
			w -= W;
			h++;
		}
		if (h >= H) {
			h -= H;
			d++;
		}
	}
	sx = blockSum(sx);
	sy = blockSum(sy);
	sz = blockSum(sz);
	if (threadIdx.x == 0) {
		double* q = mpart + ((i64)blockIdx.y * S + blockIdx.x) * 3;
		q[0] = sx;
		q[1] = sy;
		q[2] = sz;
	}
}

// softargmax_final: each volume's expected (x, y, z), its S partials added
// in chunk order (one thread per volume).
__global__ void softargmax_final(const double* mpart, float* y, int BJ, int S) {
	int bj = blockIdx.x * blockDim.x + threadIdx.x;
	if (bj >= BJ) return;
	const double* q = mpart + (i64)bj * S * 3;
	double a = 0, b = 0, c = 0;
	for (int s = 0; s < S; s++) {
		a += q[3 * s];
		b += q[3 * s + 1];
		c += q[3 * s + 2];
	}
	y[bj * 3 + 0] = (float)a;
	y[bj * 3 + 1] = (float)b;
	y[bj * 3 + 2] = (float)c;
}
// END multiblock

// softargmax_back: dx_i += p_i * (g . (c_i - E[c])).
__global__ void softargmax_back(const float* prob, const float* y, const float* dy, float* dx, i64 total, int D, int H, int W,
                                int acc) {
	int n = D * H * W, HW = H * W;
	GRID_STRIDE(i, total) {
		unsigned u = (unsigned)i;
		i64 bj = u / (unsigned)n;
		int r0 = (int)(u - bj * n), d = r0 / HW, r = r0 - d * HW, h = r / W, w = r - h * W;
		const float* g = dy + bj * 3;
		const float* e = y + bj * 3;
		ACC(dx[i], prob[i] * (g[0] * (w - e[0]) + g[1] * (h - e[1]) + g[2] * (d - e[2])));
	}
}

// loss_terms: per-block partial sums of weight * mask * err / n (err = |p-t|
// for kind 0, (p-t)^2 for kind 1) into part[blockIdx.x]; when dp != 0 it
// also writes or adds (acc) the gradient. mask may be 0.
__global__ void loss_terms(const float* p, const float* t, const float* mask, float* dp, double* part, i64 n, int kind,
                           double weight, int acc) {
	double s = 0;
	float sc = (float)(weight / (double)n);
	GRID_STRIDE(i, n) {
		float d = p[i] - t[i];
		float mk = mask ? mask[i] : 1.f;
		s += kind == 0 ? (double)(mk * fabsf(d)) : (double)(mk * d * d);
		if (dp) {
			float g = kind == 0 ? (d > 0.f ? 1.f : (d < 0.f ? -1.f : 0.f)) : 2.f * d;
			ACC(dp[i], sc * mk * g);
		}
	}
	s = blockSum(s);
	if (threadIdx.x == 0) part[blockIdx.x] = s * (weight / (double)n);
}

// loss_reduce: out = (first ? 0 : out) + sum(part) in a fixed order.
__global__ void loss_reduce(const double* part, int nparts, double* out, int first) {
	double s = 0;
	for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += part[i];
	s = blockSum(s);
	if (threadIdx.x == 0) out[0] = (first ? 0.0 : out[0]) + s;
}

// adam: torch.optim.Adam (L2 weight decay added to the gradient, bias
// corrections with t from the control block, eps after sqrt(v_hat)).
__global__ void adam(float* p, const float* g, float* m, float* v, i64 n, const Ctrl* ctl, double b1, double b2,
                     double eps, double wd) {
	double t = ctl->t, lr = ctl->lr;
	double step = lr / (1.0 - pow(b1, t));
	double isq = 1.0 / sqrt(1.0 - pow(b2, t));
	GRID_STRIDE(i, n) {
		double pi = p[i], gi = (double)g[i] + wd * pi;
		double mi = b1 * (double)m[i] + (1.0 - b1) * gi;
		double vi = b2 * (double)v[i] + (1.0 - b2) * gi * gi;
		m[i] = (float)mi;
		v[i] = (float)vi;
		p[i] = (float)(pi - step * mi / (sqrt(vi) * isq + eps));
	}
}

} // extern "C"
`

// withoutMultiblock is the kernel source without the sections between
// "// BEGIN multiblock" and "// END multiblock": the multi-block BatchNorm
// and soft-argmax kernels, new and so far compiled by NVRTC on no GPU. When the whole
// source does not compile, the device falls back to this one and the
// one-block-per-channel kernels (and says so).
func withoutMultiblock(src string) string {
	var out []string
	skip := false
	for _, line := range strings.Split(src, "\n") {
		switch strings.TrimSpace(line) {
		case "// BEGIN multiblock":
			skip = true
			continue
		case "// END multiblock":
			skip = false
			continue
		}
		if !skip {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// multiblockKernels are the kernels only the full source has.
var multiblockKernels = map[string]bool{"bn_stats": true, "bn_apply": true, "bn_back_reduce": true, "bn_back_apply": true,
	"bias_part": true, "bias_final": true, "softargmax_stats": true, "softargmax_apply": true, "softargmax_final": true}

// kernelNames lists every kernel the backend looks up after compiling.
var kernelNames = []string{
	"add_bias", "bias_grad", "bn_train", "bn_train_back", "bn_stats", "bn_apply", "bn_back_reduce", "bn_back_apply",
	"bias_part", "bias_final", "bn_eval", "relu_fwd", "relu_back",
	"dropout_fwd", "dropout_back", "dropout_mask", "add_fwd", "add_relu_fwd", "accumulate", "maxpool_fwd", "maxpool_back",
	"maxpool_back_disjoint", "upsample_fwd", "upsample_back", "gap_fwd", "gap_back", "softargmax_fwd",
	"softargmax_stats", "softargmax_apply", "softargmax_final",
	"softargmax_back", "loss_terms", "loss_reduce", "adam",
}
