package engine

import (
	"fmt"
	"math"

	"poselab/datasets"
	"poselab/datasets/mpii"
	"poselab/engine/shdata"
	"poselab/models"
	"poselab/nn"
	"poselab/pose"
)

// The Stacked Hourglass task (model "sh"): image crop -> 17 heatmaps at a
// quarter of the input -> 2D joints in pixels of the original image. It
// trains on the Human3.6M-like records mixed with the MPII-like people
// (mapped to the 17 joints, Spine masked), as the seed did, and its
// outputs (2D for train, val and test records) feed the Simple Baseline of
// pipelines D and E.
//
// Sample indices: train = Human3.6M train records, then MPII train people;
// val = Human3.6M val records, then MPII val people (for PCKh); test =
// Human3.6M test records. Predictions of MPII people carry IDs after the
// records' (consumers index outputs by record ID and ignore the rest).

func init() {
	RegisterTask("sh", TaskFactory{Presets: shPresets, New: newSHTask, Pixels: true})
}

// shModelPresets maps a run preset to the network size. "seed-n1" and
// "seed-n8" are the seed network with 1 and 8 stacks.
var shModelPresets = map[string]string{
	"seed": "seed", "seed-n1": "seed", "seed-n8": "seed", "tiny": "tiny", "test": "test",
}

func shConfig(preset string) (models.SHConfig, error) {
	name, ok := shModelPresets[preset]
	if !ok {
		return models.SHConfig{}, fmt.Errorf("sh: unknown preset %q (tiny, seed, seed-n1, seed-n8, test)", preset)
	}
	c := models.SHPresets[name]
	switch preset {
	case "seed-n1":
		c.Stacks = 1
	case "seed-n8":
		c.Stacks = 8
	}
	return c, nil
}

// shPresets: "seed" is the seed report's training (batch 6, Adam 5e-4, x0.1
// after epochs 20 and 30, 70 epochs), also of "seed-n1" and "seed-n8" (its
// network with 1 and 8 stacks); "tiny" trains the small network on the
// tiny synthetic set on a CPU in minutes; "test" is for unit tests. Each
// name is also one of shModelPresets (a network size).
var shPresets = []Preset{
	{"tiny", func() Spec {
		// Measured on the tiny synthetic set (64 px crops, 2 shared cores):
		// 5e-3 learns faster than 2e-3 (val 31.1 px / PCKh 43.2 against
		// 31.9 px / 40.1 after 6 epochs) and the error still falls at 6.
		return Spec{Epochs: 8, Batch: 16, Loss: "mse", DataSize: "tiny",
			Schedule: Schedule{Kind: "step", BaseLR: 5e-3, Milestones: []int{6}, Gamma: 0.1}}
	}},
	{"seed", shSeedPreset},
	{"seed-n1", shSeedPreset},
	{"seed-n8", shSeedPreset},
	{"test", func() Spec {
		return Spec{Epochs: 2, Batch: 8, Loss: "mse", DataSize: "tiny",
			Schedule: Schedule{Kind: "constant", BaseLR: 5e-3}}
	}},
}

func shSeedPreset() Spec {
	return Spec{Epochs: 70, Batch: 6, Loss: "mse", DataSize: "seed",
		Schedule: Schedule{Kind: "step", BaseLR: 5e-4, Milestones: []int{20, 30}, Gamma: 0.1}}
}

type shTask struct {
	cfg   models.SHConfig
	graph *nn.Graph
	data  datasets.Dataset
	recs  map[datasets.Split][]datasets.Record
	mpii  map[datasets.Split][]datasets.MPIIRecord // train and val
	// evalA holds the affine of each unaugmented crop served, so that
	// Decode maps heatmaps back exactly as the data set cut the crop.
	evalA map[datasets.Split]map[int][2][3]float64
	// shown keeps the crops and heatmaps of the first validation samples
	// for the TUI's sample view.
	shownCrop map[int]*datasets.Crop
	shownHM   map[int][]float32
	// meanCrop is the mean training 2D pose in crop pixels (unaugmented):
	// the fixed-mean baseline.
	meanCrop pose.Pose2D
}

// shShown is how many validation samples the epoch report carries.
const shShown = 4

