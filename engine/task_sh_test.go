package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"poselab/datasets"
	"poselab/engine/shdata"
	"poselab/models"
	"poselab/nn"
	"poselab/pose"
)

// dotsData is a small stand-in data set for the SH task's plumbing: people
// are random 2D skeletons in a 1000x1000 image; crops are rendered through
// the real crop affine (grey background, a bright dot per joint).
type dotsData struct {
	recs map[datasets.Split][]datasets.Record
	mpii map[datasets.Split][]datasets.MPIIRecord
}

func newDotsData(n, m int) *dotsData {
	d := &dotsData{recs: map[datasets.Split][]datasets.Record{}, mpii: map[datasets.Split][]datasets.MPIIRecord{}}
	rng := rand.New(rand.NewPCG(1, 2))
	person := func() (c pose.Vec2, s float64, j pose.Pose2D) {
		c = pose.Vec2{300 + 400*rng.Float64(), 300 + 400*rng.Float64()}
		s = 0.8 + 0.4*rng.Float64()
		for k := range j {
			j[k] = pose.Vec2{c[0] + 160*s*(rng.Float64()-0.5), c[1] + 160*s*(rng.Float64()-0.5)}
		}
		return
	}
	for _, sp := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		for i := 0; i < n; i++ {
			c, s, j := person()
			r := datasets.Record{ID: i, Subject: "S1", Action: "Walking", Cam: pose.H36MIntrinsics[i%4], Joints2D: j,
				Center: c, Scale: s, HasLabels: sp != datasets.Test}
			for k := range r.Vis {
				r.Vis[k] = 1
				r.Joints3D[k] = pose.Vec3{float64(k), 0, 5000}
			}
			d.recs[sp] = append(d.recs[sp], r)
		}
		if sp == datasets.Test {
			continue
		}
		for i := 0; i < m; i++ {
			c, s, j := person()
			r := datasets.MPIIRecord{ID: i, Center: c, Scale: s, HeadBox: [2]pose.Vec2{{0, 0}, {40, 40}}}
			for h, k := range pose.MPIIForH36M {
				if k >= 0 {
					r.Joints[k], r.Vis[k] = j[h], 1
				}
			}
			d.mpii[sp] = append(d.mpii[sp], r)
		}
	}
	return d
}

func (d *dotsData) Name() string { return "dots" }
func (d *dotsData) Records(s datasets.Split) ([]datasets.Record, error) {
	return d.recs[s], nil
}
func (d *dotsData) MPII(s datasets.Split) ([]datasets.MPIIRecord, error) { return d.mpii[s], nil }
func (d *dotsData) Image(s datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	r := d.recs[s][i]
	return renderDots(r.Center, r.Scale, r.Joints2D[:], spec), nil
}
func (d *dotsData) MPIIImage(s datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	r := d.mpii[s][i]
	return renderDots(r.Center, r.Scale, r.Joints[:], spec), nil
}

func renderDots(c pose.Vec2, s float64, joints []pose.Vec2, spec datasets.CropSpec) *datasets.Crop {
	a := datasets.CropTransform(c, s, spec)
	cr := &datasets.Crop{Size: spec.Size, Pix: make([]uint8, 3*spec.Size*spec.Size), A: a}
	for k := range cr.Pix {
		cr.Pix[k] = 60
	}
	for j, p := range joints {
		q := datasets.Apply(a, p)
		for y := int(q[1]) - 1; y <= int(q[1])+1; y++ {
			for x := int(q[0]) - 1; x <= int(q[0])+1; x++ {
				if x >= 0 && y >= 0 && x < spec.Size && y < spec.Size {
					o := 3 * (y*spec.Size + x)
					cr.Pix[o], cr.Pix[o+1], cr.Pix[o+2] = 255, uint8(15*j), 200
				}
			}
		}
	}
	return cr
}

func newTestSHTask(t *testing.T, d datasets.Dataset) *shTask {
	t.Helper()
	task, err := newSHTask(TaskEnv{Spec: Spec{Model: "sh", Preset: "test"}, Data: d})
	if err != nil {
		t.Fatal(err)
	}
	return task.(*shTask)
}

func rangeIdx(a, b int) []int {
	var idx []int
	for i := a; i < b; i++ {
		idx = append(idx, i)
	}
	return idx
}

