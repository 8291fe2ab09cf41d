package engine

import (
	"math"
	"testing"

	"poselab/datasets"
	"poselab/models"
	"poselab/nn"
	"poselab/pose"
)

func newTestBaselineTask(t *testing.T, d datasets.Dataset, augment bool) *baselineTask {
	t.Helper()
	task, err := newBaselineTask(TaskEnv{Spec: Spec{Model: "baseline", Preset: "tiny", Augment: augment}, Data: d})
	if err != nil {
		t.Fatal(err)
	}
	return task.(*baselineTask)
}

// The rotation and flip of the 3D pose match what the crop transform does
// to its projection: for a distant person on the optical axis (weak
// perspective) crop offsets from the root are k*f/Z times (X, Y).
func TestBaselineAugmentMatchesCrop(t *testing.T) {
	cam := pose.Camera{Fx: 1000, Fy: 1000, Cx: 500, Cy: 500}
	const z = 1e6 // mm: far enough that perspective is negligible
	var p pose.Pose3D
	for j := range p {
		p[j] = pose.Vec3{float64(37*j%11-5) * 100, float64(53*j%13-6) * 100, z + float64(j%3)*100}
	}
	p[pose.Hip] = pose.Vec3{0, 0, z}
	rel := pose.RootRelative(p)
	for _, tc := range []struct {
		rot  float64
		flip bool
	}{{0, true}, {25, false}, {-17, true}} {
		spec := datasets.CropSpec{Size: 64, RotDeg: tc.rot, Flip: tc.flip}
		a := datasets.CropTransform(pose.Vec2{500, 500}, 1, spec)
		k := 64.0 / 200 * cam.Fx / z
		q := baselineAugmentPose(rel, tc.rot, tc.flip)
		root := datasets.Apply(a, cam.ProjectPinhole(p[pose.Hip]))
		for j := range p {
			src := j
			if tc.flip {
				src = pose.FlipPartner[j]
			}
			c := datasets.Apply(a, cam.ProjectPinhole(p[src]))
			got := pose.Vec2{(c[0] - root[0]) / k, (c[1] - root[1]) / k}
			if math.Abs(got[0]-q[j][0]) > 0.5 || math.Abs(got[1]-q[j][1]) > 0.5 || q[j][2] != rel[src][2] {
				t.Errorf("rot %g flip %v joint %d: crop says %v, pose says %v", tc.rot, tc.flip, j, got, q[j])
			}
		}
	}
}

// Normalised targets decode back to the poses (plain and augmented), and
// the normalisation travels as task state.
func TestBaselineTargetsRoundTrip(t *testing.T) {
	d := newIRFakeData(6)
	task := newTestBaselineTask(t, d, true)
	if task.std[0] != 1 || task.mean[0] != 0 {
		t.Errorf("root normalisation %g, %g; want 0, 1", task.mean[0], task.std[0])
	}
	idx := seq(6)
	b, err := task.Batch(datasets.Val, idx, false, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	preds, err := task.Decode(datasets.Val, idx, map[string]*nn.Tensor{models.BaselinePose: b[models.BaselineTarget]})
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.Evaluate(datasets.Val, preds)
	if err != nil {
		t.Fatal(err)
	}
	if info.MPJPE > 0.01 {
		t.Errorf("decoded targets are %.4f mm off", info.MPJPE)
	}
	// Augmented training targets are the augmented poses.
	bt, err := task.Batch(datasets.Train, idx, true, 3, 9)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := task.Decode(datasets.Train, idx, map[string]*nn.Tensor{models.BaselinePose: bt[models.BaselineTarget]})
	changed := 0
	for k, i := range idx {
		r := imageRNG(3, 9, i)
		rot := baselineRotDeg * (2*r.Float64() - 1)
		flip := r.Float64() < 0.5
		want := baselineAugmentPose(pose.RootRelative(d.recs[datasets.Train][i].Joints3D), rot, flip)
		if e := pose.MPJPE([]pose.Pose3D{pt[k].Pose3D}, []pose.Pose3D{want}); e > 0.01 {
			t.Errorf("sample %d: augmented target %.3f mm from the augmented pose", i, e)
		}
		if pose.MPJPE([]pose.Pose3D{pt[k].Pose3D}, []pose.Pose3D{pose.RootRelative(d.recs[datasets.Train][i].Joints3D)}) > 1 {
			changed++
		}
	}
	if changed == 0 {
		t.Error("augmentation changed no pose")
	}
	// Without Augment (pipeline A) training batches are not augmented.
	plain := newTestBaselineTask(t, d, false)
	b1, _ := plain.Batch(datasets.Train, idx, true, 3, 9)
	b2, _ := plain.Batch(datasets.Train, idx, false, 3, 9)
	for i := range b1[models.BaselineTarget].Data {
		if b1[models.BaselineTarget].Data[i] != b2[models.BaselineTarget].Data[i] {
			t.Fatal("baseline A augmented its training batch")
		}
	}
	// State round trip, and bad state is refused.
	st := task.State()
	other := newTestBaselineTask(t, newIRFakeData(3), false)
	if err := other.SetState(st); err != nil {
		t.Fatal(err)
	}
	for k := range task.mean {
		if math.Abs(other.mean[k]-task.mean[k]) > 1e-3 || math.Abs(other.std[k]-task.std[k]) > 1e-3 {
			t.Fatalf("state did not round-trip at %d", k)
		}
	}
	st["std"].Data[4] = 0
	if err := other.SetState(st); err == nil {
		t.Error("zero std accepted")
	}
	if err := other.SetState(map[string]*nn.Tensor{}); err == nil {
		t.Error("empty state accepted")
	}
}
