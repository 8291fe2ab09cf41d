package models

import (
	"testing"

	"poselab/nn"
)

// Hand count of the paper's network for 17 joints (4,296,755 trainable
// values, "4-5 million" in Martinez et al.): 34*1024+1024 +
// 4*(1024*1024+1024) + 1024*51+51 weights and biases, plus 5 BatchNorms of
// 2*1024 trainable values.
func TestSBParameterCount(t *testing.T) {
	g := SB(DefaultSB)
	trainable, buffers := 0, 0
	for _, p := range g.Params {
		if p.Buffer {
			buffers += nn.Numel(p.Shape)
		} else {
			trainable += nn.Numel(p.Shape)
		}
	}
	want := 34*1024 + 1024 + 4*(1024*1024+1024) + 1024*51 + 51 + 5*2*1024
	if trainable != want {
		t.Fatalf("trainable parameters %d, want %d", trainable, want)
	}
	if buffers != 5*2*1024 {
		t.Fatalf("buffers %d, want %d", buffers, 5*2*1024)
	}
}

func TestSBShapesAndNames(t *testing.T) {
	g := SB(SBConfig{Joints: 17, Hidden: 64, Blocks: 1, Dropout: 0.5, Loss: nn.MSE})
	if got := g.DataInputs(); len(got) != 1 || got[0] != SBInput {
		t.Fatalf("data inputs %v, want [%s]", got, SBInput)
	}
	out := g.Nodes[g.Outputs[SBOutput]]
	if !nn.SameShape(out.Shape, []int{51}) {
		t.Fatalf("output shape %v", out.Shape)
	}
	if len(g.Losses) != 1 || g.Losses[0].Kind != nn.MSE || g.Losses[0].Target != SBTarget {
		t.Fatalf("losses %+v", g.Losses)
	}
	drop, adds := 0, 0
	for _, n := range g.Nodes {
		switch n.Op {
		case nn.OpDropout:
			drop++
			if n.P != 0.5 {
				t.Fatalf("dropout p %g", n.P)
			}
		case nn.OpAdd:
			adds++
		}
	}
	if drop != 3 || adds != 1 {
		t.Fatalf("%d dropouts and %d skip adds, want 3 and 1", drop, adds)
	}
}

func TestSBRejectsBadConfig(t *testing.T) {
	for _, c := range []SBConfig{
		{Joints: 17, Hidden: 0, Blocks: 2, Loss: nn.L1},
		{Joints: 17, Hidden: 8, Blocks: 2, Dropout: 1, Loss: nn.L1},
		{Joints: 17, Hidden: 8, Blocks: 2, Loss: "huber"},
	} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
