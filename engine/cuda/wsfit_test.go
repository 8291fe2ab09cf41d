package cuda

import (
	"strings"
	"testing"

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