// Feeding the targets back as if the network had predicted them must give
// the ground truth again (up to the heatmap's quantisation), so Batch,
// Decode and Evaluate agree on every coordinate frame.
func TestSHTaskTargetsDecodeToTruth(t *testing.T) {
	d := newDotsData(6, 3)
	task := newTestSHTask(t, d)
	if task.Len(datasets.Train) != 9 || task.Len(datasets.Val) != 9 || task.Len(datasets.Test) != 6 {
		t.Fatalf("lengths %d %d %d", task.Len(datasets.Train), task.Len(datasets.Val), task.Len(datasets.Test))
	}
	idx := rangeIdx(0, 9)
	b, err := task.Batch(datasets.Val, idx, false, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := task.Decode(datasets.Val, idx, map[string]*nn.Tensor{models.SHHeatmaps: b[models.SHTarget]})
	if err != nil {
		t.Fatal(err)
	}
	// Half a heatmap pixel per axis is 2 crop px = 2 * 200 * scale / 32 image px.
	for _, p := range preds[:6] {
		r := d.recs[datasets.Val][p.ID]
		bound := 2 * 200 * r.Scale / 32 * math.Sqrt2
		for j := range p.Pose2D {
			if e := math.Hypot(p.Pose2D[j][0]-r.Joints2D[j][0], p.Pose2D[j][1]-r.Joints2D[j][1]); e > bound {
				t.Errorf("sample %d joint %d: %.2f px off (bound %.2f)", p.ID, j, e, bound)
			}
		}
	}
	info, err := task.Evaluate(datasets.Val, preds)
	if err != nil {
		t.Fatal(err)
	}
	if !(info.Pixel > 0 && info.Pixel < 2*200*1.2/32) || len(info.PerJointPx) != 17 || info.PCKh != 1 {
		t.Fatalf("px %.2f, PCKh %.1f, per joint %v", info.Pixel, info.PCKh, info.PerJointPx)
	}
	if len(info.Samples) != shShown || info.Samples[0].Image == nil || len(info.Samples[0].GT2D) != 17 {
		t.Fatalf("samples %+v", info.Samples)
	}
	// The thumb's pixels are crop pixels: the ground truth sits on the
	// heatmaps' brightest spots.
	scored := false
	for _, smp := range info.Samples {
		// Each sample's own error, in the epoch's unit (image px).
		if !(smp.ErrorPx >= 0 && smp.ErrorPx < 2*200*1.2/32) || smp.ErrorMM != 0 {
			t.Errorf("sample %d: error %v px, %v mm", smp.Index, smp.ErrorPx, smp.ErrorMM)
		}
		scored = scored || smp.ErrorPx > 0
		im := smp.Image
		if im.W != 64 || im.H != 64 || smp.GT != (pose.Pose3D{}) {
			t.Fatalf("sample %d: %dx%d thumb, 3D %v", smp.Index, im.W, im.H, smp.GT)
		}
		for j, g := range smp.GT2D {
			x, y := int(math.Round(g[0])), int(math.Round(g[1]))
			if x >= 2 && y >= 2 && x < 62 && y < 62 && im.Pix[y*64+x] < 180 {
				t.Errorf("sample %d joint %d at crop (%d,%d): thumb %d, want a bright heatmap peak", smp.Index, j, x, y, im.Pix[y*64+x])
			}
		}
	}
	if !scored {
		t.Error("no sample carries its error (px)")
	}
	base, err := task.Baseline2D(datasets.Val)
	if err != nil {
		t.Fatal(err)
	}
	if !(base.Pixel > 5*info.Pixel) || base.PCKh >= 0.5 {
		t.Fatalf("mean-pose baseline px %.1f PCKh %.1f vs targets px %.2f", base.Pixel, base.PCKh, info.Pixel)
	}
}

func TestSHTaskAugmentationIsReproducible(t *testing.T) {
	task := newTestSHTask(t, newDotsData(8, 2))
	idx := rangeIdx(0, 8)
	a, _ := task.Batch(datasets.Train, idx, true, 3, 7)
	b, _ := task.Batch(datasets.Train, idx, true, 3, 7)
	c, _ := task.Batch(datasets.Train, idx, true, 3, 8)
	same := func(x, y *nn.Tensor) bool {
		for i := range x.Data {
			if x.Data[i] != y.Data[i] {
				return false
			}
		}
		return true
	}
	for _, k := range []string{models.SHImage, models.SHTarget, models.SHMask} {
		if !same(a[k], b[k]) {
			t.Errorf("%s differs between two batches of the same (seed, step)", k)
		}
	}
	if same(a[models.SHImage], c[models.SHImage]) {
		t.Error("the next step drew the same augmentation")
	}
	// An augmented batch still puts every target where its dot is: the
	// crop pixel under each target's peak is a dot's colour.
	s, h := task.cfg.Input, task.cfg.HeatmapSize()
	hm, img := a[models.SHTarget], a[models.SHImage]
	hits, peaks := 0, 0
	for k := range idx {
		for j := 0; j < 17; j++ {
			m := hm.Data[(k*17+j)*h*h : (k*17+j+1)*h*h]
			q, peak := pose.DecodeHeatmap(m, h, h)
			if peak < 0.5 {
				continue
			}
			peaks++
			x, y := int(math.Round(q[0]*4)), int(math.Round(q[1]*4))
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					if x+dx >= 0 && y+dy >= 0 && x+dx < s && y+dy < s && img.Data[k*3*s*s+(y+dy)*s+x+dx] > 0.3 {
						hits++
						dy, dx = 9, 9
					}
				}
			}
		}
	}
	if peaks < 60 || hits < peaks*9/10 {
		t.Fatalf("%d of %d target peaks lie on a dot", hits, peaks)
	}
}

