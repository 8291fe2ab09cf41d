package cli

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"poselab/engine"
	"poselab/engine/cpu"
	"poselab/internal/npzfile"
	"poselab/models"
	"poselab/nn"
)

const torchPython = "/usr/bin/python3"

func needTorch(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(torchPython, "-c", "import torch, torchvision").CombinedOutput(); err != nil {
		t.Skipf("PyTorch comparison skipped: %s cannot import torch and torchvision (%v: %s)", torchPython, err, strings.TrimSpace(string(out)))
	}
}

// peerForward writes x as a .npy, runs testdata/peer_forward.py (strict
// load of weights into scripts/peer.py's `call`, eval mode) and returns
// its outputs.
func peerForward(t *testing.T, weights, call string, x *nn.Tensor) map[string]npzArray {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npz")
	b, err := npzfile.NPY(npzfile.Array{Shape: x.Shape, Data: x.Data})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	peerDir, _ := filepath.Abs("../scripts")
	cmd := exec.Command(torchPython, "testdata/peer_forward.py", peerDir, weights, call, in, out)
	msg, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("peer_forward.py %s: %v\n%s", call, err, msg)
	}
	t.Logf("%s: %s", call, strings.TrimSpace(string(msg)))
	return readNPZ(t, out)
}

// relErr is max |got - want| / max |want|, and fails the test above 1e-4.
func relErr(t *testing.T, what string, got npzArray, want *nn.Tensor) float64 {
	t.Helper()
	if !nn.SameShape(got.shape, want.Shape) {
		t.Fatalf("%s: PyTorch shape %v, poselab %v", what, got.shape, want.Shape)
	}
	var diff, scale float64
	for i, w := range want.Data {
		diff = math.Max(diff, math.Abs(float64(got.data[i])-float64(w)))
		scale = math.Max(scale, math.Abs(float64(w)))
	}
	r := diff / scale
	t.Logf("%s: max |PyTorch - poselab| %.3g, max |poselab| %.3g, relative %.3g", what, diff, scale, r)
	if !(r <= 1e-4) {
		t.Errorf("%s: relative error %.3g > 1e-4", what, r)
	}
	return r
}

func randTensor(r *rand.Rand, shape ...int) *nn.Tensor {
	x := nn.NewTensor(shape...)
	for i := range x.Data {
		x.Data[i] = float32(r.NormFloat64())
	}
	return x
}

