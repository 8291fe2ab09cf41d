package engine

import (
	"fmt"
	"math"

	"poselab/datasets"
	"poselab/models"
	"poselab/nn"
	"poselab/pose"
)

// The image baseline task (model "baseline", the seed's A and B): a ResNet
// regresses the root-relative camera-space pose (17 x 3, mm) directly from
// the crop. Targets are normalised per coordinate with the training set's
// mean and standard deviation (saved as task state). With Spec.Augment
// (pipeline B) training crops are randomly flipped (left/right joints
// swap, x of the 3D pose mirrors) and rotated about the crop centre, the
// 3D pose rotating consistently about the camera's optical axis.

func init() {
	RegisterTask("baseline", TaskFactory{Presets: baselinePresets, New: newBaselineTask})
}

// baselinePresets: "seed" is a ResNet-50 at 256 px for 100 epochs (the
// seed gives no schedule for its boilerplate: Adam 1e-3, x0.1 after epochs
// 80 and 95); "tiny" 6 epochs of the tiny set (under a minute an epoch on
// 2 cores); "test" one epoch of a 4-channel network at 32 px, for the
// end-to-end tests of pipelines, reports and exports.
var baselinePresets = []Preset{
	{"tiny", func() Spec {
		return Spec{Epochs: 6, Batch: 32, Loss: "l1", DataSize: "tiny", CkptEvery: 50,
			Schedule: Schedule{Kind: "step", BaseLR: 1e-3, Milestones: []int{5}, Gamma: 0.1}}
	}},
	{"seed", func() Spec {
		return Spec{Epochs: 100, Batch: 32, Loss: "l1", DataSize: "seed",
			Schedule: Schedule{Kind: "step", BaseLR: 1e-3, Milestones: []int{80, 95}, Gamma: 0.1}}
	}},
	{"test", func() Spec {
		return Spec{Epochs: 1, Batch: 64, Loss: "l1", DataSize: "tiny",
			Schedule: Schedule{Kind: "constant", BaseLR: 1e-3}}
	}},
}

// baselineRotDeg bounds B's rotation augmentation (degrees).
const baselineRotDeg = 30

type baselineTask struct {
	img       *imageSource
	cfg       models.BaselineConfig
	graph     *nn.Graph
	augment   bool
	mean, std [3 * pose.NumJoints]float64 // target normalisation, mm
	meanPose  pose.Pose3D
}

func newBaselineTask(env TaskEnv) (Task, error) {
	cfg, err := models.BaselinePreset(env.Spec.Preset)
	if err != nil {
		return nil, err
	}
	loss := nn.LossKind(env.Spec.Loss)
	if loss == "" {
		loss = nn.L1
	}
	g, err := models.Baseline(cfg, loss)
	if err != nil {
		return nil, err
	}
	img, err := newImageSource(env.Data, cfg.Input, false)
	if err != nil {
		return nil, err
	}
	t := &baselineTask{img: img, cfg: cfg, graph: g, augment: env.Spec.Augment, meanPose: img.meanTrainPose()}
	t.mean, t.std = baselineStats(img.recs[datasets.Train])
	return t, nil
}

// baselineStats are the per-coordinate mean and standard deviation (mm) of
// the training poses; coordinates that never vary (the root, always 0)
// get std 1 so that they normalise to 0 instead of dividing by zero.
func baselineStats(recs []datasets.Record) (mean, std [3 * pose.NumJoints]float64) {
	var poses []pose.Pose3D
	for _, r := range recs {
		if r.HasLabels {
			poses = append(poses, pose.RootRelative(r.Joints3D))
		}
	}
	m, sd := meanStd(len(poses), 3*pose.NumJoints, func(i, k int) float64 { return poses[i][k/3][k%3] })
	copy(mean[:], m)
	copy(std[:], sd)
	return mean, std
}

func (t *baselineTask) Graph() *nn.Graph             { return t.graph }
func (t *baselineTask) Len(split datasets.Split) int { return t.img.len(split) }
func (t *baselineTask) BaselineMPJPE() float64       { return t.img.meanPoseMPJPE(t.meanPose) }