func TestSHTaskFlipTestAgreesWithPlainDecode(t *testing.T) {
	d := newDotsData(4, 0)
	task := newTestSHTask(t, d)
	idx := rangeIdx(0, 4)
	b, _ := task.Batch(datasets.Val, idx, false, 1, 0)
	fb, err := task.FlipBatch(datasets.Val, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fb) != 1 || fb[models.SHImage] == nil {
		t.Fatalf("flip batch %v", fb)
	}
	// The mirrored crops' targets, as a perfect network would predict them.
	s, h := task.cfg.Input, task.cfg.HeatmapSize()
	flipped := nn.NewTensor(4, 17, h, h)
	mask := make([]float32, 17*h*h)
	for k, i := range idx {
		r := d.recs[datasets.Val][i]
		p := shdata.FromRecord(&r)
		c, _ := d.Image(datasets.Val, i, datasets.CropSpec{Size: s, ScaleAug: 1, Flip: true})
		shdata.Targets(flipped.Data[k*17*h*h:(k+1)*17*h*h], mask, &p, c.A, true, s, h)
	}
	plain, _ := task.Decode(datasets.Val, idx, map[string]*nn.Tensor{models.SHHeatmaps: b[models.SHTarget]})
	merged, err := task.DecodeFlip(datasets.Val, idx, map[string]*nn.Tensor{models.SHHeatmaps: b[models.SHTarget]},
		map[string]*nn.Tensor{models.SHHeatmaps: flipped})
	if err != nil {
		t.Fatal(err)
	}
	for k := range plain {
		for j := range plain[k].Pose2D {
			p, m := plain[k].Pose2D[j], merged[k].Pose2D[j]
			if e := math.Hypot(p[0]-m[0], p[1]-m[1]); e > 0.5*200*1.2/32*math.Sqrt2 {
				t.Errorf("sample %d joint %d: flip test moved the joint %.2f px", k, j, e)
			}
		}
	}
}

func TestSHTaskRejectsBadInput(t *testing.T) {
	d := newDotsData(2, 0)
	if _, err := newSHTask(TaskEnv{Spec: Spec{Preset: "huge"}, Data: d}); err == nil {
		t.Error("unknown preset accepted")
	}
	if _, err := newSHTask(TaskEnv{Spec: Spec{Preset: "test", Loss: "l1"}, Data: d}); err == nil {
		t.Error("l1 loss accepted")
	}
	task := newTestSHTask(t, d)
	if _, err := task.Batch(datasets.Val, []int{5}, false, 0, 0); err == nil {
		t.Error("index out of range accepted")
	}
	nan := nn.NewTensor(1, 17, 8, 8)
	nan.Data[3] = float32(math.NaN())
	if _, err := task.Decode(datasets.Val, []int{0}, map[string]*nn.Tensor{models.SHHeatmaps: nan}); err == nil {
		t.Error("NaN heatmaps decoded")
	}
	if _, err := task.Decode(datasets.Val, []int{0}, map[string]*nn.Tensor{}); err == nil {
		t.Error("missing output decoded")
	}
	for _, p := range []string{"tiny", "seed", "seed-n1", "seed-n8", "test"} {
		s, err := presetDefaults("sh", p)
		s.Schedule.StepsPerEpoch = 100 // the engine fills it in
		if err != nil || s.Schedule.Validate() != nil || s.Batch < 1 || s.Epochs < 1 {
			t.Errorf("preset %s: %+v %v", p, s, err)
		}
	}
	if s, _ := presetDefaults("sh", "seed"); s.Batch != 6 || s.Epochs != 70 || s.Schedule.BaseLR != 5e-4 || len(s.Schedule.Milestones) != 2 {
		t.Errorf("seed preset %+v", s)
	}
	if c, _ := shConfig("seed-n8"); c.Stacks != 8 || c.Features != 256 {
		t.Errorf("seed-n8 %+v", c)
	}
}

