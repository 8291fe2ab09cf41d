package cuda

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestGPUBatchNormKernels (GPU only) runs the multi-block BatchNorm and
// bias-gradient kernels next to the legacy ones on SH-, IR- and SB-sized
// tensors: the same results up to summation order, and each family's time
// per call (the A/B that the emulator cannot give).
func TestGPUBatchNormKernels(t *testing.T) {
	be := gpuOrSkip(t)
	d := be.(*backend).d
	for _, s := range []struct {
		name     string
		B, C, HW int
	}{
		{"sh-64x64", 32, 256, 64 * 64},
		{"sh-128x128", 32, 64, 128 * 128},
		{"ir-8x8", 32, 2048, 8 * 8},
		{"sb-1d", 256, 1024, 1},
	} {
		n := s.B * s.C * s.HW
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		x, dy := randFloats(rng, n, -1, 2), randFloats(rng, n, -1, 1)
		gamma, beta := randFloats(rng, s.C, 0.5, 1.5), randFloats(rng, s.C, -0.5, 0.5)
		rm, rv := randFloats(rng, s.C, -0.1, 0.1), randFloats(rng, s.C, 0.5, 2)
		S, _ := bnSplit(s.B * s.HW)
		res := map[string]any{"shape": s.name, "B": s.B, "C": s.C, "HW": s.HW, "S": S}
		outs := map[bool][5][]float32{} // y, dx, dgamma, dbeta, dbias per family
		err := d.do(func() error {
			alloc, free := d.testAllocator()
			defer free()
			var err error
			in := map[string]uint64{}
			for name, v := range map[string][]float32{"x": x, "dy": dy, "gamma": gamma, "beta": beta, "rm": rm, "rv": rv} {
				if in[name], err = alloc(int64(4 * len(v))); err != nil {
					return err
				}
				if err := d.drv.Check("upload", d.drv.MemcpyHtoD(in[name], unsafePointer(v), uint64(4*len(v)))); err != nil {
					return err
				}
			}
			for _, legacy := range []bool{true, false} {
				var y, dx, dg, db, dbias, aux, scratch uint64
				for _, a := range []struct {
					p     *uint64
					bytes int64
				}{{&y, int64(4 * n)}, {&dx, int64(4 * n)}, {&dg, int64(4 * s.C)}, {&db, int64(4 * s.C)}, {&dbias, int64(4 * s.C)},
					{&aux, bnAuxBytes(s.C, S)}, {&scratch, biasScratchBytes(s.C, s.B, s.HW)}} {
					if *a.p, err = alloc(a.bytes); err != nil {
						return err
					}
				}
				fwd := func() error {
					return d.bnTrain(bnFwd{x: in["x"], y: y, gamma: in["gamma"], beta: in["beta"], rmean: in["rm"], rvar: in["rv"], aux: aux,
						B: s.B, C: s.C, HW: s.HW, eps: 1e-5, mom: 0.1, relu: 1}, S, legacy)
				}
				bwd := func() error {
					return d.bnTrainBack(bnBwd{x: in["x"], dy: in["dy"], reluBeta: in["beta"], gamma: in["gamma"], aux: aux, dx: dx, dgamma: dg,
						dbeta: db, B: s.B, C: s.C, HW: s.HW}, S, legacy)
				}
				bias := func() error { return d.biasGrad(in["dy"], dbias, scratch, s.B, s.C, s.HW, S, legacy) }
				family := map[bool]string{true: "legacy", false: "multi"}[legacy]
				for _, k := range []struct {
					name string
					f    func() error
				}{{"fwd", fwd}, {"bwd", bwd}, {"bias", bias}} {
					for i := 0; i < 3; i++ { // warm-up (and the forward's saved statistics for the backward)
						if err := k.f(); err != nil {
							return err
						}
					}
					if err := d.sync(); err != nil {
						return err
					}
					const reps = 20
					t0 := time.Now()
					for i := 0; i < reps; i++ {
						if err := k.f(); err != nil {
							return err
						}
					}
					if err := d.sync(); err != nil {
						return err
					}
					res[family+"_"+k.name+"_ms"] = time.Since(t0).Seconds() * 1e3 / reps
				}
				var o [5][]float32
				if err := d.testDownload(o[:], []uint64{y, dx, dg, db, dbias}, []int{n, n, s.C, s.C, s.C}); err != nil {
					return err
				}
				outs[legacy] = o
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, what := range []string{"y", "dx", "dgamma", "dbeta", "dbias"} {
			e := relErr(outs[false][i], outs[true][i])
			res["rel_"+what] = e
			if !(e <= 1e-4) {
				t.Errorf("%s: multi-block %s differs from legacy by %.3g (relative)", s.name, what, e)
			}
		}
		bytes := float64(4 * n)
		res["multi_fwd_gbs"] = 3 * bytes / (res["multi_fwd_ms"].(float64) * 1e6) // x twice, y once
		record("bn_kernels", res)
		t.Logf("%s: %v", s.name, fmt.Sprint(res))
	}
}

// TestGPUSoftArgmaxKernels (GPU only) runs the multi-block soft-argmax
// forward next to the one-block-per-volume one on the seed IR's volumes
// (32 x 17 joints of 64 x 64 x 64): the same probabilities and
// coordinates up to summation order, and each one's time per call.
func TestGPUSoftArgmaxKernels(t *testing.T) {
	be := gpuOrSkip(t)
	d := be.(*backend).d
	const BJ, D, H, W = 32 * 17, 64, 64, 64
	n := D * H * W
	x := randFloats(rand.New(rand.NewPCG(2, 3)), BJ*n, -4, 4)
	res := map[string]any{"BJ": BJ, "D": D, "H": H, "W": W}
	outs := map[bool][2][]float32{}
	err := d.do(func() error {
		alloc, free := d.testAllocator()
		defer free()
		dx, err := alloc(int64(4 * len(x)))
		if err != nil {
			return err
		}
		if err := d.drv.Check("upload", d.drv.MemcpyHtoD(dx, unsafePointer(x), uint64(4*len(x)))); err != nil {
			return err
		}
		for _, legacy := range []bool{true, false} {
			aux, err := alloc(softArgmaxAuxBytes(BJ, n))
			if err != nil {
				return err
			}
			y, err := alloc(4 * 3 * BJ)
			if err != nil {
				return err
			}
			var t0 time.Time
			for i := 0; i < 23; i++ { // 3 warm-up calls, then 20 timed
				if i == 3 {
					if err := d.sync(); err != nil {
						return err
					}
					t0 = time.Now()
				}
				if err := d.softArgmaxFwd(dx, aux, y, BJ, D, H, W, legacy); err != nil {
					return err
				}
			}
			if err := d.sync(); err != nil {
				return err
			}
			family := map[bool]string{true: "legacy", false: "multi"}[legacy]
			res[family+"_ms"] = time.Since(t0).Seconds() * 1e3 / 20
			var o [2][]float32
			if err := d.testDownload(o[:], []uint64{aux, y}, []int{BJ * n, 3 * BJ}); err != nil {
				return err
			}
			outs[legacy] = o
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"prob", "coords"} {
		e := relErr(outs[false][i], outs[true][i])
		res["rel_"+what] = e
		if !(e <= 1e-4) {
			t.Errorf("multi-block %s differs from legacy by %.3g (relative)", what, e)
		}
	}
	res["multi_gbs"] = 3 * float64(4*BJ*n) / (res["multi_ms"].(float64) * 1e6) // x twice, prob once
	record("softargmax_kernels", res)
	t.Logf("%v", res)
}

// testAllocator returns a device allocator for a test on the GPU
// goroutine and the function that frees everything it allocated.
func (d *device) testAllocator() (alloc func(bytes int64) (uint64, error), free func()) {
	var bufs []uint64
	alloc = func(bytes int64) (uint64, error) {
		var p uint64
		err := d.drv.Check("alloc", d.drv.MemAlloc(&p, uint64(bytes)))
		if err == nil {
			bufs = append(bufs, p)
		}
		return p, err
	}
	free = func() {
		for _, b := range bufs {
			d.drv.MemFree(b)
		}
	}
	return alloc, free
}

// testDownload copies n[i] floats at device address p[i] into out[i].
func (d *device) testDownload(out [][]float32, p []uint64, n []int) error {
	for i := range out {
		out[i] = make([]float32, n[i])
		if err := d.drv.Check("download", d.drv.MemcpyDtoH(unsafePointer(out[i]), p[i], uint64(4*n[i]))); err != nil {
			return err
		}
	}
	return nil
}
