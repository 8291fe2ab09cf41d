// Interactive mode of the kernel emulator ("emu -i ARENA_BYTES"): a live
// Go device (emulate_device_test.go) sends binary commands on stdin and
// reads replies on stdout, so the whole CUDA program (its allocations,
// copies, kernel launches, cuBLAS and cuDNN calls, replayed CUDA graphs)
// runs here in the order the Go side issues it. All numbers are little-
// endian. Commands (a uint32 opcode, then):
//   1 memset32  u64 addr, u32 value, u64 count
//   2 htod      u64 addr, u64 bytes, then the bytes
//   3 dtoh      u64 addr, u64 bytes; reply: the bytes
//   4 dtod      u64 dst, u64 src, u64 bytes
//   5 launch    u32 name length, name, u32 gx gy gz bx nargs, u64 slot...
//   6 sgemm     i32 ta tb m n k lda ldb ldc, f32 alpha beta, u64 A B C
//   7 conv      i32 kind (0 forward, 1 backward data, 2 backward filter),
//               i32 N C H W (x) K R S (filter) pad stride OH OW (y),
//               f32 alpha beta, u64 x w y, u64 workspace, u64 ws bytes
//   8 sync      reply: one byte 'k'
// An error (a pointer outside the arena, a bad command) ends the process
// with a message on stderr; the Go side reports it.

static void emuDispatch(const char *name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, std::vector<uint64_t> a);

static void emuRead(void *p, size_t n) {
	if (std::fread(p, 1, n, stdin) != n) {
		std::fprintf(stderr, "emulator: short read of a command\n");
		std::exit(3);
	}
}
template <class T> static T emuGet() {
	T v;
	emuRead(&v, sizeof v);
	return v;
}

// emuSpan is the host address of [a, a+bytes), all inside the arena.
static unsigned char *emuSpan(uint64_t a, uint64_t bytes, const char *what) {
	if (a < emuBase || a + bytes > emuBase + emuArenaBytes || a + bytes < a) {
		std::fprintf(stderr, "emulator: %s [%#llx, +%llu) is outside the arena\n", what, (unsigned long long)a, (unsigned long long)bytes);
		std::exit(6);
	}
	return emuArena + (a - emuBase);
}

// emuSgemm: column-major C = alpha op(A) op(B) + beta C, as cublasSgemm
// (beta 0 overwrites C whatever it held). Sums in double: this checks the
// program, not cuBLAS's rounding.
static void emuSgemm() {
	int32_t ta = emuGet<int32_t>(), tb = emuGet<int32_t>(), m = emuGet<int32_t>(), n = emuGet<int32_t>(), k = emuGet<int32_t>();
	int32_t lda = emuGet<int32_t>(), ldb = emuGet<int32_t>(), ldc = emuGet<int32_t>();
	float alpha = emuGet<float>(), beta = emuGet<float>();
	uint64_t pa = emuGet<uint64_t>(), pb = emuGet<uint64_t>(), pc = emuGet<uint64_t>();
	int32_t acols = ta ? m : k, bcols = tb ? k : n;
	const float *A = (const float *)emuSpan(pa, 4ull * lda * acols, "sgemm A");
	const float *B = (const float *)emuSpan(pb, 4ull * ldb * bcols, "sgemm B");
	float *C = (float *)emuSpan(pc, 4ull * ldc * n, "sgemm C");
	std::vector<float> out((size_t)m * n);
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) {
			double s = 0;
			for (int l = 0; l < k; l++) {
				double a = ta ? A[l + (size_t)i * lda] : A[i + (size_t)l * lda];
				double b = tb ? B[j + (size_t)l * ldb] : B[l + (size_t)j * ldb];
				s += a * b;
			}
			double v = alpha * s;
			if (beta != 0) v += (double)beta * C[i + (size_t)j * ldc];
			out[i + (size_t)j * m] = (float)v;
		}
	for (int j = 0; j < n; j++)
		for (int i = 0; i < m; i++) C[i + (size_t)j * ldc] = out[i + (size_t)j * m];
}

