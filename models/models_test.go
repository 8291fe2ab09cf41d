package models

import (
	"math"
	"strings"
	"testing"

	"poselab/nn"
)

// trainable counts the parameters (not buffers) of g.
func trainable(g *nn.Graph) (n int) {
	for _, p := range g.Params {
		if !p.Buffer {
			n += nn.Numel(p.Shape)
		}
	}
	return n
}

func backboneGraph(t *testing.T, cfg ResNetConfig, size int) (*nn.Graph, *nn.Value) {
	t.Helper()
	b := nn.NewBuilder()
	x := b.Input("image", 3, size, size)
	y := ResNet(b, "", x, cfg)
	b.Output("features", y)
	return b.Build(), y
}

// The real ResNets' parameter counts without the classifier, from
// torchvision: resnet18 11,689,512 - fc 513,000; resnet50 25,557,032 -
// fc 2,049,000.
func TestResNetMatchesTorchvisionSizes(t *testing.T) {
	for _, tc := range []struct {
		cfg    ResNetConfig
		params int
		outC   int
	}{
		{ResNetConfig{Depth: 18, Width: 64}, 11689512 - 513000, 512},
		{ResNetConfig{Depth: 50, Width: 64}, 25557032 - 2049000, 2048},
	} {
		g, y := backboneGraph(t, tc.cfg, 224)
		if got := trainable(g); got != tc.params {
			t.Errorf("resnet%d: %d parameters, torchvision has %d", tc.cfg.Depth, got, tc.params)
		}
		if want := []int{tc.outC, 7, 7}; !nn.SameShape(y.Shape, want) {
			t.Errorf("resnet%d: output %v, want %v", tc.cfg.Depth, y.Shape, want)
		}
		if tc.cfg.OutChannels() != tc.outC {
			t.Errorf("OutChannels %d, want %d", tc.cfg.OutChannels(), tc.outC)
		}
	}
}

func TestResNetTorchvisionNames(t *testing.T) {
	g, _ := backboneGraph(t, ResNetConfig{Depth: 50, Width: 64}, 64)
	names := map[string]bool{}
	for _, p := range g.Params {
		names[p.Name] = true
	}
	for _, n := range []string{"conv1.weight", "bn1.running_var", "layer1.0.downsample.0.weight",
		"layer4.2.conv3.weight", "layer3.5.bn2.bias"} {
		if !names[n] {
			t.Errorf("missing parameter %s", n)
		}
	}
	if names["layer1.1.downsample.0.weight"] {
		t.Error("identity block got a downsample")
	}
}

