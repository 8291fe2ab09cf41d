package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"poselab/datasets"
	"poselab/models"
	"poselab/nn"
	"poselab/pose"
)

// irFakeData is a tiny labelled data set with undistorted cameras, so that
// 2D labels are exact pinhole projections of the 3D poses.
type irFakeData struct {
	recs map[datasets.Split][]datasets.Record
	mpii []datasets.MPIIRecord
}

func newIRFakeData(n int) *irFakeData {
	r := rand.New(rand.NewPCG(7, 7))
	d := &irFakeData{recs: map[datasets.Split][]datasets.Record{}}
	for _, sp := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		for i := 0; i < n; i++ {
			cam := pose.H36MIntrinsics[i%4]
			var p pose.Pose3D
			root := pose.Vec3{400 * (r.Float64() - 0.5), 200 * (r.Float64() - 0.5), 4500 + 1000*r.Float64()}
			for j := range p {
				p[j] = root
				if j > 0 {
					p[j] = pose.Vec3{root[0] + 900*(r.Float64()-0.5), root[1] + 1600*(r.Float64()-0.5), root[2] + 800*(r.Float64()-0.5)}
				}
			}
			rec := datasets.Record{ID: i, Subject: "S1", Action: []string{"Walking", "Eating"}[i%2], CamIndex: i % 4, Cam: cam,
				Joints3D: p, Joints2D: cam.ProjectPose(p), HasLabels: sp != datasets.Test}
			rec.Center = cam.ProjectPinhole(root)
			rec.Scale = 2200 * cam.Fx / root[2] / 200
			d.recs[sp] = append(d.recs[sp], rec)
		}
	}
	for i := 0; i < 3; i++ {
		m := datasets.MPIIRecord{ID: i, Center: pose.Vec2{300, 300}, Scale: 2}
		for j := range m.Joints {
			m.Joints[j] = pose.Vec2{200 + 13*float64(j), 150 + 17*float64(j)}
			m.Vis[j] = 1
		}
		d.mpii = append(d.mpii, m)
	}
	return d
}

func (d *irFakeData) Name() string { return "fake" }
func (d *irFakeData) Records(s datasets.Split) ([]datasets.Record, error) {
	return d.recs[s], nil
}
func (d *irFakeData) MPII(s datasets.Split) ([]datasets.MPIIRecord, error) {
	if s != datasets.Train {
		return nil, nil
	}
	return d.mpii, nil
}
func (d *irFakeData) crop(c pose.Vec2, scale float64, spec datasets.CropSpec) *datasets.Crop {
	cr := &datasets.Crop{Size: spec.Size, Pix: make([]uint8, spec.Size*spec.Size*3), A: datasets.CropTransform(c, scale, spec)}
	for k := range cr.Pix {
		cr.Pix[k] = uint8(k * 7)
	}
	return cr
}
func (d *irFakeData) Image(s datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	if i >= len(d.recs[s]) {
		return nil, fmt.Errorf("no record %d", i)
	}
	r := d.recs[s][i]
	return d.crop(r.Center, r.Scale, spec), nil
}
func (d *irFakeData) MPIIImage(s datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	return d.crop(d.mpii[i].Center, d.mpii[i].Scale, spec), nil
}