// The strong check for SB: a run trained and exported through the CLI
// loads into peer.py's SB (the constructor the export prints) with
// strict=True, and PyTorch's eval-mode output on a fixed input matches
// poselab's own prediction with the run's checkpoint on the CPU backend.
func TestExportWeightsTorchSB(t *testing.T) {
	needTorch(t)
	dir := t.TempDir()
	id := trainRun(t, dir, "sb", "test", 0)
	path := filepath.Join(dir, "sb.npz")
	out := mainOK(t, "export", "--run", id, "--weights", path, "--runs-dir", dir)
	m := regexp.MustCompile(`scripts/peer.py's (SB\(.*\))\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("export names no peer constructor: %q", out)
	}
	e, err := engine.Open(engine.Options{RunsDir: dir, StepEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	model, err := e.LoadModel(id) // the best checkpoint, as the export
	if err != nil {
		t.Fatal(err)
	}
	defer model.Close()
	x := randTensor(rand.New(rand.NewPCG(1, 2)), model.Spec.Batch, 34)
	want, err := model.Prog.Predict(nn.Batch{models.SBInput: x})
	if err != nil {
		t.Fatal(err)
	}
	got := peerForward(t, path, m[1], x)
	relErr(t, "SB pose3d", got["out"], want[models.SBOutput])
}

// perturbedState is a fresh state with every BatchNorm's weight, bias and
// running statistics drawn at random, so that a tensor landing in the
// wrong BatchNorm changes the output.
func perturbedState(g *nn.Graph, seed uint64) *nn.State {
	s := nn.InitState(g, int64(seed))
	r := rand.New(rand.NewPCG(seed, 7))
	for _, p := range g.Params {
		t := s.Params[p.Name]
		if p.Buffer {
			t = s.Buffers[p.Name]
		}
		for i := range t.Data {
			switch {
			case strings.HasSuffix(p.Name, ".running_var"):
				t.Data[i] = float32(0.5 + 1.5*r.Float64())
			case strings.HasSuffix(p.Name, ".running_mean"), p.Init == "zeros":
				t.Data[i] = float32(0.3 * r.NormFloat64())
			case p.Init == "ones":
				t.Data[i] = float32(0.6 + 0.8*r.Float64())
			}
		}
	}
	return s
}

// predictCPU compiles g on the CPU backend with state s and predicts x.
func predictCPU(t *testing.T, g *nn.Graph, s *nn.State, input string, x *nn.Tensor) map[string]*nn.Tensor {
	t.Helper()
	prog, err := cpu.New().Compile(g, nn.Options{Batch: x.Shape[0], Seed: 1, Adam: nn.DefaultAdam})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	if err := prog.SetState(s); err != nil {
		t.Fatal(err)
	}
	out, err := prog.Predict(nn.Batch{input: x})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exportState writes g's state s as the export does and returns the path.
func exportState(t *testing.T, model string, g *nn.Graph, s *nn.State) string {
	t.Helper()
	b, _, _, err := engine.EncodeWeights(model, g, s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), model+".npz")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// SH and IR: the test presets are narrower than anything peer.py builds
// (its SH stem is 64/128 channels, its IR a width-64 torchvision ResNet
// with 256-channel deconvolutions), so these build the smallest networks
// both sides express, with random BatchNorm statistics, export them with
// the export's encoder and compare every stack's heatmaps (SH) and the
// volumetric heatmaps and voxel coordinates (IR).
func TestExportWeightsTorchSH(t *testing.T) {
	needTorch(t)
	cfg := models.SHConfig{Stacks: 2, Features: 16, Depth: 2, Input: 32, Joints: 5, Stem1: 64, Stem2: 128}
	call, err := cfg.PeerCall()
	if err != nil {
		t.Fatal(err)
	}
	g, err := models.BuildSH(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := perturbedState(g, 3)
	x := randTensor(rand.New(rand.NewPCG(3, 4)), 2, 3, cfg.Input, cfg.Input)
	want := predictCPU(t, g, s, models.SHImage, x)
	got := peerForward(t, exportState(t, "sh", g, s), call, x)["out"] // [B, stacks, J, H, W]
	hm := cfg.HeatmapSize()
	per := cfg.Joints * hm * hm
	for st := 0; st < cfg.Stacks; st++ {
		stack := npzArray{shape: []int{2, cfg.Joints, hm, hm}}
		for b := 0; b < 2; b++ {
			off := (b*cfg.Stacks + st) * per
			stack.data = append(stack.data, got.data[off:off+per]...)
		}
		relErr(t, "SH heatmaps of stack "+string(rune('0'+st)), stack, want[models.SHStackPrefix+string(rune('0'+st))])
	}
}

func TestExportWeightsTorchIR(t *testing.T) {
	needTorch(t)
	cfg := models.IRConfig{Backbone: models.ResNetConfig{Depth: 18, Width: 64}, Input: 32, Deconvs: 3, DeconvChannels: 256,
		Depth: 4, Joints: 3, DepthRangeMM: 1000}
	call, err := cfg.PeerCall()
	if err != nil {
		t.Fatal(err)
	}
	g, err := models.IR(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if n.Name == "final" {
			g.Outputs["volume"] = n.ID // also compare what the soft-argmax reads
		}
	}
	s := perturbedState(g, 5)
	for i := range s.Params["final.weight"].Data {
		s.Params["final.weight"].Data[i] *= 20 // peaked volumes: coordinates that vary
	}
	x := randTensor(rand.New(rand.NewPCG(5, 6)), 2, 3, cfg.Input, cfg.Input)
	want := predictCPU(t, g, s, models.IRImage, x)
	got := peerForward(t, exportState(t, "ir", g, s), call, x)
	relErr(t, "IR volumes", got["volume"], want["volume"])
	relErr(t, "IR coordinates (voxels)", got["out"], want[models.IRCoords])
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range want[models.IRCoords].Data {
		lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
	}
	if hi-lo < 1 {
		t.Errorf("coordinates span only %.3g voxels: the comparison would not see a swapped axis", hi-lo)
	}
}