func TestResNetRejectsBadConfig(t *testing.T) {
	for _, c := range []ResNetConfig{{Depth: 19, Width: 8}, {Depth: 18, Width: 0}, {Depth: 18, Width: 8, Blocks: []int{1, 1}}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestIRShapesAndHead(t *testing.T) {
	for _, preset := range []string{"tiny", "seed"} {
		c, err := IRPreset(preset)
		if err != nil {
			t.Fatal(err)
		}
		g, err := IR(c)
		if err != nil {
			t.Fatal(err)
		}
		out := g.Nodes[g.Outputs[IRCoords]]
		if !nn.SameShape(out.Shape, []int{17, 3}) || out.Op != nn.OpSoftArgmax3D || out.Depth != c.Depth {
			t.Errorf("%s: output %v %s depth %d", preset, out.Shape, out.Op, out.Depth)
		}
		vol := g.Nodes[out.Inputs[0]]
		hm := c.HeatmapSize()
		if !nn.SameShape(vol.Shape, []int{17 * c.Depth, hm, hm}) {
			t.Errorf("%s: volume %v, want [%d %d %d]", preset, vol.Shape, 17*c.Depth, hm, hm)
		}
		if hm != c.Input/4 || c.Stride() != 4 {
			t.Errorf("%s: heatmap %d px for %d px input", preset, hm, c.Input)
		}
		// The upsampling is three real transposed convolutions.
		deconvs := 0
		for _, n := range g.Nodes {
			if n.Op == nn.OpConvT2d {
				deconvs++
				if n.K != 4 || n.Stride != 2 || n.Pad != 1 || n.Bias || n.Out != c.DeconvChannels {
					t.Errorf("%s: deconv %+v", preset, n)
				}
			}
		}
		if deconvs != 3 {
			t.Errorf("%s: %d transposed convolutions, want 3", preset, deconvs)
		}
		if ins := strings.Join(g.DataInputs(), ","); ins != IRImage {
			t.Errorf("%s: data inputs %s", preset, ins)
		}
		if len(g.Losses) != 1 || g.Losses[0].Kind != nn.L1 || g.Losses[0].Mask != IRWeight {
			t.Errorf("%s: losses %+v", preset, g.Losses)
		}
	}
	// Sun et al.'s ResNet-50 model: backbone + 2048->256, 256->256, 256->256
	// deconvs (4x4, no bias) + 3 BN + 1x1 conv to 17*64 with bias.
	c, _ := IRPreset("seed")
	g, _ := IR(c)
	want := 23508032 + 2048*256*16 + 2*256*256*16 + 3*2*256 + 256*17*64 + 17*64
	if got := trainable(g); got != want {
		t.Errorf("seed IR has %d parameters, want %d", got, want)
	}
}

func TestIRDepthMapping(t *testing.T) {
	c, _ := IRPreset("seed")
	for _, tc := range []struct{ mm, bin float64 }{{-1000, -0.5}, {1000, 63.5}, {0, 31.5}, {-1000 + 1000.0/64, 0}} {
		if got := c.DepthToBin(tc.mm); math.Abs(got-tc.bin) > 1e-9 {
			t.Errorf("DepthToBin(%g) = %g, want %g", tc.mm, got, tc.bin)
		}
		if got := c.BinToDepth(tc.bin); math.Abs(got-tc.mm) > 1e-9 {
			t.Errorf("BinToDepth(%g) = %g, want %g", tc.bin, got, tc.mm)
		}
	}
	w := c.CoordWeights()
	if w != [3]float64{1.0 / 64, 1.0 / 64, 1.0 / 64} {
		t.Errorf("weights %v", w)
	}
	bad := c
	bad.Input = 100
	if _, err := IR(bad); err == nil {
		t.Error("input 100 px accepted")
	}
	if _, err := IRPreset("huge"); err == nil {
		t.Error("unknown preset accepted")
	}
}

func TestBaselineShapes(t *testing.T) {
	c, err := BaselinePreset("seed")
	if err != nil {
		t.Fatal(err)
	}
	g, err := Baseline(c, nn.L1)
	if err != nil {
		t.Fatal(err)
	}
	out := g.Nodes[g.Outputs[BaselinePose]]
	if !nn.SameShape(out.Shape, []int{51}) || out.Op != nn.OpLinear {
		t.Errorf("output %v %s", out.Shape, out.Op)
	}
	if got, want := trainable(g), 23508032+2048*51+51; got != want {
		t.Errorf("%d parameters, want %d", got, want)
	}
	if _, err := Baseline(c, "huber"); err == nil {
		t.Error("unknown loss accepted")
	}
}

// Each model starts from its reference implementation's init (README,
// "Initialisation"): ResNet convolutions as torchvision's
// kaiming_normal_(mode='fan_out', nonlinearity='relu'), BatchNorm 1 and 0;
// IR's deconvolution head and final 1x1 conv N(0, 0.001^2), that conv's
// bias 0 (Sun et al., Xiao et al.); the baselines' fc and every SH layer
// PyTorch's default.
func TestModelsStartFromTheirReferenceInit(t *testing.T) {
	ir, _ := IRPreset("tiny")
	irg, err := IR(ir)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := BaselinePreset("tiny")
	baseg, err := Baseline(base, nn.L1)
	if err != nil {
		t.Fatal(err)
	}
	shg, err := BuildSH(SHPresets["tiny"])
	if err != nil {
		t.Fatal(err)
	}
	want := func(model string, p nn.ParamSpec) (init string, std float64) {
		switch {
		case p.Buffer:
			return p.Init, p.Std // running statistics: not a layer's init
		case model == "sh", p.Name == "fc.weight", p.Name == "fc.bias":
			return "uniform", 0
		case strings.HasPrefix(p.Name, "backbone.") && len(p.Shape) == 4:
			return "normal", math.Sqrt(2 / float64(p.Shape[0]*p.Shape[2]*p.Shape[3]))
		case strings.HasPrefix(p.Name, "deconv.") && len(p.Shape) == 4, p.Name == "final.weight":
			return "normal", 0.001
		case strings.HasSuffix(p.Name, ".bias"):
			return "zeros", 0 // final's, and BatchNorm's beta
		}
		return "ones", 0 // BatchNorm's gamma
	}
	for model, g := range map[string]*nn.Graph{"ir": irg, "baseline": baseg, "sh": shg} {
		for _, p := range g.Params {
			if model == "sh" && (strings.HasSuffix(p.Name, ".weight") || strings.HasSuffix(p.Name, ".bias")) &&
				(p.Init == "ones" || p.Init == "zeros") {
				continue // BatchNorm
			}
			if init, std := want(model, p); p.Init != init || math.Abs(p.Std-std) > 1e-12*std {
				t.Errorf("%s %s %v: init %s std %g, want %s std %g", model, p.Name, p.Shape, p.Init, p.Std, init, std)
			}
		}
	}

	// The numbers drawn: the largest backbone conv of the tiny IR (128
	// channels of 128x3x3, 147,456 weights), whose sample std is within
	// 0.2% of sqrt(2/fan_out) one time in three (1/sqrt(2n)): 1% is
	// five of those.
	s := nn.InitState(irg, 1)
	w := s.Params["backbone.layer4.0.conv2.weight"]
	var sum, sq float64
	for _, v := range w.Data {
		sum += float64(v)
		sq += float64(v) * float64(v)
	}
	n := float64(len(w.Data))
	std, wantStd := math.Sqrt(sq/n-sum*sum/n/n), math.Sqrt(2.0/(128*9))
	if n != 128*128*9 || math.Abs(std-wantStd) > 0.01*wantStd || math.Abs(sum/n) > 5*wantStd/math.Sqrt(n) {
		t.Errorf("layer4.0.conv2: %g weights, mean %.3g, std %.5f; want %d, 0, sqrt(2/fan_out) = %.5f", n, sum/n, std, 128*128*9, wantStd)
	}
	for _, v := range s.Params["final.weight"].Data {
		if math.Abs(float64(v)) > 0.006 { // 6 std: one in 5e8
			t.Fatalf("final.weight %g: not N(0, 0.001^2)", v)
		}
	}
}