// ETH's and mmpose's MPII JSON carry no head boxes. PCKh must then use
// the head segment (upper neck to head top, docs/metrics.md), not a zero
// threshold that fails every joint.
func TestSHTaskPCKhWithoutMPIIHeadBoxes(t *testing.T) {
	d := newDotsData(2, 3)
	for i := range d.mpii[datasets.Val] {
		m := &d.mpii[datasets.Val][i]
		m.HeadBox = [2]pose.Vec2{}
		// A 40 px head segment: the threshold is 20 px.
		m.Joints[8] = pose.Vec2{500, 300}
		m.Joints[9] = pose.Vec2{500, 260}
	}
	task := newTestSHTask(t, d)
	n := len(d.recs[datasets.Val])
	var preds []Prediction
	for i, m := range d.mpii[datasets.Val] {
		var p pose.Pose2D
		for h, k := range pose.MPIIForH36M {
			if k >= 0 {
				off := 12.0 // within 20 px: correct
				if k == 0 || k == 15 {
					off = 25 // r_ankle and l_wrist: wrong
				}
				p[h] = pose.Vec2{m.Joints[k][0] + off, m.Joints[k][1]}
			}
		}
		preds = append(preds, Prediction{ID: n + i, Has2D: true, Pose2D: p})
	}
	info, err := task.Evaluate(datasets.Val, preds)
	if err != nil {
		t.Fatal(err)
	}
	// 14 scored joints per person (pelvis and thorax left out), 2 wrong.
	if want := 12.0 / 14; math.Abs(info.PCKh-want) > 1e-9 {
		t.Fatalf("PCKh %.4f, want %.4f", info.PCKh, want)
	}
}

// An SH validation's samples carry each joint's error in original-image
// pixels, as the epoch's val px: a prediction off by (3, 4) px at LWrist
// and (6, 8) at Head, exact elsewhere, with RWrist unlabelled.
func TestSHSamplesCarryPerJointPx(t *testing.T) {
	d := newDotsData(2, 0)
	d.recs[datasets.Val][0].Vis[pose.RWrist] = 0
	task := newTestSHTask(t, d)
	var preds []Prediction
	for i, r := range d.recs[datasets.Val] {
		p := r.Joints2D
		p[pose.LWrist][0] += 3
		p[pose.LWrist][1] += 4
		p[pose.Head][0] -= 6
		p[pose.Head][1] += 8
		p[pose.RWrist][0] += 300 // unlabelled in sample 0: not scored there
		preds = append(preds, Prediction{ID: i, Has2D: true, Pose2D: p})
	}
	info, err := task.Evaluate(datasets.Val, preds)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Samples) != 2 {
		t.Fatalf("%d samples, want 2", len(info.Samples))
	}
	s := info.Samples[0]
	if len(s.JointsPx) != pose.NumJoints {
		t.Fatalf("sample 0: per-joint px %v", s.JointsPx)
	}
	for j, e := range s.JointsPx {
		want := 0.0
		switch j {
		case pose.LWrist:
			want = 5
		case pose.Head:
			want = 10
		case pose.RWrist:
			want = NoJointError
		}
		if math.Abs(e-want) > 1e-9 {
			t.Errorf("sample 0 %s: %v px, want %v", pose.JointNames[j], e, want)
		}
	}
	// 16 labelled joints: (5 + 10) / 16 px.
	if math.Abs(s.ErrorPx-15.0/16) > 1e-9 {
		t.Errorf("sample 0 error %v px, want %v", s.ErrorPx, 15.0/16)
	}
	if j, e, unit, ok := s.WorstJoint(); !ok || j != pose.Head || e != 10 || unit != "px" {
		t.Errorf("worst joint %s %v %s (%v), want Head 10 px", pose.JointNames[j], e, unit, ok)
	}
	// Sample 1 has RWrist labelled: 300 px off, its worst.
	if j, e, _, _ := info.Samples[1].WorstJoint(); j != pose.RWrist || math.Abs(e-300) > 1e-9 {
		t.Errorf("sample 1 worst joint %s %v px, want RWrist 300", pose.JointNames[j], e)
	}
	// A sample stored before samples carried per-joint errors has none.
	old := s
	old.JointsPx = nil
	if _, _, unit, ok := old.WorstJoint(); ok || unit != "px" {
		t.Errorf("a sample without per-joint errors gave a worst joint (%s)", unit)
	}
}
