package cuda

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"poselab/engine/cpu"
	"poselab/nn"
)

// The tests in this file need a GPU and skip without one. On the GPU
// machine scripts/gpu-check.sh runs them from a prebuilt test binary and
// collects the JSON lines they write to $POSELAB_GPU_OUT/results.jsonl.

func gpuOrSkip(t testing.TB) nn.Backend {
	t.Helper()
	be, err := New()
	if err != nil {
		t.Skipf("no GPU: %v", err)
	}
	return be
}

var recordMu sync.Mutex

// record appends one result line for the device-check summary.
func record(kind string, fields map[string]any) {
	dir := os.Getenv("POSELAB_GPU_OUT")
	if dir == "" {
		return
	}
	fields["kind"] = kind
	if m := os.Getenv("POSELAB_MODE_TAG"); m != "" {
		fields["mode"] = m
	}
	// JSON has no Inf or NaN, and a failing comparison gives them (relErr
	// of a NaN output): record them as strings rather than lose the line.
	finite := func(f float64) bool { return !math.IsInf(f, 0) && !math.IsNaN(f) }
	for k, v := range fields {
		switch v := v.(type) {
		case float64:
			if !finite(v) {
				fields[k] = fmt.Sprint(v)
			}
		case map[string]float64: // a profile
			for kk, f := range v {
				if !finite(f) {
					delete(v, kk)
				}
			}
		}
	}
	b, _ := json.Marshal(fields)
	recordMu.Lock()
	defer recordMu.Unlock()
	f, err := os.OpenFile(filepath.Join(dir, "results.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.Write(append(b, '\n'))
}

// randomBatch fills every input with uniform numbers in [-1, 1); inputs
// named like masks get 0/1 values.
func randomBatch(g *nn.Graph, B int, seed uint64, masks ...string) nn.Batch {
	rng := rand.New(rand.NewPCG(seed, 99))
	isMask := map[string]bool{}
	for _, m := range masks {
		isMask[m] = true
	}
	b := nn.Batch{}
	names := make([]string, 0, len(g.Inputs))
	for name := range g.Inputs {
		names = append(names, name)
	}
	sort.Strings(names) // one rng for all inputs: fill them in a fixed order
	for _, name := range names {
		id := g.Inputs[name]
		t := nn.NewTensor(append([]int{B}, g.Nodes[id].Shape...)...)
		for i := range t.Data {
			if isMask[name] {
				if rng.Float64() < 0.7 {
					t.Data[i] = 1
				}
			} else {
				t.Data[i] = float32(rng.Float64()*2 - 1)
			}
		}
		b[name] = t
	}
	return b
}

// relErr is ||a-b|| / (||b|| + 1e-6 sqrt(n)): relative, with a floor of
// 1e-6 RMS so that gradients that are zero in exact arithmetic (a bias
// right before a BatchNorm) compare by their absolute noise.
func relErr(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d, n float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return math.Inf(1)
		}
		d += (x - y) * (x - y)
		n += y * y
	}
	return math.Sqrt(d) / (math.Sqrt(n) + 1e-6*math.Sqrt(float64(len(a))))
}

type parityCase struct {
	name  string
	B     int
	masks []string
	build func(b *nn.Builder)
}

