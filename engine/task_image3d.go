package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"poselab/datasets"
	"poselab/pose"
)

// imageSource is what the image-to-3D tasks ("ir", "baseline") share:
// records of every split, optional MPII people appended to the training
// split, crops with labels mapped through the crop affine (flips swap
// left and right joints), and 3D evaluation against the records.
type imageSource struct {
	data datasets.Dataset
	size int
	recs map[datasets.Split][]datasets.Record
	mpii []datasets.MPIIRecord // appended to Train (indices len(recs[Train])...)
	// evalA remembers the affine of each unaugmented crop served, so that
	// Decode maps predictions back exactly as the data set cut the crop.
	// Batches are cut on all cores, hence the lock.
	mu    sync.Mutex
	evalA map[datasets.Split]map[int][2][3]float64
}

// imageSample is one crop with its labels in original-image pixels.
type imageSample struct {
	crop     *datasets.Crop
	uv       pose.Pose2D             // joints, original image px (flip partners already swapped)
	relZ     [pose.NumJoints]float64 // depth relative to the root, mm
	root     pose.Pose3D             // root-relative camera-space pose, mm (flip applied: x mirrored)
	mask     [pose.NumJoints]float64 // 1 where the joint is labelled
	hasZ     bool                    // Human3.6M-like sample (3D labels)
	labelled bool
}

func newImageSource(d datasets.Dataset, size int, withMPII bool) (*imageSource, error) {
	if d == nil {
		return nil, fmt.Errorf("no data set")
	}
	s := &imageSource{data: d, size: size, recs: map[datasets.Split][]datasets.Record{},
		evalA: map[datasets.Split]map[int][2][3]float64{}}
	for _, sp := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		r, err := splitRecords(d, sp)
		if err != nil {
			return nil, fmt.Errorf("%s: %s records: %w", d.Name(), sp, err)
		}
		s.recs[sp] = r
	}
	if len(s.recs[datasets.Train]) == 0 {
		return nil, fmt.Errorf("%s: no training records", d.Name())
	}
	if withMPII {
		m, err := d.MPII(datasets.Train)
		if err != nil {
			return nil, fmt.Errorf("%s: MPII records: %w", d.Name(), err)
		}
		s.mpii = m
	}
	return s, nil
}

func (s *imageSource) len(split datasets.Split) int {
	n := len(s.recs[split])
	if split == datasets.Train {
		n += len(s.mpii)
	}
	return n
}

// sample cuts crop i of split as spec says and returns its labels.
func (s *imageSource) sample(split datasets.Split, i int, spec datasets.CropSpec) (*imageSample, error) {
	recs := s.recs[split]
	if i < 0 || i >= s.len(split) {
		return nil, fmt.Errorf("%s sample %d out of range (0..%d)", split, i, s.len(split)-1)
	}
	smp := &imageSample{}
	var uv pose.Pose2D
	var mask [pose.NumJoints]float64
	var err error
	if i < len(recs) {
		rec := recs[i]
		if smp.crop, err = s.data.Image(split, i, spec); err != nil {
			return nil, err
		}
		smp.labelled = rec.HasLabels && split != datasets.Test
		smp.hasZ = smp.labelled
		uv = rec.Joints2D
		for j := range mask {
			mask[j] = 1 // every Human3.6M joint has a 3D label, occluded or not
		}
		smp.root = pose.RootRelative(rec.Joints3D)
	} else {
		m := s.mpii[i-len(recs)]
		if smp.crop, err = s.data.MPIIImage(split, i-len(recs), spec); err != nil {
			return nil, err
		}
		smp.labelled = true
		uv, mask = pose.MPIIToH36M(m.Joints, m.Vis)
	}
	if err := checkCrop(smp.crop, spec.Size); err != nil {
		return nil, fmt.Errorf("%s sample %d: %w", split, i, err)
	}
	if !isAugmented(spec) {
		s.mu.Lock()
		if s.evalA[split] == nil {
			s.evalA[split] = map[int][2][3]float64{}
		}
		s.evalA[split][i] = smp.crop.A
		s.mu.Unlock()
	}
	for j := range uv {
		src := j
		if spec.Flip {
			src = pose.FlipPartner[j]
		}
		smp.uv[j], smp.mask[j] = uv[src], mask[src]
		smp.relZ[j] = smp.root[src][2]
	}
	if spec.Flip {
		smp.root = pose.FlipPose3D(smp.root)
	}
	return smp, nil
}

func isAugmented(spec datasets.CropSpec) bool {
	return spec.Flip || spec.RotDeg != 0 || (spec.ScaleAug != 0 && spec.ScaleAug != 1)
}

func checkCrop(c *datasets.Crop, size int) error {
	if c == nil || c.Size != size || len(c.Pix) != size*size*3 {
		return fmt.Errorf("crop is not %dx%d RGB", size, size)
	}
	return nil
}

