package cuda

import (
	"strings"
	"testing"
	"unsafe"

	"poselab/engine/cuda/cu"
	"poselab/models"
	"poselab/nn"
)

func TestPickCandTakesTheFastestThatFits(t *testing.T) {
	list := []algoCand{{algo: 5, ms: 1, ws: 300}, {algo: 2, ms: 1.2, ws: 100}, {algo: 0, ms: 2, ws: 0}}
	for limit, want := range map[uint64]int{1 << 40: 0, 300: 0, 299: 1, 100: 1, 99: 2, 0: 2} {
		if got := pickCand(list, limit); got != want {
			t.Errorf("limit %d: picked %d, want %d", limit, got, want)
		}
	}
	// Nothing fits: the smallest workspace, not the fastest.
	if got := pickCand([]algoCand{{ws: 300}, {ws: 200}, {ws: 250}}, 10); got != 1 {
		t.Errorf("nothing fits: picked %d, want 1 (smallest workspace)", got)
	}
}

// cudnnLike is a search result shaped like cuDNN's on large convolutions:
// the fastest algorithm wants a workspace as large as cx and cy together
// (FFT, non-fused Winograd), the next a tenth of that for 10 % more time,
// implicit GEMM none for 40 % more.
func cudnnLike(what string, cx, cy [4]int) []cu.AlgoPerf {
	b := uint64(4 * (cx[0]*cx[1]*cx[2]*cx[3] + cy[0]*cy[1]*cy[2]*cy[3]))
	ms := float32(b) / 1e9
	return []cu.AlgoPerf{{Algo: 6, Time: ms, Memory: b}, {Algo: 1, Time: 1.1 * ms, Memory: b / 10}, {Algo: 0, Time: 1.4 * ms}}
}