// parityCases exercise every op forward and backward. Each layer sits
// after a parameterised layer, so its input gradient shows up in that
// layer's weight gradient.
func parityCases() []parityCase {
	return []parityCase{
		{"linear", 5, nil, func(b *nn.Builder) {
			x := b.Input("x", 7)
			b.Input("t", 4)
			b.Loss(nn.MSE, b.Linear("l2", b.Linear("l1", x, 9), 4), "t", "", 1)
		}},
		{"batchnorm1d+relu+dropout", 16, nil, func(b *nn.Builder) {
			x := b.Input("x", 6)
			b.Input("t", 3)
			// The dropout before the BatchNorm keeps l1.bias's gradient away
			// from zero: with a bias feeding a BatchNorm directly (or through
			// a ReLU active on every sample) the exact gradient is 0, and Adam
			// turns the rounding noise of either sign into a full lr step.
			h := b.ReLU(b.BatchNorm("bn", b.Dropout(b.Linear("l1", x, 32), 0.5)))
			b.Loss(nn.L1, b.Linear("l2", h, 3), "t", "", 1)
		}},
		{"conv2d", 3, nil, func(b *nn.Builder) {
			x := b.Input("x", 3, 9, 9)
			b.Input("t", 5, 5, 5)
			h := b.Conv2d("c1", x, 4, 3, 1, 1, true)
			b.Loss(nn.MSE, b.Conv2d("c2", h, 5, 3, 2, 1, false), "t", "", 1)
		}},
		{"conv7x7s2", 2, nil, func(b *nn.Builder) {
			x := b.Input("x", 3, 16, 16)
			b.Input("t", 8, 8, 8)
			h := b.Conv2d("c1", x, 4, 1, 1, 0, false)
			b.Loss(nn.MSE, b.Conv2d("c2", h, 8, 7, 2, 3, true), "t", "", 1)
		}},
		{"convtranspose2d", 3, nil, func(b *nn.Builder) {
			x := b.Input("x", 3, 5, 5)
			b.Input("t", 6, 10, 10)
			h := b.Conv2d("c1", x, 4, 1, 1, 0, true)
			b.Loss(nn.MSE, b.ConvTranspose2d("d", h, 6, 4, 2, 1, true), "t", "", 1)
		}},
		{"batchnorm2d+relu", 4, nil, func(b *nn.Builder) {
			x := b.Input("x", 3, 6, 6)
			b.Input("t", 5, 6, 6)
			b.Loss(nn.MSE, b.ReLU(b.BatchNorm("bn", b.Conv2d("c", x, 5, 3, 1, 1, false))), "t", "", 1)
		}},
		{"maxpool2", 3, nil, func(b *nn.Builder) {
			x := b.Input("x", 2, 8, 8)
			b.Input("t", 4, 4, 4)
			b.Loss(nn.MSE, b.MaxPool2d(b.Conv2d("c", x, 4, 3, 1, 1, true), 2, 2, 0), "t", "", 1)
		}},
		{"maxpool3s2p1", 3, nil, func(b *nn.Builder) {
			x := b.Input("x", 2, 9, 9)
			b.Input("t", 4, 5, 5)
			b.Loss(nn.MSE, b.MaxPool2d(b.Conv2d("c", x, 4, 3, 1, 1, true), 3, 2, 1), "t", "", 1)
		}},
		{"add+relu", 2, nil, func(b *nn.Builder) {
			// A ResNet block's tail: BatchNorm, the shortcut's sum, ReLU.
			x := b.Input("x", 3, 6, 6)
			b.Input("t", 4, 6, 6)
			h := b.Conv2d("c1", x, 4, 3, 1, 1, false)
			s := b.BatchNorm("bn", b.Conv2d("c2", b.ReLU(h), 4, 3, 1, 1, false))
			b.Loss(nn.MSE, b.Conv2d("c3", b.ReLU(b.Add(s, h)), 4, 1, 1, 0, true), "t", "", 1)
		}},
		{"upsample+add", 2, nil, func(b *nn.Builder) {
			x := b.Input("x", 3, 8, 8)
			b.Input("t", 4, 8, 8)
			lo := b.Upsample2x(b.Conv2d("lo", b.MaxPool2d(x, 2, 2, 0), 4, 3, 1, 1, true))
			hi := b.Conv2d("hi", x, 4, 3, 1, 1, true)
			b.Loss(nn.MSE, b.Add(lo, hi), "t", "", 1)
		}},
		{"conv-bias-folded", 3, nil, func(b *nn.Builder) {
			// A pre-activation residual as in the hourglass: each
			// convolution's bias is added by the BatchNorm or Add after it.
			x := b.Input("x", 3, 6, 6)
			b.Input("t", 4, 6, 6)
			h := b.Conv2d("c1", x, 5, 3, 1, 1, true)
			y := b.Conv2d("c2", b.ReLU(b.BatchNorm("bn", h)), 4, 3, 1, 1, true)
			s := b.Conv2d("skip", x, 4, 1, 1, 0, true)
			b.Loss(nn.MSE, b.Add(y, s), "t", "", 1)
		}},
		{"globalavgpool+reshape", 4, nil, func(b *nn.Builder) {
			x := b.Input("x", 3, 5, 5)
			b.Input("t", 2, 3)
			h := b.GlobalAvgPool(b.Conv2d("c", x, 6, 3, 1, 1, true))
			b.Loss(nn.L1, b.Reshape(b.Linear("l", h, 6), 2, 3), "t", "", 1)
		}},
		{"softargmax3d+weighted-l1", 3, nil, func(b *nn.Builder) {
			x := b.Input("x", 3, 4, 5)
			b.Input("t", 2, 3)
			b.Input("w", 2, 3)
			out := b.SoftArgmax3D(b.Conv2d("c", x, 2*3, 1, 1, 0, true), 2, 3)
			b.Output("coords", out)
			b.Loss(nn.L1, out, "t", "w", 2.5)
		}},
		{"masked-mse+two-losses", 3, []string{"m"}, func(b *nn.Builder) {
			x := b.Input("x", 2, 6, 6)
			b.Input("t", 3, 6, 6)
			b.Input("m", 3, 6, 6)
			h1 := b.Conv2d("c1", x, 3, 3, 1, 1, true)
			h2 := b.Conv2d("c2", b.ReLU(h1), 3, 1, 1, 0, true)
			b.Output("h2", h2)
			b.Loss(nn.MSE, h1, "t", "m", 1)
			b.Loss(nn.MSE, h2, "t", "m", 0.5)
		}},
	}
}

