package engine

import (
	"fmt"
	"math"
	"math/rand/v2"

	"poselab/datasets"
	"poselab/models"
	"poselab/nn"
	"poselab/pose"
)

// The Integral Regression task (model "ir"): image crop -> volumetric
// heatmaps -> soft-argmax (x, y in heatmap px, z in depth bins). The task
// maps x, y to pixels of the original image through the crop affine and z
// to depth relative to the root over models.IRConfig.DepthRangeMM (+-1000
// mm in both presets), then back-projects with the ground-truth root depth
// (the seed's evaluation path) to a root-relative camera-space pose.
// Training uses Human3.6M-like records plus the MPII-like people (2D
// only: their z weights are 0, and Spine, which MPII lacks, is masked).

func init() {
	RegisterTask("ir", TaskFactory{Presets: irPresets, New: newIRTask})
}

// irPresets: "seed" follows the seed report (Adam 1e-3, x0.1 after epochs
// 270 and 290, 300 epochs; batch 32 as Sun et al.); "tiny" trains on CPU
// in minutes (4 epochs of 2,048 + 1,024 MPII-like crops, about 2 minutes
// an epoch on 2 busy cores; a checkpoint every 50 steps); "test" one epoch
// of the smallest network, for trying a command (README: every model has
// it; the workbench's form offers it for every model).
var irPresets = []Preset{
	{"tiny", func() Spec {
		return Spec{Epochs: 4, Batch: 32, Loss: "l1", DataSize: "tiny", CkptEvery: 50,
			Schedule: Schedule{Kind: "step", BaseLR: 1e-3, Milestones: []int{3}, Gamma: 0.1}}
	}},
	{"seed", func() Spec {
		return Spec{Epochs: 300, Batch: 32, Loss: "l1", DataSize: "seed",
			Schedule: Schedule{Kind: "step", BaseLR: 1e-3, Milestones: []int{270, 290}, Gamma: 0.1}}
	}},
	{"test", func() Spec {
		return Spec{Epochs: 1, Batch: 64, Loss: "l1", DataSize: "tiny",
			Schedule: Schedule{Kind: "constant", BaseLR: 1e-3}}
	}},
}

type irTask struct {
	img   *imageSource
	cfg   models.IRConfig
	graph *nn.Graph
	mean  pose.Pose3D // training mean root-relative pose, for the baseline MPJPE
}

func newIRTask(env TaskEnv) (Task, error) {
	cfg, err := models.IRPreset(env.Spec.Preset)
	if err != nil {
		return nil, err
	}
	if env.Spec.Loss != "" && env.Spec.Loss != "l1" {
		return nil, fmt.Errorf("ir: loss %q not supported (the model is trained with l1)", env.Spec.Loss)
	}
	g, err := models.IR(cfg)
	if err != nil {
		return nil, err
	}
	img, err := newImageSource(env.Data, cfg.Input, true)
	if err != nil {
		return nil, err
	}
	return &irTask{img: img, cfg: cfg, graph: g, mean: img.meanTrainPose()}, nil
}

func (t *irTask) Graph() *nn.Graph                     { return t.graph }
func (t *irTask) Len(split datasets.Split) int         { return t.img.len(split) }
func (t *irTask) State() map[string]*nn.Tensor         { return map[string]*nn.Tensor{} }
func (t *irTask) SetState(map[string]*nn.Tensor) error { return nil }
func (t *irTask) BaselineMPJPE() float64               { return t.img.meanPoseMPJPE(t.mean) }