// emuConv: the three cuDNN convolution primitives, NCHW float32, cross-
// correlation. The workspace is filled with NaN before the primitive
// reads its inputs and again after it wrote its output, so a plan that
// lets a workspace share memory with a live buffer shows up as NaN.
static void emuConv() {
	int32_t kind = emuGet<int32_t>();
	int32_t N = emuGet<int32_t>(), C = emuGet<int32_t>(), H = emuGet<int32_t>(), W = emuGet<int32_t>();
	int32_t K = emuGet<int32_t>(), R = emuGet<int32_t>(), S = emuGet<int32_t>();
	int32_t pad = emuGet<int32_t>(), st = emuGet<int32_t>(), OH = emuGet<int32_t>(), OW = emuGet<int32_t>();
	float alpha = emuGet<float>(), beta = emuGet<float>();
	uint64_t px = emuGet<uint64_t>(), pw = emuGet<uint64_t>(), py = emuGet<uint64_t>();
	uint64_t pws = emuGet<uint64_t>(), wsBytes = emuGet<uint64_t>();
	size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * R * S, ny = (size_t)N * K * OH * OW;
	float *x = (float *)emuSpan(px, 4 * nx, "conv x"), *w = (float *)emuSpan(pw, 4 * nw, "conv w");
	float *y = (float *)emuSpan(py, 4 * ny, "conv y");
	unsigned char *ws = wsBytes ? emuSpan(pws, wsBytes, "conv workspace") : nullptr;
	if (ws) std::memset(ws, 0xFF, wsBytes);
	// out accumulates the primitive's result in double, in the layout of
	// what it writes (y, x or w).
	size_t nout = kind == 0 ? ny : kind == 1 ? nx : nw;
	std::vector<double> out(nout, 0.0);
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					size_t yi = (((size_t)n * K + k) * OH + oh) * OW + ow;
					double acc = 0;
					for (int c = 0; c < C; c++)
						for (int r = 0; r < R; r++) {
							int ih = oh * st - pad + r;
							if (ih < 0 || ih >= H) continue;
							for (int s = 0; s < S; s++) {
								int iw = ow * st - pad + s;
								if (iw < 0 || iw >= W) continue;
								size_t xi = (((size_t)n * C + c) * H + ih) * W + iw;
								size_t wi = (((size_t)k * C + c) * R + r) * S + s;
								switch (kind) {
								case 0: acc += (double)x[xi] * w[wi]; break;
								case 1: out[xi] += (double)y[yi] * w[wi]; break;
								default: out[wi] += (double)y[yi] * x[xi]; break;
								}
							}
						}
					if (kind == 0) out[yi] = acc;
				}
	float *dst = kind == 0 ? y : kind == 1 ? x : w;
	for (size_t i = 0; i < nout; i++) {
		double v = alpha * out[i];
		if (beta != 0) v += (double)beta * dst[i];
		dst[i] = (float)v;
	}
	if (ws) std::memset(ws, 0xFF, wsBytes);
}

static int emuServe(uint64_t arenaBytes) {
	// calloc of a large block maps zero pages lazily: the arena costs only
	// what the program touches.
	emuArena = (unsigned char *)std::calloc(arenaBytes, 1);
	emuArenaBytes = arenaBytes;
	if (!emuArena) {
		std::fprintf(stderr, "emulator: no memory for a %llu byte arena\n", (unsigned long long)arenaBytes);
		return 3;
	}
	uint32_t op;
	std::vector<unsigned char> buf;
	while (std::fread(&op, 4, 1, stdin) == 1) {
		switch (op) {
		case 1: {
			uint64_t a = emuGet<uint64_t>();
			uint32_t v = emuGet<uint32_t>();
			uint64_t n = emuGet<uint64_t>();
			uint32_t *p = (uint32_t *)emuSpan(a, 4 * n, "memset");
			for (uint64_t i = 0; i < n; i++) p[i] = v;
			break;
		}
		case 2: {
			uint64_t a = emuGet<uint64_t>(), n = emuGet<uint64_t>();
			emuRead(emuSpan(a, n, "upload"), n);
			break;
		}
		case 3: {
			uint64_t a = emuGet<uint64_t>(), n = emuGet<uint64_t>();
			std::fwrite(emuSpan(a, n, "download"), 1, n, stdout);
			std::fflush(stdout);
			break;
		}
		case 4: {
			uint64_t dst = emuGet<uint64_t>(), src = emuGet<uint64_t>(), n = emuGet<uint64_t>();
			std::memmove(emuSpan(dst, n, "copy destination"), emuSpan(src, n, "copy source"), n);
			break;
		}
		case 5: {
			uint32_t len = emuGet<uint32_t>();
			if (len > 127) return 3;
			char name[128];
			emuRead(name, len);
			name[len] = 0;
			unsigned gx = emuGet<uint32_t>(), gy = emuGet<uint32_t>(), gz = emuGet<uint32_t>(), bx = emuGet<uint32_t>();
			uint32_t na = emuGet<uint32_t>();
			std::vector<uint64_t> a(na);
			if (na) emuRead(a.data(), 8ull * na);
			emuDispatch(name, gx, gy, gz, bx, a);
			break;
		}
		case 6: emuSgemm(); break;
		case 7: emuConv(); break;
		case 8:
			std::fputc('k', stdout);
			std::fflush(stdout);
			break;
		default:
			std::fprintf(stderr, "emulator: unknown command %u\n", op);
			return 3;
		}
	}
	return 0;
}