func (t *baselineTask) State() map[string]*nn.Tensor {
	m, s := nn.NewTensor(len(t.mean)), nn.NewTensor(len(t.std))
	for k := range t.mean {
		m.Data[k], s.Data[k] = float32(t.mean[k]), float32(t.std[k])
	}
	return map[string]*nn.Tensor{"mean": m, "std": s}
}

func (t *baselineTask) SetState(st map[string]*nn.Tensor) error {
	m, s := st["mean"], st["std"]
	if m == nil || s == nil || len(m.Data) != len(t.mean) || len(s.Data) != len(t.std) {
		return fmt.Errorf("baseline: task state needs mean and std of %d values", len(t.mean))
	}
	for k := range t.mean {
		if !(s.Data[k] > 0) {
			return fmt.Errorf("baseline: task state std[%d] = %g is not positive", k, s.Data[k])
		}
		t.mean[k], t.std[k] = float64(m.Data[k]), float64(s.Data[k])
	}
	return nil
}

// baselineAugmentPose applies to a root-relative camera-space pose what
// a crop rotated by rotDeg (counter-clockwise in the image,
// datasets.CropTransform) and then mirrored does to the image: a rotation
// about the optical axis with the crop's matrix, then pose.FlipPose3D.
// Camera X and Y point like image u and v, so the same 2x2 matrix applies.
func baselineAugmentPose(p pose.Pose3D, rotDeg float64, flip bool) pose.Pose3D {
	s, c := math.Sincos(rotDeg * math.Pi / 180)
	var q pose.Pose3D
	for j, v := range p {
		q[j] = pose.Vec3{c*v[0] + s*v[1], -s*v[0] + c*v[1], v[2]}
	}
	if flip {
		q = pose.FlipPose3D(q)
	}
	return q
}

func (t *baselineTask) Batch(split datasets.Split, idx []int, train bool, seed int64, step int) (nn.Batch, error) {
	n, s, J := len(idx), t.cfg.Input, t.cfg.Joints
	image := nn.NewTensor(n, 3, s, s)
	target := nn.NewTensor(n, 3*J)
	err := forEachSample(n, func(k int) error {
		i := idx[k]
		spec := datasets.CropSpec{Size: s, ScaleAug: 1}
		if train && split == datasets.Train && t.augment {
			r := imageRNG(seed, step, i)
			spec.RotDeg = baselineRotDeg * (2*r.Float64() - 1)
			spec.Flip = r.Float64() < 0.5
		}
		smp, err := t.img.sample(split, i, spec)
		if err != nil {
			return err
		}
		fillCHW(image.Data[k*3*s*s:(k+1)*3*s*s], smp.crop, noGain)
		if !smp.labelled {
			return nil
		}
		p := baselineAugmentPose(pose.RootRelative(t.img.recs[split][i].Joints3D), spec.RotDeg, spec.Flip)
		for j := range p {
			for c := 0; c < 3; c++ {
				o := 3*j + c
				target.Data[k*3*J+o] = float32((p[j][c] - t.mean[o]) / t.std[o])
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return nn.Batch{models.BaselineImage: image, models.BaselineTarget: target}, nil
}

func (t *baselineTask) Decode(split datasets.Split, idx []int, out map[string]*nn.Tensor) ([]Prediction, error) {
	o, ok := out[models.BaselinePose]
	J := t.cfg.Joints
	if !ok || o.Check() != nil || len(o.Data) < len(idx)*3*J {
		return nil, fmt.Errorf("baseline: program output %q missing or too small", models.BaselinePose)
	}
	preds := make([]Prediction, len(idx))
	for k, i := range idx {
		var p pose.Pose3D
		for j := range p {
			for c := 0; c < 3; c++ {
				q := 3*j + c
				p[j][c] = float64(o.Data[k*3*J+q])*t.std[q] + t.mean[q]
			}
		}
		preds[k] = Prediction{ID: i, Has3D: true, Pose3D: pose.RootRelative(p)}
	}
	return preds, nil
}

func (t *baselineTask) Evaluate(split datasets.Split, preds []Prediction) (EpochInfo, error) {
	return t.img.evaluate3D(split, preds, false)
}