// compareMaps checks every tensor of want against got; returns the worst.
func compareMaps(t testing.TB, what string, got, want map[string]*nn.Tensor) (float64, string) {
	t.Helper()
	worst, at := 0.0, ""
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		g := got[k]
		if g == nil {
			t.Errorf("%s: GPU lacks %s", what, k)
			continue
		}
		if e := relErr(g.Data, want[k].Data); e > worst || math.IsNaN(e) {
			worst, at = e, k
		}
	}
	return worst, at
}

// biasesIntoBatchNorm names the biases of the linear layers and
// convolutions whose only consumer is a BatchNorm: their exact gradient is
// zero.
func biasesIntoBatchNorm(g *nn.Graph) []string {
	consumers, exposed := consumersOf(g)
	var names []string
	for _, n := range g.Nodes {
		biased := n.Op == nn.OpLinear || ((n.Op == nn.OpConv2d || n.Op == nn.OpConvT2d) && n.Bias)
		if biased && !exposed[n.ID] && len(consumers[n.ID]) == 1 && g.Nodes[consumers[n.ID][0]].Op == nn.OpBatchNorm {
			names = append(names, n.Name+".bias")
		}
	}
	return names
}

func TestGPUParityWithCPU(t *testing.T) {
	gpu := gpuOrSkip(t)
	for _, c := range parityCases() {
		t.Run(c.name, func(t *testing.T) {
			// Recorded however the case ends: a t.Fatal half way (an error
			// from the GPU) or a t.Errorf that sets no number must still
			// reach the summary, which otherwise counts only the cases
			// that finished and calls parity met.
			res := map[string]any{"case": c.name}
			defer func() {
				if t.Failed() {
					res["failed"] = true
				}
				record("parity", res)
			}()
			for k, v := range runParity(t, cpu.New(), gpu, c, 1e-4) {
				res[k] = v
			}
		})
	}
}

// The parity harness itself, CPU against CPU: every case builds, runs on
// the reference backend and compares equal to itself.
func TestParityCasesRunOnCPU(t *testing.T) {
	for _, c := range parityCases() {
		t.Run(c.name, func(t *testing.T) {
			// Two CPU programs agree to rounding (its BLAS may split sums
			// differently between runs); the GPU is held to 1e-4.
			runParity(t, cpu.New(), cpu.New(), c, 1e-6)
		})
	}
}

// runParity compiles case c on both backends with the same seed and batch
// and compares evaluation outputs, training loss and gradients, the state
// after three Adam steps and the evaluation loss afterwards.
// compilePair compiles g on the reference and the device under test with
// the parity options (Adam eps 1e-3, see runParityGraph) and makes the
// batch both get.
func compilePair(t testing.TB, ref, dut nn.Backend, g *nn.Graph, B int, masks []string) (cp, gp nn.Program, batch nn.Batch) {
	opt := nn.Options{Batch: B, Seed: 7, Adam: nn.Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-3}}
	cp, err := ref.Compile(g, opt)
	if err != nil {
		t.Fatal(err)
	}
	if gp, err = dut.Compile(g, opt); err != nil {
		cp.Close()
		t.Fatal(err)
	}
	return cp, gp, randomBatch(g, B, 11, masks...)
}

// stepBoth runs training step s (lr 1e-2) on both programs and returns
// their states after it.
func stepBoth(t testing.TB, gp, cp nn.Program, batch nn.Batch, s int) (gs, cs *nn.State) {
	for _, p := range []nn.Program{gp, cp} {
		if _, err := p.TrainStep(batch, s, 1e-2); err != nil {
			t.Fatal(err)
		}
	}
	gs, err := gp.State()
	if err != nil {
		t.Fatal(err)
	}
	if cs, err = cp.State(); err != nil {
		t.Fatal(err)
	}
	return gs, cs
}

// predictErr is the worst relative error between the two programs'
// evaluation-mode outputs on batch.
func predictErr(t testing.TB, cp, gp nn.Program, batch nn.Batch) (float64, string) {
	po, err := gp.Predict(batch)
	if err != nil {
		t.Fatal(err)
	}
	co, err := cp.Predict(batch)
	if err != nil {
		t.Fatal(err)
	}
	return compareMaps(t, "predict", po, co)
}

