package models

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"poselab/nn"
)

// The seed network's parameters and buffers must be exactly those of the
// PyTorch peer (testdata/sh_peer_2x256_d4.txt is its state_dict, written by
// PyTorch), so that sizes, speed comparisons and weights carry over.
func TestSHSeedMatchesPyTorchPeer(t *testing.T) {
	g, err := BuildSH(SHPresets["seed"])
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/sh_peer_2x256_d4.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		name, shape, _ := strings.Cut(line, " ")
		want[name] = shape
	}
	got := map[string]string{}
	total := 0
	for _, p := range g.Params {
		parts := make([]string, len(p.Shape))
		for i, d := range p.Shape {
			parts[i] = fmt.Sprint(d)
		}
		got[p.Name] = strings.Join(parts, "x")
		total += nn.Numel(p.Shape)
	}
	for name, shape := range want {
		if got[name] != shape {
			t.Errorf("%s: got shape %q, PyTorch %q", name, got[name], shape)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s is not in the PyTorch peer", name)
		}
	}
	if len(want) != 588 || total != 6602658 {
		t.Errorf("%d tensors, %d values; PyTorch has 588 tensors, 6,602,658 values", len(got), total)
	}
}

func TestSHShapesAndLosses(t *testing.T) {
	for _, stacks := range []int{1, 2, 8} {
		c := SHConfig{Stacks: stacks, Features: 16, Depth: 3, Input: 64, Joints: 17, Stem1: 8, Stem2: 16}
		g, err := BuildSH(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Losses) != stacks {
			t.Errorf("%d stacks: %d losses, want one per stack", stacks, len(g.Losses))
		}
		for _, l := range g.Losses {
			if l.Kind != nn.MSE || l.Target != SHTarget || l.Mask != SHMask || l.Weight != 1 {
				t.Errorf("loss %+v", l)
			}
		}
		last := g.Nodes[g.Outputs[SHHeatmaps]]
		if !nn.SameShape(last.Shape, []int{17, 16, 16}) {
			t.Errorf("%d stacks: heatmaps %v, want [17 16 16]", stacks, last.Shape)
		}
		if g.Outputs[SHHeatmaps] != g.Outputs[fmt.Sprintf("%s%d", SHStackPrefix, stacks-1)] {
			t.Errorf("%d stacks: %q is not the last stack", stacks, SHHeatmaps)
		}
		if in := g.DataInputs(); len(in) != 1 || in[0] != SHImage {
			t.Errorf("data inputs %v, want [image]", in)
		}
	}
}

func TestSHPresetsBuildAndBadConfigsFail(t *testing.T) {
	for name, c := range SHPresets {
		if _, err := BuildSH(c); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
	bad := []SHConfig{
		{Stacks: 0, Features: 16, Depth: 2, Input: 32, Joints: 17, Stem1: 8, Stem2: 16},
		{Stacks: 1, Features: 16, Depth: 4, Input: 32, Joints: 17, Stem1: 8, Stem2: 16}, // 8 px heatmaps, 2^4
		{Stacks: 1, Features: 16, Depth: 2, Input: 30, Joints: 17, Stem1: 8, Stem2: 16},
		{Stacks: 1, Features: 1, Depth: 2, Input: 32, Joints: 17, Stem1: 8, Stem2: 16},
	}
	for _, c := range bad {
		if _, err := BuildSH(c); err == nil {
			t.Errorf("%+v built", c)
		}
	}
}