// The seed models at batch 32 on the fake GPU with cuDNN-like searches:
// fitted, the workspaces raise the arena by at most the headroom over the
// plan without them, while the fastest algorithms everywhere raise it by
// far more; large workspaces are still taken where memory is free.
func TestWorkspacesFitUnderThePeak(t *testing.T) {
	sh, _ := models.BuildSH(models.SHPresets["seed"])
	c, _ := models.IRPreset("seed")
	ir, _ := models.IR(c)
	const B = 32
	for name, g := range map[string]*nn.Graph{"sh": sh, "ir": ir} {
		t.Run(name, func(t *testing.T) {
			bare, err := makePlan(g, B)
			if err != nil {
				t.Fatal(err)
			}
			tl := newTimeline(g)
			_, pool := placeSpans(append(bare.activationSpans(g, tl), bare.gradSpans(g, tl)...))
			head := wsHeadroom(pool)
			compile := func(fit string) (*program, map[int32]int) {
				t.Setenv("POSELAB_CUDA_WSFIT", fit)
				d, f := newFakeDevice(t)
				defer close(d.work)
				f.algos = cudnnLike
				pr, err := (&backend{d: d}).Compile(g, nn.Options{Batch: B, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				p := pr.(*handle).p
				if len(f.errs) > 0 {
					t.Fatalf("fake GPU: %v", f.errs)
				}
				algos := map[int32]int{}
				for _, l := range p.convs {
					for prim, need := range [3]bool{l.needFwd, l.needBwdData, l.needBwdFilter} {
						if need {
							algos[[3]int32{l.fwdAlgo, l.bwdDataAlgo, l.bwdFilterAlgo}[prim]]++
						}
					}
				}
				if !strings.Contains(Info(pr), "convolution algorithms: ") {
					t.Errorf("Info does not say how the algorithms were chosen:\n%s", Info(pr))
				}
				return p, algos
			}
			fitted, fitAlgos := compile("")
			fastest, fastAlgos := compile("0")
			gib := func(b int64) float64 { return float64(b) / (1 << 30) }
			t.Logf("arena: %.3f GiB without workspaces, %.3f fitted (algorithms %v), %.3f fastest (%v); headroom %.0f MiB",
				gib(bare.Total), gib(fitted.pl.Total), fitAlgos, gib(fastest.pl.Total), fastAlgos, float64(head)/(1<<20))
			if fitted.pl.Total > bare.Total+head {
				t.Errorf("fitted arena %.3f GiB, more than %.3f GiB without workspaces plus the headroom", gib(fitted.pl.Total), gib(bare.Total))
			}
			if fastest.pl.Total <= fitted.pl.Total+head {
				t.Errorf("fastest algorithms' arena %.3f GiB: the test's workspaces should not fit (fitted %.3f)", gib(fastest.pl.Total), gib(fitted.pl.Total))
			}
			if fitAlgos[6] == 0 || fitAlgos[6] == sumCounts(fitAlgos) || fastAlgos[6] != sumCounts(fastAlgos) {
				t.Errorf("fitted algorithms %v, fastest %v: want the fastest where memory is free and others elsewhere", fitAlgos, fastAlgos)
			}
			if !strings.Contains(fitted.wsNote, "fitted under the step's peak") || !strings.Contains(fastest.wsNote, "not fitted") {
				t.Errorf("notes: %q / %q", fitted.wsNote, fastest.wsNote)
			}
		})
	}
}

func sumCounts(m map[int32]int) (n int) {
	for _, c := range m {
		n += c
	}
	return n
}

// When cuDNN's measured search fails, the heuristic's candidates get their
// workspace sizes asked under their own math type (a TF32 run mixes
// tensor-op and FMA algorithms and pickAlgos runs each under its own), and
// the descriptor's default math type is restored afterwards.
func TestHeuristicWorkspaceUnderCandidateMathType(t *testing.T) {
	d, f := newFakeDevice(t)
	defer close(d.work)
	math := map[uintptr]int32{}
	d.dnn.SetConvMathType = func(cd uintptr, m int32) int32 { math[cd] = m; return 0 }
	d.dnn.FindFwd = func(h, xD uintptr, x uint64, wD uintptr, w uint64, cD, yD uintptr, y uint64, req int32, ret *int32, perf *cu.AlgoPerf, ws uint64, wsb uint64) int32 {
		return 3 // CUDNN_STATUS_BAD_PARAM: the search is not available
	}
	d.dnn.GetFwdV7 = func(h, xD, wD, cD, yD uintptr, req int32, ret *int32, perf *cu.AlgoPerf) int32 {
		n := copy(unsafe.Slice(perf, req), []cu.AlgoPerf{{Algo: 6, MathType: cu.DnnTensorOpMath}, {Algo: 1, MathType: cu.DnnFMAMath}})
		*ret = int32(n)
		return 0
	}
	// The workspace depends on the math type the descriptor holds.
	d.dnn.FwdWS = func(h, xD, wD, cD, yD uintptr, algo int32, size *uint64) int32 {
		*size = uint64(1000*algo) + uint64(math[cD])
		return 0
	}
	b := nn.NewBuilder()
	x := b.Input("x", 3, 8, 8)
	b.Conv2d("c", x, 4, 3, 1, 1, false)
	g := b.Build()
	n := g.Nodes[len(g.Nodes)-1]
	l, err := d.newConvLayer(n, []int{3, 8, 8}, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	l.needFwd = true
	if err := d.measureAlgos(l, convBufs{}, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	c := l.cands[primFwd]
	if c.how != "heuristic" || len(c.list) != 2 {
		t.Fatalf("candidates %+v, want the heuristic's two", c)
	}
	for _, a := range c.list {
		if want := uint64(1000*a.algo) + uint64(a.mathType); a.ws != want {
			t.Errorf("algo %d (math %d): workspace %d, want %d (asked under its own math type)", a.algo, a.mathType, a.ws, want)
		}
	}
	if math[l.fwdD] != cu.DnnDefaultMath {
		t.Errorf("descriptor left with math type %d, want the default (%d)", math[l.fwdD], cu.DnnDefaultMath)
	}
	if len(f.errs) > 0 {
		t.Fatalf("fake GPU: %v", f.errs)
	}
}

// A convolution layer whose descriptors fail part way frees those already
// created, and only those.
func TestConvLayerFailureFreesItsDescriptors(t *testing.T) {
	d, _ := newFakeDevice(t)
	defer close(d.work)
	live := map[uintptr]bool{}
	var next uintptr = 1000
	create := func(h *uintptr) int32 { next++; *h = next; live[next] = true; return 0 }
	destroy := func(h uintptr) int32 {
		if !live[h] {
			t.Errorf("destroy of descriptor %d, not live", h)
		}
		delete(live, h)
		return 0
	}
	d.dnn.CreateTensorDescriptor, d.dnn.CreateFilterDescriptor, d.dnn.CreateConvDescriptor = create, create, create
	d.dnn.DestroyTensorDesc, d.dnn.DestroyFilterDesc, d.dnn.DestroyConvDesc = destroy, destroy, destroy
	sets := 0
	d.dnn.SetConvMathType = func(uintptr, int32) int32 {
		if sets++; sets == 2 {
			return 3 // the second convolution descriptor's math type fails
		}
		return 0
	}
	b := nn.NewBuilder()
	b.Conv2d("c", b.Input("x", 3, 8, 8), 4, 3, 1, 1, false)
	g := b.Build()
	if _, err := d.newConvLayer(g.Nodes[len(g.Nodes)-1], []int{3, 8, 8}, 2, false); err == nil || !strings.Contains(err.Error(), "math type") {
		t.Fatalf("err = %v, want the failing math type named", err)
	}
	if len(live) != 0 {
		t.Errorf("%d descriptors left after the failure", len(live))
	}
}