func newSHTask(env TaskEnv) (Task, error) {
	cfg, err := shConfig(env.Spec.Preset)
	if err != nil {
		return nil, err
	}
	if env.Spec.Loss != "" && env.Spec.Loss != "mse" {
		return nil, fmt.Errorf("sh: loss %q not supported (heatmaps are trained with mse)", env.Spec.Loss)
	}
	g, err := models.BuildSH(cfg)
	if err != nil {
		return nil, err
	}
	if env.Data == nil {
		return nil, fmt.Errorf("sh: no data set")
	}
	t := &shTask{cfg: cfg, graph: g, data: env.Data,
		recs: map[datasets.Split][]datasets.Record{}, mpii: map[datasets.Split][]datasets.MPIIRecord{},
		evalA: map[datasets.Split]map[int][2][3]float64{}, shownCrop: map[int]*datasets.Crop{}, shownHM: map[int][]float32{}}
	for _, sp := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		r, err := splitRecords(env.Data, sp)
		if err != nil {
			return nil, fmt.Errorf("sh: %s: %s records: %w", env.Data.Name(), sp, err)
		}
		t.recs[sp] = r
		if sp == datasets.Test {
			continue
		}
		m, err := env.Data.MPII(sp)
		if err != nil {
			return nil, fmt.Errorf("sh: %s: MPII %s people: %w", env.Data.Name(), sp, err)
		}
		t.mpii[sp] = m
	}
	if t.Len(datasets.Train) == 0 {
		return nil, fmt.Errorf("sh: %s has no training samples", env.Data.Name())
	}
	t.meanCrop = t.meanCropPose()
	return t, nil
}

func (t *shTask) Graph() *nn.Graph { return t.graph }

func (t *shTask) Len(split datasets.Split) int { return len(t.recs[split]) + len(t.mpii[split]) }

// The hourglass learns nothing outside its weights: no task state.
func (t *shTask) State() map[string]*nn.Tensor         { return map[string]*nn.Tensor{} }
func (t *shTask) SetState(map[string]*nn.Tensor) error { return nil }

// BaselineMPJPE does not apply to a 2D model; Baseline2D is its analogue.
func (t *shTask) BaselineMPJPE() float64 { return math.NaN() }

// person returns sample i of split as a shdata.Person and whether it has
// labels.
func (t *shTask) person(split datasets.Split, i int) (shdata.Person, bool, error) {
	recs := t.recs[split]
	if i < 0 || i >= t.Len(split) {
		return shdata.Person{}, false, fmt.Errorf("sh: %s sample %d out of range (0..%d)", split, i, t.Len(split)-1)
	}
	if i < len(recs) {
		return shdata.FromRecord(&recs[i]), recs[i].HasLabels && split != datasets.Test, nil
	}
	return shdata.FromMPII(&t.mpii[split][i-len(recs)]), true, nil
}

func (t *shTask) crop(split datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	var c *datasets.Crop
	var err error
	if n := len(t.recs[split]); i < n {
		c, err = t.data.Image(split, i, spec)
	} else {
		c, err = t.data.MPIIImage(split, i-n, spec)
	}
	if err != nil {
		return nil, err
	}
	if c == nil || c.Size != spec.Size || len(c.Pix) != 3*spec.Size*spec.Size {
		return nil, fmt.Errorf("sh: %s sample %d: crop is not %dx%d RGB", split, i, spec.Size, spec.Size)
	}
	return c, nil
}