// geometry returns what Decode needs for sample i: the unaugmented crop
// affine, the camera, the root depth (mm) and whether it is a
// Human3.6M-like sample (MPII people have no camera).
func (s *imageSource) geometry(split datasets.Split, i int) (a [2][3]float64, cam pose.Camera, rootZ float64, isH36M bool) {
	recs := s.recs[split]
	s.mu.Lock()
	A, served := s.evalA[split][i]
	s.mu.Unlock()
	if served {
		a = A
	}
	if i < len(recs) {
		rec := recs[i]
		if !served {
			a = datasets.CropTransform(rec.Center, rec.Scale, datasets.CropSpec{Size: s.size, ScaleAug: 1})
		}
		rootZ = rec.Joints3D[pose.Hip][2]
		if !(rootZ > 0) {
			rootZ = fallbackRootDepthMM
		}
		return a, rec.Cam, rootZ, true
	}
	if !served && i-len(recs) < len(s.mpii) {
		m := s.mpii[i-len(recs)]
		a = datasets.CropTransform(m.Center, m.Scale, datasets.CropSpec{Size: s.size, ScaleAug: 1})
	}
	return a, pose.Camera{}, 0, false
}

// ImageNet statistics: the backbones are the torchvision ResNets.
var (
	imageMean = [3]float32{0.485, 0.456, 0.406}
	imageStd  = [3]float32{0.229, 0.224, 0.225}
)

// noGain leaves a crop's colours as they are.
var noGain = [3]float64{1, 1, 1}

// fillCHW writes an RGB crop as a normalised [3, S, S] float image, each
// channel's 0..255 values first multiplied by its gain (colour
// augmentation) and clipped at 255.
func fillCHW(dst []float32, c *datasets.Crop, gain [3]float64) {
	n := c.Size * c.Size
	for p := 0; p < n; p++ {
		for ch := 0; ch < 3; ch++ {
			v := float32(c.Pix[3*p+ch])
			if gain[ch] != 1 {
				v = float32(math.Min(255, float64(v)*gain[ch]))
			}
			dst[ch*n+p] = (v/255 - imageMean[ch]) / imageStd[ch]
		}
	}
}

// imageRNG is the augmentation randomness of sample i at a step: it
// depends on (seed, step, i) only, so a resumed run repeats it exactly.
func imageRNG(seed int64, step, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^0x5851f42d4c957f2d, uint64(step)<<32^uint64(i)))
}

// meanTrainPose is the training set's mean root-relative pose.
func (s *imageSource) meanTrainPose() pose.Pose3D {
	var m pose.Pose3D
	n := 0
	for _, r := range s.recs[datasets.Train] {
		if !r.HasLabels {
			continue
		}
		p := pose.RootRelative(r.Joints3D)
		for j := range m {
			for c := 0; c < 3; c++ {
				m[j][c] += p[j][c]
			}
		}
		n++
	}
	for j := range m {
		for c := 0; c < 3; c++ {
			m[j][c] /= float64(max(n, 1))
		}
	}
	return m
}

// meanPoseMPJPE is the MPJPE (mm) of predicting mean for every labelled
// validation record; NaN without one.
func (s *imageSource) meanPoseMPJPE(mean pose.Pose3D) float64 {
	var pred, gt []pose.Pose3D
	for _, r := range s.recs[datasets.Val] {
		if r.HasLabels {
			pred, gt = append(pred, mean), append(gt, r.Joints3D)
		}
	}
	if len(gt) == 0 {
		return math.NaN()
	}
	return pose.MPJPE(pred, gt)
}

// evaluate3D scores the 3D predictions of a labelled split against its
// records (and their 2D against the records' 2D when with2D).
func (s *imageSource) evaluate3D(split datasets.Split, preds []Prediction, with2D bool) (EpochInfo, error) {
	recs := s.recs[split]
	var pred, gt []pose.Pose3D
	var actions []string
	var samples []PoseSample
	var pxSum float64
	var pxJoint [pose.NumJoints]float64
	nPx := 0
	for _, p := range preds {
		if p.ID < 0 || p.ID >= len(recs) || !p.Has3D {
			continue // MPII people (training split) have no 3D truth
		}
		r := recs[p.ID]
		if !r.HasLabels {
			return EpochInfo{}, fmt.Errorf("%s: %w", split, ErrNoLabels)
		}
		if notFinite3D(p.Pose3D) {
			return EpochInfo{}, fmt.Errorf("%s prediction %d is not finite (training diverged?)", split, p.ID)
		}
		pred, gt, actions = append(pred, p.Pose3D), append(gt, r.Joints3D), append(actions, r.Action)
		if len(samples) < 4 {
			samples = append(samples, PoseSample{Index: p.ID, GT: pose.RootRelative(r.Joints3D), Pred: pose.RootRelative(p.Pose3D)})
		}
		if with2D && p.Has2D {
			for j := range p.Pose2D {
				d := math.Hypot(p.Pose2D[j][0]-r.Joints2D[j][0], p.Pose2D[j][1]-r.Joints2D[j][1])
				pxSum += d
				pxJoint[j] += d
			}
			nPx++
		}
	}
	if len(gt) == 0 {
		return EpochInfo{}, fmt.Errorf("no 3D predictions of %s to evaluate", split)
	}
	rep := pose.Evaluate(pred, gt, actions)
	info := EpochInfo{MPJPE: rep.MPJPE, PMPJPE: rep.PMPJPE, NMPJPE: rep.NMPJPE, PCK150: rep.PCK150, AUC: rep.AUC,
		PerJoint: rep.PerJoint[:], PerAction: rep.PerAction, Samples: samples}
	if nPx > 0 {
		info.Pixel = pxSum / float64(nPx*pose.NumJoints)
		info.PerJointPx = make([]float64, pose.NumJoints)
		for j := range pxJoint {
			info.PerJointPx[j] = pxJoint[j] / float64(nPx)
		}
	}
	return info, nil
}