func newTestIRTask(t *testing.T, d datasets.Dataset) *irTask {
	t.Helper()
	task, err := newIRTask(TaskEnv{Spec: Spec{Model: "ir", Preset: "tiny"}, Data: d})
	if err != nil {
		t.Fatal(err)
	}
	return task.(*irTask)
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// A network that output exactly its targets must decode to the ground
// truth: the target encoding (crop affine, heatmap stride, depth bins) and
// the decoding (inverse affine, back-projection with the root depth) are
// inverses.
func TestIRTargetsDecodeToGroundTruth(t *testing.T) {
	d := newIRFakeData(8)
	task := newTestIRTask(t, d)
	idx := seq(8)
	b, err := task.Batch(datasets.Val, idx, false, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := task.Decode(datasets.Val, idx, map[string]*nn.Tensor{models.IRCoords: b[models.IRTarget]})
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.Evaluate(datasets.Val, preds)
	if err != nil {
		t.Fatal(err)
	}
	if info.MPJPE > 0.05 || info.Pixel > 0.01 {
		t.Errorf("decoded targets are %.4f mm / %.4f px from the truth", info.MPJPE, info.Pixel)
	}
	if info.PCK150 != 1 || len(info.PerJoint) != 17 || len(info.PerAction) != 2 {
		t.Errorf("report %+v", info)
	}
	// Weights: the normalisation 1/16 for every coordinate of visible joints.
	w := b[models.IRWeight]
	if w.Data[3*5] != 1.0/16 || w.Data[3*5+2] != 1.0/16 {
		t.Errorf("weights %v", w.Data[:6])
	}
	// The test split has no labels: inputs only, zero weights.
	bt, err := task.Batch(datasets.Test, idx[:2], false, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range bt[models.IRWeight].Data {
		if v != 0 {
			t.Fatal("test split got nonzero loss weights")
		}
	}
	if _, err := task.Evaluate(datasets.Test, preds); err == nil {
		t.Error("evaluating the unlabelled test split did not fail")
	}
}

// A flipped crop mirrors x about the crop centre and swaps left and right
// joints; depth follows the joint's partner.
func TestIRFlipTargets(t *testing.T) {
	task := newTestIRTask(t, newIRFakeData(2))
	spec := datasets.CropSpec{Size: task.cfg.Input, ScaleAug: 1}
	plain, err := task.img.sample(datasets.Train, 0, spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.Flip = true
	flip, err := task.img.sample(datasets.Train, 0, spec)
	if err != nil {
		t.Fatal(err)
	}
	size := float64(task.cfg.Input)
	for j := 0; j < pose.NumJoints; j++ {
		p := datasets.Apply(plain.crop.A, plain.uv[pose.FlipPartner[j]])
		f := datasets.Apply(flip.crop.A, flip.uv[j])
		if math.Abs(f[0]-(size-p[0])) > 1e-9 || math.Abs(f[1]-p[1]) > 1e-9 {
			t.Errorf("joint %d: flipped at %v, plain partner at %v", j, f, p)
		}
		if flip.relZ[j] != plain.relZ[pose.FlipPartner[j]] {
			t.Errorf("joint %d: depth %g, partner's %g", j, flip.relZ[j], plain.relZ[pose.FlipPartner[j]])
		}
	}
}

// MPII people supervise x and y only, and never Spine.
func TestIRMPIIMasksDepthAndSpine(t *testing.T) {
	task := newTestIRTask(t, newIRFakeData(2))
	if task.Len(datasets.Train) != 2+3 || task.Len(datasets.Val) != 2 {
		t.Fatalf("lengths %d %d", task.Len(datasets.Train), task.Len(datasets.Val))
	}
	b, err := task.Batch(datasets.Train, []int{2, 3}, false, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := b[models.IRWeight].Data
	for k := 0; k < 2; k++ {
		for j := 0; j < pose.NumJoints; j++ {
			o := (k*pose.NumJoints + j) * 3
			if w[o+2] != 0 {
				t.Errorf("MPII sample %d joint %d has a depth weight", k, j)
			}
			inside := w[o] != 0
			if j == pose.Spine && inside {
				t.Error("Spine is supervised for MPII")
			}
			if j == pose.Hip && !inside {
				t.Error("MPII pelvis is not supervised")
			}
		}
	}
	// Decoding MPII people gives 2D only.
	preds, err := task.Decode(datasets.Train, []int{2, 3}, map[string]*nn.Tensor{models.IRCoords: b[models.IRTarget]})
	if err != nil {
		t.Fatal(err)
	}
	if preds[0].Has3D || !preds[0].Has2D {
		t.Errorf("MPII prediction %+v", preds[0])
	}
	if math.Abs(preds[0].Pose2D[pose.Hip][0]-task.img.mpii[0].Joints[6][0]) > 1e-3 {
		t.Errorf("MPII pelvis decoded to %v, want %v", preds[0].Pose2D[pose.Hip], task.img.mpii[0].Joints[6])
	}
}

// Augmentation depends on (seed, step, sample) only.
func TestIRAugmentationIsReproducible(t *testing.T) {
	task := newTestIRTask(t, newIRFakeData(4))
	a, _ := task.Batch(datasets.Train, []int{0, 1, 2, 3}, true, 5, 17)
	b, _ := task.Batch(datasets.Train, []int{0, 1, 2, 3}, true, 5, 17)
	c, _ := task.Batch(datasets.Train, []int{0, 1, 2, 3}, true, 5, 18)
	same := func(x, y *nn.Tensor) bool {
		for i := range x.Data {
			if x.Data[i] != y.Data[i] {
				return false
			}
		}
		return true
	}
	if !same(a[models.IRTarget], b[models.IRTarget]) {
		t.Error("same (seed, step) gave different augmentation")
	}
	if same(a[models.IRTarget], c[models.IRTarget]) {
		t.Error("different steps gave identical augmentation")
	}
}

// The seed trained IR with the augmentation of Sun et al.'s code
// (common/utility/augment.py of their release): scale 1 + 0.25 * N(0,1)
// clipped to [0.75, 1.25]; in 60% of samples a rotation of 30 * N(0,1)
// degrees clipped to +-60; a flip in half; and a gain per colour channel
// uniform in [0.8, 1.2] on the 0..255 pixels (clipped) before the ImageNet
// normalisation.
func TestIRAugmentationFollowsSunEtAl(t *testing.T) {
	const n = 4000
	var atMin, atMax, unrotated, over30, flips int
	var gainSum float64
	for i := 0; i < n; i++ {
		a := irAugment(imageRNG(3, i/8, i%8), 64)
		sc, rot := a.Spec.ScaleAug, a.Spec.RotDeg
		if sc < 0.75-1e-12 || sc > 1.25+1e-12 || math.Abs(rot) > 60+1e-9 {
			t.Fatalf("draw %d out of range: %+v", i, a)
		}
		switch {
		case sc == 0.75:
			atMin++
		case sc == 1.25:
			atMax++
		}
		if rot == 0 {
			unrotated++
		} else if math.Abs(rot) > 30 {
			over30++
		}
		if a.Spec.Flip {
			flips++
		}
		for _, g := range a.Color {
			if g < 0.8 || g > 1.2 {
				t.Fatalf("draw %d: colour gain %g outside [0.8, 1.2]", i, g)
			}
			gainSum += g
		}
	}
	frac := func(k int) float64 { return float64(k) / n }
	// P(|N(0,1)| > 1) = 0.317: 15.9% of scales at each clip bound; of the
	// 60% rotated samples 31.7% turn by more than 30 degrees.
	if f := frac(atMin); f < 0.13 || f > 0.19 {
		t.Errorf("%.3f of scales at 0.75, want about 0.159", f)
	}
	if f := frac(atMax); f < 0.13 || f > 0.19 {
		t.Errorf("%.3f of scales at 1.25, want about 0.159", f)
	}
	if f := frac(unrotated); f < 0.37 || f > 0.43 {
		t.Errorf("%.3f of samples unrotated, want 0.4", f)
	}
	if f := frac(over30); f < 0.16 || f > 0.22 {
		t.Errorf("%.3f of samples rotated by more than 30 degrees, want about 0.19", f)
	}
	if f := frac(flips); f < 0.47 || f > 0.53 {
		t.Errorf("%.3f of samples flipped, want 0.5", f)
	}
	if m := gainSum / (3 * n); math.Abs(m-1) > 0.01 {
		t.Errorf("mean colour gain %.4f, want 1", m)
	}

	// The training batch's image carries the gains; evaluation crops none.
	task := newTestIRTask(t, newIRFakeData(4))
	s := task.cfg.Input
	const seed, step = 5, 17
	b, err := task.Batch(datasets.Train, []int{0, 1, 2, 3}, true, seed, step)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 4; k++ {
		a := irAugment(imageRNG(seed, step, k), s)
		smp, err := task.img.sample(datasets.Train, k, a.Spec)
		if err != nil {
			t.Fatal(err)
		}
		img := b[models.IRImage].Data[k*3*s*s : (k+1)*3*s*s]
		for p := 0; p < s*s; p++ {
			for ch := 0; ch < 3; ch++ {
				v := math.Min(255, float64(smp.crop.Pix[3*p+ch])*a.Color[ch]) / 255
				want := (v - float64(imageMean[ch])) / float64(imageStd[ch])
				if got := float64(img[ch*s*s+p]); math.Abs(got-want) > 1e-5 {
					t.Fatalf("sample %d pixel %d channel %d: %g, want %g (gain %g)", k, p, ch, got, want, a.Color[ch])
				}
			}
		}
	}
}
