package cuda

import (
	"testing"

	"poselab/models"
	"poselab/nn"
)

// The plan gives every BatchNorm room for its mean, 1/std and partial
// sums, and the convolutions' bias gradients one shared scratch region
// that overlaps nothing else.
func TestPlanBatchNormAndBiasScratch(t *testing.T) {
	g, err := models.BuildSH(models.SHPresets["seed"])
	if err != nil {
		t.Fatal(err)
	}
	const B = 32
	p, err := makePlan(g, B)
	if err != nil {
		t.Fatal(err)
	}
	type region struct{ lo, hi int64 }
	var others []region
	for off, n := range planRegions(p) {
		if off != p.Scratch {
			others = append(others, region{off, off + n})
		}
	}
	maxS, biased := 0, 0
	for i, n := range g.Nodes {
		nb := p.Nodes[i]
		C, HW := chw(n.Shape)
		S, _ := bnSplit(B * HW)
		switch {
		case n.Op == nn.OpBatchNorm:
			maxS = max(maxS, S)
			if nb.AuxBytes < bnStatsOff(C)+int64(16*C*S) || bnStatsOff(C)%align != 0 || bnStatsOff(C) < int64(8*C) {
				t.Errorf("BatchNorm %s (C %d, S %d): aux %d bytes, partials at %d", n.Name, C, S, nb.AuxBytes, bnStatsOff(C))
			}
		case (n.Op == nn.OpConv2d || n.Op == nn.OpConvT2d) && n.Bias:
			biased++
			if p.ScratchBytes < int64(8*C*S) {
				t.Errorf("conv %s needs %d bytes of bias scratch, the plan has %d", n.Name, 8*C*S, p.ScratchBytes)
			}
		}
		for _, r := range []region{{nb.Y, nb.N * 4}, {nb.DY, nb.N * 4}, {nb.Aux, nb.AuxBytes}} {
			if r.lo >= 0 {
				others = append(others, region{r.lo, r.lo + r.hi})
			}
		}
	}
	if maxS < 2 || biased == 0 || p.ScratchBytes == 0 {
		t.Fatalf("SH seed at batch %d: largest BatchNorm split %d, %d biased convolutions, scratch %d bytes; the test needs S > 1 and a scratch",
			B, maxS, biased, p.ScratchBytes)
	}
	if p.Scratch%align != 0 {
		t.Errorf("scratch at %d, not %d-byte aligned", p.Scratch, align)
	}
	for _, r := range others {
		if r.lo < p.Scratch+p.ScratchBytes && p.Scratch < r.hi {
			t.Errorf("region [%d, %d) overlaps the scratch [%d, %d)", r.lo, r.hi, p.Scratch, p.Scratch+p.ScratchBytes)
		}
	}
}