func runParity(t testing.TB, ref, dut nn.Backend, c parityCase, tol float64) map[string]any {
	b := nn.NewBuilder()
	c.build(b)
	return runParityGraph(t, ref, dut, c, b.Build(), tol)
}

// runParityGraph is runParity on a built graph g (c gives its name, batch
// size and mask inputs; c.build is not used).
func runParityGraph(t testing.TB, ref, dut nn.Backend, c parityCase, g *nn.Graph, tol float64) map[string]any {
	if len(g.Outputs) == 0 {
		g.Outputs["pred"] = g.Losses[len(g.Losses)-1].Pred
	}
	// Adam's eps is 1e-3 here, not 1e-8: a gradient that is exactly zero in
	// exact arithmetic (an L1 loss whose signs balance over the batch, a bias
	// before a BatchNorm) comes out as rounding noise of either sign, and
	// with eps 1e-8 Adam turns that noise into a sizeable step. Measured on
	// the CPU alone: float32 vs float64 parameters after these 3 steps differ
	// by 1.1e-2 with eps 1e-8 and by 1.9e-7 with eps 1e-3. The update rule
	// is exercised all the same.
	cp, gp, batch := compilePair(t, ref, dut, g, c.B, c.masks)
	defer cp.Close()
	defer gp.Close()
	res := map[string]any{"case": c.name}
	fail := func(what string, e float64, at string) {
		res[what] = e
		if !(e <= tol) {
			t.Errorf("%s: relative error %.3g at %s (tolerance %g)", what, e, at, tol)
		}
	}
	// Evaluation mode forward.
	e, at := predictErr(t, cp, gp, batch)
	fail("predict", e, at)
	// Training-mode loss and gradients (step 3 selects dropout masks).
	gl, gg, err := gp.Gradients(batch, 3)
	if err != nil {
		t.Fatal(err)
	}
	cl, cg, err := cp.Gradients(batch, 3)
	if err != nil {
		t.Fatal(err)
	}
	fail("train_loss", math.Abs(gl-cl)/(math.Abs(cl)+1e-12), "loss")
	// The bias of a layer whose only consumer is a BatchNorm has an exact
	// gradient of zero (the normalisation removes any per-channel shift),
	// so both backends give rounding noise: it must stay below 1e-6 (rms)
	// on both, and is all there is to compare. Adam turns noise of either
	// sign into a full step, so parameters whose reference gradient is
	// that small are left out of the comparison after the steps too.
	var degenerate []string
	for name, g := range cg {
		if rms(g.Data, nil) < 1e-6 {
			degenerate = append(degenerate, name)
		}
	}
	sort.Strings(degenerate)
	for _, name := range biasesIntoBatchNorm(g) {
		if cg[name] == nil || gg[name] == nil {
			continue
		}
		c, d := rms(cg[name].Data, nil), rms(gg[name].Data, nil)
		if !(c < 1e-6) || !(d < 1e-6) {
			t.Errorf("grads: %s should be zero up to rounding: rms %.2g on the reference, %.2g on the device", name, c, d)
		}
		delete(gg, name)
		delete(cg, name)
	}
	// Other parameters whose reference gradient is below 1e-6 (rms): zero
	// for a reason the rule above does not see (a max-pool or upsampling
	// between the layer and its BatchNorm) or just small: compared
	// absolutely.
	for _, name := range degenerate {
		if cg[name] == nil || gg[name] == nil {
			continue
		}
		if d := rms(gg[name].Data, cg[name].Data); !(d < 1e-6) {
			t.Errorf("grads: %s: rms %.2g on the reference, differs by %.2g (rms) on the device", name, rms(cg[name].Data, nil), d)
		}
		delete(gg, name)
		delete(cg, name)
	}
	e, at = compareMaps(t, "gradients", gg, cg)
	fail("grads", e, at)
	// Three Adam steps, then the whole state.
	var gs, cs *nn.State
	for s := 0; s < 3; s++ {
		gs, cs = stepBoth(t, gp, cp, batch, s)
	}
	for _, name := range degenerate {
		delete(gs.Params, name)
		delete(cs.Params, name)
	}
	if len(degenerate) > 0 {
		res["zero_grad_params_skipped"] = strings.Join(degenerate, " ")
	}
	e, at = compareMaps(t, "params after 3 steps", gs.Params, cs.Params)
	fail("params_after_3_steps", e, at)
	e, at = compareMaps(t, "buffers after 3 steps", gs.Buffers, cs.Buffers)
	fail("buffers_after_3_steps", e, at)
	fail("eval_loss", evalLossErr(t, gp, cp, batch), "loss")
	t.Logf("%v %s", res, Info(gp))
	return res
}

