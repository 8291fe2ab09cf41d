package cuda

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"poselab/engine/cuda/cu"
)

// The emulated cuBLAS and cuDNN calls against their definitions, in Go
// float64, so that an emulated parity failure points at the program and
// not at the emulator: column-major sgemm with every transpose, padded
// leading dimensions and beta 0 (the old C is NaN and must not leak) or
// beta != 0 (accumulate); the three convolution primitives with padding,
// stride and beta.

// emuMem allocates n floats on the emulated device, uploads v if given.
func emuMem(t *testing.T, d *device, v []float32, n int) uint64 {
	var p uint64
	if err := d.drv.Check("alloc", d.drv.MemAlloc(&p, uint64(4*n))); err != nil {
		t.Fatal(err)
	}
	if v != nil {
		if err := d.drv.Check("upload", d.drv.MemcpyHtoDAsync(p, unsafe.Pointer(&v[0]), uint64(4*len(v)), d.stream)); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func emuDown(t *testing.T, d *device, p uint64, n int) []float32 {
	out := make([]float32, n)
	if err := d.drv.Check("download", d.drv.MemcpyDtoH(unsafe.Pointer(&out[0]), p, uint64(4*n))); err != nil {
		t.Fatal(err)
	}
	return out
}

func nanFloats(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return v
}

func TestEmulatedSgemm(t *testing.T) {
	d, _ := newEmuDevice(t)
	defer close(d.work)
	rng := rand.New(rand.NewPCG(1, 2))
	const m, n, k = 5, 4, 3
	for _, c := range []struct {
		ta, tb      int32
		alpha, beta float32
	}{{cu.OpN, cu.OpN, 1, 0}, {cu.OpT, cu.OpN, 0.5, 0}, {cu.OpN, cu.OpT, 1, 1}, {cu.OpT, cu.OpT, -2, 0.25}} {
		// Leading dimensions 2 more than the rows they hold.
		arows, acols := m, k
		if c.ta == cu.OpT {
			arows, acols = k, m
		}
		brows, bcols := k, n
		if c.tb == cu.OpT {
			brows, bcols = n, k
		}
		lda, ldb, ldc := arows+2, brows+2, m+2
		A, B := randFloats(rng, lda*acols, -1, 1), randFloats(rng, ldb*bcols, -1, 1)
		C := randFloats(rng, ldc*n, -1, 1)
		if c.beta == 0 {
			C = nanFloats(ldc * n)
		}
		opA := func(i, l int) float64 {
			if c.ta == cu.OpT {
				return float64(A[l+i*lda])
			}
			return float64(A[i+l*lda])
		}
		opB := func(l, j int) float64 {
			if c.tb == cu.OpT {
				return float64(B[j+l*ldb])
			}
			return float64(B[l+j*ldb])
		}
		var got []float32
		if err := d.do(func() error {
			pa, pb, pc := emuMem(t, d, A, len(A)), emuMem(t, d, B, len(B)), emuMem(t, d, C, len(C))
			if err := d.blas.Check("sgemm", d.blas.Sgemm(0, c.ta, c.tb, m, n, k, &c.alpha, pa, int32(lda), pb, int32(ldb), &c.beta, pc, int32(ldc))); err != nil {
				return err
			}
			got = emuDown(t, d, pc, len(C))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < n; j++ {
			for i := 0; i < ldc; i++ {
				g := float64(got[i+j*ldc])
				if i >= m { // padding rows stay as they were
					if math.Float32bits(got[i+j*ldc]) != math.Float32bits(C[i+j*ldc]) {
						t.Fatalf("op %d,%d: padding C[%d,%d] changed to %v", c.ta, c.tb, i, j, g)
					}
					continue
				}
				want := 0.0
				for l := 0; l < k; l++ {
					want += opA(i, l) * opB(l, j)
				}
				want *= float64(c.alpha)
				if c.beta != 0 {
					want += float64(c.beta) * float64(C[i+j*ldc])
				}
				if math.Abs(g-want) > 1e-5 {
					t.Fatalf("op %d,%d alpha %v beta %v: C[%d,%d] = %v, want %v", c.ta, c.tb, c.alpha, c.beta, i, j, g, want)
				}
			}
		}
	}
}

func TestEmulatedConvolutions(t *testing.T) {
	d, _ := newEmuDevice(t)
	defer close(d.work)
	rng := rand.New(rand.NewPCG(3, 4))
	const N, C, H, W, K, R, pad, st = 2, 3, 7, 6, 4, 3, 1, 2
	OH, OW := (H+2*pad-R)/st+1, (W+2*pad-R)/st+1
	nx, nw, ny := N*C*H*W, K*C*R*R, N*K*OH*OW
	x, w, y := randFloats(rng, nx, -1, 1), randFloats(rng, nw, -1, 1), randFloats(rng, ny, -1, 1)
	// ref[kind] is the primitive's exact result: forward y, backward-data
	// dx (from dy = y), backward-filter dw (from x and dy = y).
	fwd, bdata, bfilt := make([]float64, ny), make([]float64, nx), make([]float64, nw)
	for n := 0; n < N; n++ {
		for k := 0; k < K; k++ {
			for oh := 0; oh < OH; oh++ {
				for ow := 0; ow < OW; ow++ {
					yi := ((n*K+k)*OH+oh)*OW + ow
					for c := 0; c < C; c++ {
						for r := 0; r < R; r++ {
							for s := 0; s < R; s++ {
								ih, iw := oh*st-pad+r, ow*st-pad+s
								if ih < 0 || ih >= H || iw < 0 || iw >= W {
									continue
								}
								xi, wi := ((n*C+c)*H+ih)*W+iw, ((k*C+c)*R+r)*R+s
								fwd[yi] += float64(x[xi]) * float64(w[wi])
								bdata[xi] += float64(y[yi]) * float64(w[wi])
								bfilt[wi] += float64(y[yi]) * float64(x[xi])
							}
						}
					}
				}
			}
		}
	}
	for _, beta := range []float32{0, 0.5} {
		alpha := float32(1.5)
		for kind, ref := range [][]float64{fwd, bdata, bfilt} {
			var got, old []float32
			if err := d.do(func() error {
				dn := d.dnn
				var xD, yD, wD, cD uintptr
				dn.CreateTensorDescriptor(&xD)
				dn.CreateTensorDescriptor(&yD)
				dn.CreateFilterDescriptor(&wD)
				dn.CreateConvDescriptor(&cD)
				dn.SetTensor4d(xD, cu.DnnNCHW, cu.DnnFloat, N, C, H, W)
				dn.SetTensor4d(yD, cu.DnnNCHW, cu.DnnFloat, N, K, int32(OH), int32(OW))
				dn.SetFilter4d(wD, cu.DnnFloat, cu.DnnNCHW, K, C, R, R)
				if s := dn.SetConv2d(cD, pad, pad, st, st, 1, 1, cu.DnnCrossCorr, cu.DnnFloat); s != 0 {
					t.Fatalf("SetConv2d: %d", s)
				}
				px, pw, py := emuMem(t, d, x, nx), emuMem(t, d, w, nw), emuMem(t, d, y, ny)
				ws := emuMem(t, d, nil, 64)
				// The output starts as NaN for beta 0 (it must not leak) and
				// as random numbers to accumulate into otherwise.
				var dst uint64
				var st int32
				switch kind {
				case 0:
					old = pick(beta, rng, ny)
					dst = emuMem(t, d, old, ny)
					st = dn.Forward(0, &alpha, xD, px, wD, pw, cD, 1, ws, 256, &beta, yD, dst)
				case 1:
					old = pick(beta, rng, nx)
					dst = emuMem(t, d, old, nx)
					st = dn.BackwardData(0, &alpha, wD, pw, yD, py, cD, 1, ws, 256, &beta, xD, dst)
				default:
					old = pick(beta, rng, nw)
					dst = emuMem(t, d, old, nw)
					st = dn.BackwardFilter(0, &alpha, xD, px, yD, py, cD, 1, ws, 256, &beta, wD, dst)
				}
				if st != 0 {
					t.Fatalf("primitive %d: status %d", kind, st)
				}
				got = emuDown(t, d, dst, len(ref))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			for i, r := range ref {
				want := float64(alpha) * r
				if beta != 0 {
					want += float64(beta) * float64(old[i])
				}
				if g := float64(got[i]); !(math.Abs(g-want) <= 1e-5) {
					t.Fatalf("primitive %d beta %v: element %d = %v, want %v", kind, beta, i, g, want)
				}
			}
		}
	}
}

// pick is NaN for beta 0, else random values.
func pick(beta float32, rng *rand.Rand, n int) []float32 {
	if beta == 0 {
		return nanFloats(n)
	}
	return randFloats(rng, n, -1, 1)
}