// Batch renders the crops (augmented with scale, rotation, flip and colour
// gains in training, as Sun et al.) and the targets: x, y in heatmap px, z in depth
// bins; the weight input holds the normalisation 1/W, 1/H, 1/D times the
// joint's mask (0 outside the heatmap, for unlabelled joints, and for z
// of MPII people).
func (t *irTask) Batch(split datasets.Split, idx []int, train bool, seed int64, step int) (nn.Batch, error) {
	n, s, J := len(idx), t.cfg.Input, t.cfg.Joints
	image := nn.NewTensor(n, 3, s, s)
	target := nn.NewTensor(n, J, 3)
	weight := nn.NewTensor(n, J, 3)
	cw := t.cfg.CoordWeights()
	hm := float64(t.cfg.HeatmapSize())
	err := forEachSample(n, func(k int) error {
		i := idx[k]
		aug := irAug{Spec: datasets.CropSpec{Size: s, ScaleAug: 1}, Color: noGain}
		if train && split == datasets.Train {
			aug = irAugment(imageRNG(seed, step, i), s)
		}
		smp, err := t.img.sample(split, i, aug.Spec)
		if err != nil {
			return err
		}
		fillCHW(image.Data[k*3*s*s:(k+1)*3*s*s], smp.crop, aug.Color)
		if !smp.labelled {
			return nil
		}
		for j := 0; j < J; j++ {
			c := datasets.Apply(smp.crop.A, smp.uv[j])
			x, y := c[0]/t.cfg.Stride(), c[1]/t.cfg.Stride()
			z := t.cfg.DepthToBin(smp.relZ[j])
			o := (k*J + j) * 3
			target.Data[o], target.Data[o+1], target.Data[o+2] = float32(x), float32(y), float32(z)
			if smp.mask[j] == 0 || x < 0 || y < 0 || x > hm-1 || y > hm-1 {
				continue
			}
			weight.Data[o], weight.Data[o+1] = float32(cw[0]), float32(cw[1])
			if smp.hasZ {
				weight.Data[o+2] = float32(cw[2])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return nn.Batch{models.IRImage: image, models.IRTarget: target, models.IRWeight: weight}, nil
}

// irAug is one training sample's augmentation: the crop and a gain per
// colour channel.
type irAug struct {
	Spec  datasets.CropSpec
	Color [3]float64
}

// irAugment draws the augmentation of Sun et al.'s code, which the seed
// used: scale 1 + 0.25 * N(0,1) clipped to [0.75, 1.25]; in 60% of samples
// a rotation of 30 * N(0,1) degrees clipped to +-60; a flip in half; and a
// gain per colour channel uniform in [0.8, 1.2].
func irAugment(r *rand.Rand, size int) irAug {
	a := irAug{Spec: datasets.CropSpec{Size: size, ScaleAug: 1 + 0.25*clamp(r.NormFloat64(), -1, 1)}}
	if r.Float64() < 0.6 {
		a.Spec.RotDeg = 30 * clamp(r.NormFloat64(), -2, 2)
	}
	a.Spec.Flip = r.Float64() < 0.5
	for c := range a.Color {
		a.Color[c] = 0.8 + 0.4*r.Float64()
	}
	return a
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

// Decode maps soft-argmax coordinates back to the original image and to
// camera space (see the comment at the top of this file).
func (t *irTask) Decode(split datasets.Split, idx []int, out map[string]*nn.Tensor) ([]Prediction, error) {
	co, ok := out[models.IRCoords]
	J := t.cfg.Joints
	if !ok || co.Check() != nil || len(co.Data) < len(idx)*J*3 {
		return nil, fmt.Errorf("ir: program output %q missing or too small", models.IRCoords)
	}
	preds := make([]Prediction, len(idx))
	for k, i := range idx {
		a, cam, rootZ, isH36M := t.img.geometry(split, i)
		var uv pose.Pose2D
		var rel [pose.NumJoints]float64
		for j := 0; j < J; j++ {
			o := (k*J + j) * 3
			hp := pose.Vec2{float64(co.Data[o]), float64(co.Data[o+1])}
			uv[j] = pose.HeatmapToImage(hp, t.cfg.Stride(), a)
			rel[j] = t.cfg.BinToDepth(float64(co.Data[o+2]))
		}
		// The root's own depth estimate is dropped: depth is relative to it.
		base := rel[pose.Hip]
		for j := range rel {
			rel[j] -= base
		}
		p := Prediction{ID: i, Has2D: true, Pose2D: uv}
		if isH36M {
			p.Has3D = true
			p.Pose3D = pose.RootRelative(pose.LiftWithRootDepth(&cam, uv, rel, rootZ))
		}
		preds[k] = p
	}
	return preds, nil
}

func (t *irTask) Evaluate(split datasets.Split, preds []Prediction) (EpochInfo, error) {
	return t.img.evaluate3D(split, preds, true)
}

// notFinite3D reports a NaN or infinite coordinate: a diverged model's
// poses must not be scored or exported silently.
func notFinite3D(p pose.Pose3D) bool {
	for _, v := range p {
		for _, c := range v {
			if math.IsNaN(c) || math.IsInf(c, 0) {
				return true
			}
		}
	}
	return false
}