// evalLossErr is the relative difference of the evaluation losses of the
// device's program gp and the reference's cp on batch.
func evalLossErr(t testing.TB, gp, cp nn.Program, batch nn.Batch) float64 {
	t.Helper()
	ge, err := gp.Loss(batch)
	if err != nil {
		t.Fatal(err)
	}
	ce, err := cp.Loss(batch)
	if err != nil {
		t.Fatal(err)
	}
	return math.Abs(ge-ce) / (math.Abs(ce) + 1e-12)
}

// The GPU's dropout masks are nn.DropoutKeep's, bit for bit.
func TestGPUDropoutMaskMatchesNN(t *testing.T) {
	be := gpuOrSkip(t)
	d := be.(*backend).d
	const n = 1 << 20
	got := make([]float32, n)
	for _, c := range []struct {
		seed       int64
		step, node int
		p          float64
	}{{7, 0, 3, 0.5}, {-12345, 77, 41, 0.1}, {math.MaxInt64, 1 << 33, 2, 0.9}} {
		err := d.do(func() error {
			var buf uint64
			if err := d.drv.Check("alloc", d.drv.MemAlloc(&buf, n*4)); err != nil {
				return err
			}
			defer d.drv.MemFree(buf)
			if err := d.launch("dropout_mask", d.gridFor(n), 256, buf, i64(n), u64(uint64(c.seed)), u64(uint64(c.step)), u64(uint64(c.node)), f64(c.p)); err != nil {
				return err
			}
			if err := d.sync(); err != nil {
				return err
			}
			return d.drv.Check("download", d.drv.MemcpyDtoH(unsafePointer(got), buf, n*4))
		})
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for i := range got {
			if (got[i] == 1) != nn.DropoutKeep(c.seed, c.step, c.node, i, c.p) {
				bad++
			}
		}
		record("dropout_mask", map[string]any{"seed": c.seed, "step": c.step, "p": c.p, "mismatches": bad, "n": n})
		if bad != 0 {
			t.Errorf("seed %d step %d: %d of %d mask bits differ from nn.DropoutKeep", c.seed, c.step, bad, n)
		}
	}
}

func TestGPUUtilization(t *testing.T) {
	gpuOrSkip(t)
	u, err := Utilization()
	record("nvml", map[string]any{"util": u, "error": fmt.Sprint(err)})
	if err != nil || u < 0 || u > 100 {
		t.Fatalf("utilization %v, %v", u, err)
	}
	t.Logf("GPU utilization %.0f%%", u)
}

// Replaying the captured CUDA graph gives the eager path's numbers while
// step and lr change between steps.
func TestGPUGraphMatchesEager(t *testing.T) {
	gpu := gpuOrSkip(t)
	b := nn.NewBuilder()
	c := parityCases()[1]
	c.build(b)
	g := b.Build()
	opt := nn.Options{Batch: c.B, Seed: 5}
	run := func(graph string) (*nn.State, []float64, string) {
		t.Setenv("POSELAB_CUDA_GRAPH", graph)
		p, err := gpu.Compile(g, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		batch := randomBatch(g, c.B, 3)
		var losses []float64
		for s := 0; s < 6; s++ {
			l, err := p.TrainStep(batch, s, 1e-2/float64(s+1))
			if err != nil {
				t.Fatal(err)
			}
			losses = append(losses, l)
		}
		st, err := p.State()
		if err != nil {
			t.Fatal(err)
		}
		return st, losses, Info(p)
	}
	sg, lg, info := run("1")
	se, le, _ := run("0")
	t.Logf("graph: %s losses %v, eager %v", info, lg, le)
	worst := 0.0
	for i := range lg {
		worst = math.Max(worst, math.Abs(lg[i]-le[i])/math.Abs(le[i]))
	}
	pe, at := compareMaps(t, "params", sg.Params, se.Params)
	record("graph_vs_eager", map[string]any{"loss_rel": worst, "params_rel": pe, "info": info})
	if worst > 1e-5 || pe > 1e-5 {
		t.Errorf("graph vs eager: loss %.3g, params %.3g at %s", worst, pe, at)
	}
	if sg.AdamStep != 6 || se.AdamStep != 6 {
		t.Errorf("Adam steps %d, %d, want 6", sg.AdamStep, se.AdamStep)
	}
}

func fmtLosses(l []float64) string {
	s := ""
	for i, v := range l {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.4g", v)
	}
	return s
}