// Batch cuts the crops (augmented in training: scale, rotation, flip with
// joint swap, colour gains, drawn from (seed, step, sample)) and renders
// the Gaussian targets and visibility masks.
func (t *shTask) Batch(split datasets.Split, idx []int, train bool, seed int64, step int) (nn.Batch, error) {
	n, s, h, J := len(idx), t.cfg.Input, t.cfg.HeatmapSize(), t.cfg.Joints
	img := nn.NewTensor(n, 3, s, s)
	hm := nn.NewTensor(n, J, h, h)
	mask := nn.NewTensor(n, J, h, h)
	augmented := train && split == datasets.Train
	crops := make([]*datasets.Crop, n)
	err := forEachSample(n, func(k int) error {
		i := idx[k]
		aug := shdata.Identity()
		if augmented {
			aug = shdata.Draw(seed, step, i)
		}
		p, labelled, err := t.person(split, i)
		if err != nil {
			return err
		}
		c, err := t.crop(split, i, aug.Spec(s))
		if err != nil {
			return err
		}
		crops[k] = c
		if err := shdata.Image(img.Data[k*3*s*s:(k+1)*3*s*s], c, aug.Color); err != nil {
			return err
		}
		if labelled {
			shdata.Targets(hm.Data[k*J*h*h:(k+1)*J*h*h], mask.Data[k*J*h*h:(k+1)*J*h*h], &p, c.A, aug.Flip, s, h)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !augmented { // remember the served affines (and a few crops to show) for decoding
		if t.evalA[split] == nil {
			t.evalA[split] = map[int][2][3]float64{}
		}
		for k, i := range idx {
			t.evalA[split][i] = crops[k].A
			if split == datasets.Val && i < shShown {
				t.shownCrop[i] = crops[k]
			}
		}
	}
	return nn.Batch{models.SHImage: img, models.SHTarget: hm, models.SHMask: mask}, nil
}

// affine is the unaugmented crop affine of sample i (as served, or as the
// data set's CropTransform computes it).
func (t *shTask) affine(split datasets.Split, i int) [2][3]float64 {
	if a, ok := t.evalA[split][i]; ok {
		return a
	}
	p, _, _ := t.person(split, i)
	return datasets.CropTransform(p.Center, p.Scale, datasets.CropSpec{Size: t.cfg.Input, ScaleAug: 1})
}

// Decode finds the joints in the last stack's heatmaps (argmax with the
// quarter-pixel shift) and maps them to original-image pixels.
func (t *shTask) Decode(split datasets.Split, idx []int, out map[string]*nn.Tensor) ([]Prediction, error) {
	return t.decode(split, idx, out, nil)
}

var _ FlipTester = (*shTask)(nil)

// DecodeFlip is Decode with the flip test: the heatmaps of the mirrored
// crops (outFlip, from FlipBatch) are swapped, mirrored back and averaged
// in before decoding.
func (t *shTask) DecodeFlip(split datasets.Split, idx []int, out, outFlip map[string]*nn.Tensor) ([]Prediction, error) {
	if outFlip == nil {
		return nil, fmt.Errorf("sh: flip test without the mirrored outputs")
	}
	return t.decode(split, idx, out, outFlip)
}

// FlipBatch is the evaluation batch of idx with every crop mirrored.
func (t *shTask) FlipBatch(split datasets.Split, idx []int) (nn.Batch, error) {
	n, s := len(idx), t.cfg.Input
	img := nn.NewTensor(n, 3, s, s)
	one := [3]float64{1, 1, 1}
	err := forEachSample(n, func(k int) error {
		c, err := t.crop(split, idx[k], datasets.CropSpec{Size: s, ScaleAug: 1, Flip: true})
		if err != nil {
			return err
		}
		return shdata.Image(img.Data[k*3*s*s:(k+1)*3*s*s], c, one)
	})
	if err != nil {
		return nil, err
	}
	return nn.Batch{models.SHImage: img}, nil
}

func (t *shTask) decode(split datasets.Split, idx []int, out, outFlip map[string]*nn.Tensor) ([]Prediction, error) {
	h, J := t.cfg.HeatmapSize(), t.cfg.Joints
	per := J * h * h
	hms, err := shHeatmaps(out, len(idx), per)
	if err != nil {
		return nil, err
	}
	var flipped []float32
	if outFlip != nil {
		if flipped, err = shHeatmaps(outFlip, len(idx), per); err != nil {
			return nil, err
		}
	}
	preds := make([]Prediction, len(idx))
	for k, i := range idx {
		hm := hms[k*per : (k+1)*per]
		if flipped != nil {
			hm = append([]float32(nil), hm...)
			shdata.MergeFlip(hm, flipped[k*per:(k+1)*per], h, h)
		}
		for _, v := range hm {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("sh: %s sample %d: heatmaps are not finite (training diverged?)", split, i)
			}
		}
		p, _ := shdata.Decode(hm, h, t.cfg.Input, t.affine(split, i))
		preds[k] = Prediction{ID: i, Has2D: true, Pose2D: p}
		if split == datasets.Val && i < shShown {
			t.shownHM[i] = append([]float32(nil), hm...)
		}
	}
	return preds, nil
}

func shHeatmaps(out map[string]*nn.Tensor, n, per int) ([]float32, error) {
	o, ok := out[models.SHHeatmaps]
	if !ok || o.Check() != nil || len(o.Data) < n*per {
		return nil, fmt.Errorf("sh: program output %q missing or too small", models.SHHeatmaps)
	}
	return o.Data, nil
}

// Evaluate scores 2D predictions: the mean joint error in original-image
// pixels over the visible joints of the Human3.6M-like records (overall
// and per joint), and PCKh@0.5 over the MPII-like people (head box, else
// head segment: mpii.ScoredPerson), or over the Human3.6M records' own head
// segment, Neck to Head, when a split has no MPII people to score.
func (t *shTask) Evaluate(split datasets.Split, preds []Prediction) (EpochInfo, error) {
	recs := t.recs[split]
	var sum float64
	var perJ [pose.NumJoints]float64
	var cntJ [pose.NumJoints]int
	n := 0
	var mpPred [][pose.NumMPIIJoints]pose.Vec2
	var mpGT []pose.MPIIPerson
	var hPred [][pose.NumMPIIJoints]pose.Vec2
	var hGT []pose.MPIIPerson
	var samples []PoseSample
	for _, p := range preds {
		if !p.Has2D || p.ID < 0 || p.ID >= t.Len(split) {
			continue
		}
		for _, v := range p.Pose2D {
			if math.IsNaN(v[0]+v[1]) || math.IsInf(v[0]+v[1], 0) {
				return EpochInfo{}, fmt.Errorf("sh: %s prediction %d is not finite", split, p.ID)
			}
		}
		if p.ID >= len(recs) {
			if g, ok := mpii.ScoredPerson(&t.mpii[split][p.ID-len(recs)]); ok {
				mpPred = append(mpPred, toMPII(p.Pose2D))
				mpGT = append(mpGT, g)
			}
			continue
		}
		r := &recs[p.ID]
		if !r.HasLabels {
			return EpochInfo{}, fmt.Errorf("sh: %s: %w", split, ErrNoLabels)
		}
		for j := range p.Pose2D {
			if !(r.Vis[j] > 0) {
				continue
			}
			d := math.Hypot(p.Pose2D[j][0]-r.Joints2D[j][0], p.Pose2D[j][1]-r.Joints2D[j][1])
			sum += d
			perJ[j] += d
			cntJ[j]++
			n++
		}
		hp, hg := h36mAsMPII(p.Pose2D, r)
		hPred, hGT = append(hPred, hp), append(hGT, hg)
		if p.ID < shShown {
			samples = append(samples, t.sample(split, p, r))
		}
	}
	if n == 0 && len(mpGT) == 0 {
		return EpochInfo{}, fmt.Errorf("sh: no labelled 2D predictions of %s to evaluate", split)
	}
	info := EpochInfo{Samples: samples}
	if n > 0 {
		info.Pixel = sum / float64(n)
		info.PerJointPx = make([]float64, pose.NumJoints)
		for j := range perJ {
			if cntJ[j] > 0 {
				info.PerJointPx[j] = perJ[j] / float64(cntJ[j])
			}
		}
	}
	if len(mpGT) > 0 {
		info.PCKh = finiteOr0(pose.PCKh(mpPred, mpGT, 0.5).Summary)
	} else if len(hGT) > 0 {
		info.PCKh = finiteOr0(pose.PCKh(hPred, hGT, 0.5).Summary)
	}
	return info, nil
}

func finiteOr0(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

// toMPII reorders 17 H36M joints into the 16 MPII joints (each MPII joint
// stands for exactly one H36M joint).
func toMPII(p pose.Pose2D) (m [pose.NumMPIIJoints]pose.Vec2) {
	for h, k := range pose.MPIIForH36M {
		if k >= 0 {
			m[k] = p[h]
		}
	}
	return m
}

// h36mAsMPII scores a Human3.6M-like record the MPII way: its joints in
// MPII order, and a head box whose 0.6 x diagonal is the Neck-Head segment
// (so that PCKh's threshold is half of that segment).
func h36mAsMPII(pred pose.Pose2D, r *datasets.Record) ([pose.NumMPIIJoints]pose.Vec2, pose.MPIIPerson) {
	g := pose.MPIIPerson{Joints: toMPII(r.Joints2D)}
	for h, k := range pose.MPIIForH36M {
		if k >= 0 {
			g.Vis[k] = r.Vis[h]
		}
	}
	g.HeadBox = mpii.SegmentHeadBox(r.Joints2D[pose.Neck], r.Joints2D[pose.Head])
	return toMPII(pred), g
}

// sample is a validation sample for the TUI: ground truth and prediction
// in crop pixels over the crop in grey with the heatmaps' maximum blended.
func (t *shTask) sample(split datasets.Split, p Prediction, r *datasets.Record) PoseSample {
	a := t.affine(split, p.ID)
	// 2D only: GT and Pred (3D) stay zero, the TUI draws GT2D and Pred2D.
	s := PoseSample{Index: p.ID, GT2D: make([]pose.Vec2, pose.NumJoints), Pred2D: make([]pose.Vec2, pose.NumJoints),
		JointsPx: make([]float64, pose.NumJoints)}
	var sum float64
	n := 0
	for j := range s.GT2D {
		s.GT2D[j] = datasets.Apply(a, r.Joints2D[j])
		s.Pred2D[j] = datasets.Apply(a, p.Pose2D[j])
		s.JointsPx[j] = NoJointError
		if r.Vis[j] > 0 { // the sample's error as Evaluate scores the epoch: original-image px
			d := math.Hypot(p.Pose2D[j][0]-r.Joints2D[j][0], p.Pose2D[j][1]-r.Joints2D[j][1])
			s.JointsPx[j] = d
			sum += d
			n++
		}
	}
	if n > 0 {
		s.ErrorPx = sum / float64(n)
	}
	if c, ok := t.shownCrop[p.ID]; ok {
		if hm, ok := t.shownHM[p.ID]; ok {
			// Full crop resolution: GT2D and Pred2D are crop pixels, and
			// the TUI places them in the image's own pixel frame.
			w, h, pix := shdata.Thumb(c, hm, t.cfg.HeatmapSize(), t.cfg.Input)
			s.Image = &Thumb{W: w, H: h, Pix: pix}
		}
	}
	return s
}

// meanCropPose is the training records' and people's mean 2D pose in crop
// pixels of the unaugmented crop (labelled joints only).
func (t *shTask) meanCropPose() pose.Pose2D {
	var sum pose.Pose2D
	var cnt [pose.NumJoints]float64
	for i := 0; i < t.Len(datasets.Train); i++ {
		p, ok, _ := t.person(datasets.Train, i)
		if !ok {
			continue
		}
		a := datasets.CropTransform(p.Center, p.Scale, datasets.CropSpec{Size: t.cfg.Input, ScaleAug: 1})
		for j := range p.Joints {
			if p.Mask[j] > 0 {
				c := datasets.Apply(a, p.Joints[j])
				sum[j][0] += c[0]
				sum[j][1] += c[1]
				cnt[j]++
			}
		}
	}
	for j := range sum {
		if cnt[j] > 0 {
			sum[j][0] /= cnt[j]
			sum[j][1] /= cnt[j]
		} else {
			sum[j] = pose.Vec2{float64(t.cfg.Input) / 2, float64(t.cfg.Input) / 2}
		}
	}
	return sum
}

// Baseline2D scores the fixed-mean baseline on a split: every sample's
// prediction is the mean training pose in crop pixels, mapped back to the
// original image through the sample's unaugmented crop affine. It returns
// what Evaluate would say of it (Pixel, PCKh).
func (t *shTask) Baseline2D(split datasets.Split) (EpochInfo, error) {
	preds := make([]Prediction, t.Len(split))
	for i := range preds {
		p, _, _ := t.person(split, i)
		a := datasets.Invert(datasets.CropTransform(p.Center, p.Scale, datasets.CropSpec{Size: t.cfg.Input, ScaleAug: 1}))
		var q pose.Pose2D
		for j := range q {
			q[j] = datasets.Apply(a, t.meanCrop[j])
		}
		preds[i] = Prediction{ID: i, Has2D: true, Pose2D: q}
	}
	info, err := t.Evaluate(split, preds)
	info.Samples = nil
	return info, err
}

// export2D turns predictions of a split into MPII prediction entries (the
// layout metrics --2d scores), joints in MPII order and original-image
// pixels (Decode has undone the crop): people holds the MPII people in
// their annotation file's order, records the Human3.6M records in split
// order (Spine, which MPII lacks, left out).
func (t *shTask) export2D(split datasets.Split, preds []Prediction) (people, records []mpii.Prediction, err error) {
	recs := t.recs[split]
	if len(preds) != t.Len(split) {
		return nil, nil, fmt.Errorf("sh: %d %s predictions for %d samples", len(preds), split, t.Len(split))
	}
	for i, p := range preds {
		if p.ID != i || !p.Has2D {
			return nil, nil, fmt.Errorf("sh: %s prediction %d is not sample %d's 2D pose", split, i, i)
		}
		if i < len(recs) {
			records = append(records, mpii.Prediction{Image: recs[i].Image, Joints: toMPII(p.Pose2D)})
			continue
		}
		people = append(people, mpii.Prediction{Image: t.mpii[split][i-len(recs)].Image, Joints: toMPII(p.Pose2D)})
	}
	return people, records, nil
}
