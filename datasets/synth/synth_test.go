package synth

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"poselab/datasets"
	"poselab/pose"
)

func newTiny(t testing.TB, seed uint64) *Dataset {
	t.Helper()
	d, err := New(Tiny, seed)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSizesSplitsAndActions(t *testing.T) {
	d := newTiny(t, 1)
	want := map[datasets.Split][]string{datasets.Train: trainSubjects, datasets.Val: valSubjects, datasets.Test: testSubjects}
	wantN := map[datasets.Split]int{datasets.Train: 2048, datasets.Val: 512, datasets.Test: 512}
	for _, s := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		recs, err := d.Records(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != wantN[s] {
			t.Fatalf("%s: %d records, want %d", s, len(recs), wantN[s])
		}
		actions := map[string]bool{}
		for i, r := range recs {
			if !contains(want[s], r.Subject) {
				t.Fatalf("%s record %d has subject %s", s, i, r.Subject)
			}
			if r.ID != i || r.CamIndex != i%4 || r.Cam.ID != pose.H36MIntrinsics[i%4].ID {
				t.Fatalf("%s record %d: id %d cam %d %s", s, i, r.ID, r.CamIndex, r.Cam.ID)
			}
			actions[r.Action] = true
		}
		if s == datasets.Train && len(actions) != len(Actions) {
			t.Fatalf("train has %d of the %d actions: %v", len(actions), len(Actions), actions)
		}
	}
	mp, _ := d.MPII(datasets.Train)
	if len(mp) != 1024 {
		t.Fatalf("%d MPII train people, want 1024", len(mp))
	}
	if _, err := New("huge", 1); err == nil {
		t.Fatal("unknown size accepted")
	}
	if _, err := d.Records("dev"); err == nil {
		t.Fatal("unknown split accepted")
	}
}

func TestSeedRecordsAreFast(t *testing.T) {
	d, err := New(Seed, 7)
	if err != nil {
		t.Fatal(err)
	}
	start, cpu0 := time.Now(), cpuTime()
	n := 0
	for _, s := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		recs, err := d.Records(s)
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	el, cpu := time.Since(start), cpuTime()-cpu0
	t.Logf("%d seed-size H36M records in %v wall, %v CPU", n, el, cpu)
	if n != 40896+8140+8608 {
		t.Fatalf("%d records", n)
	}
	// The budget is 2 s; CPU time is measured because the shared test
	// machine's wall time depends on everyone else's load.
	if cpu > 2*time.Second {
		t.Fatalf("seed-size records took %v of CPU", cpu)
	}
}

func TestBonesConstantPerSubjectAndHuman(t *testing.T) {
	d := newTiny(t, 3)
	for _, s := range []datasets.Split{datasets.Train, datasets.Val} {
		recs, _ := d.Records(s)
		for i, r := range recs {
			bones, ok := d.SubjectBones(r.Subject)
			if !ok {
				t.Fatalf("no bones for %s", r.Subject)
			}
			for j := 1; j < pose.NumJoints; j++ {
				l := norm(sub(r.Joints3D[j], r.Joints3D[pose.Parents[j]]))
				if math.Abs(l-bones[j]) > 1e-6*bones[j] {
					t.Fatalf("%s record %d (%s %s): bone %s is %.4f mm, subject has %.4f", s, i, r.Subject, r.Action, pose.JointNames[j], l, bones[j])
				}
				if l < 0.8*pose.MeanBoneLengthMM[j] || l > 1.2*pose.MeanBoneLengthMM[j] {
					t.Fatalf("bone %s %.1f mm is outside human range", pose.JointNames[j], l)
				}
			}
			if dist := norm(r.Joints3D[pose.Hip]); dist < 4000 || dist > 6000 {
				t.Fatalf("%s record %d: pelvis %.0f mm from the camera, want 4-6 m", s, i, dist)
			}
		}
	}
	// Subjects differ from each other.
	b1, _ := d.SubjectBones("S1")
	b5, _ := d.SubjectBones("S5")
	if b1 == b5 {
		t.Fatal("S1 and S5 have identical bones")
	}
}

func TestProjectionsMatchCamerasAndViewsAgree(t *testing.T) {
	d := newTiny(t, 4)
	recs, _ := d.Records(datasets.Train)
	for i, r := range recs {
		real := h36mCameras[r.Subject][r.CamIndex]
		if r.Cam != real {
			t.Fatalf("record %d: camera differs from the real %s camera of %s", i, real.ID, r.Subject)
		}
		for j := range r.Joints3D {
			p := r.Cam.Project(r.Joints3D[j])
			if p != r.Joints2D[j] {
				t.Fatalf("record %d joint %d: Joints2D %v != Project %v", i, j, r.Joints2D[j], p)
			}
		}
		// The four views of a frame see one world pose.
		if i%4 != 0 {
			first := recs[i-i%4]
			for j := range r.Joints3D {
				a, b := first.Cam.CamToWorld(first.Joints3D[j]), r.Cam.CamToWorld(r.Joints3D[j])
				if norm(sub(a, b)) > 1e-3 { // the real R matrices are orthonormal to 1e-9
					t.Fatalf("record %d joint %d: world %v vs %v in view 0", i, j, b, a)
				}
			}
		}
	}
}

func TestCropsContainAllJoints(t *testing.T) {
	d := newTiny(t, 5)
	for _, s := range []datasets.Split{datasets.Train, datasets.Val} {
		recs, _ := d.Records(s)
		for i, r := range recs {
			for _, spec := range []datasets.CropSpec{{Size: 256}, {Size: 64, RotDeg: 10, Flip: true}} {
				a := datasets.CropTransform(r.Center, r.Scale, spec)
				for j, p := range r.Joints2D {
					q := datasets.Apply(a, p)
					if r.Vis[j] > 0 && (q[0] < 0 || q[1] < 0 || q[0] >= float64(spec.Size) || q[1] >= float64(spec.Size)) {
						t.Fatalf("%s record %d joint %s at %v outside the %d px crop", s, i, pose.JointNames[j], q, spec.Size)
					}
				}
			}
		}
	}
	mp, _ := d.MPII(datasets.Train)
	for i, r := range mp {
		a := datasets.CropTransform(r.Center, r.Scale, datasets.CropSpec{Size: 256})
		for j, p := range r.Joints {
			q := datasets.Apply(a, p)
			if q[0] < 0 || q[1] < 0 || q[0] >= 256 || q[1] >= 256 {
				t.Fatalf("MPII %d joint %d at %v outside the crop", i, j, q)
			}
			if r.Vis[j] > 0 && (p[0] < 0 || p[1] < 0 || p[0] >= mpiiW || p[1] >= mpiiH) {
				t.Fatalf("MPII %d joint %d visible outside the image: %v", i, j, p)
			}
		}
		if r.HeadBox[1][0]-r.HeadBox[0][0] < 2 || r.HeadBox[1][1]-r.HeadBox[0][1] < 2 {
			t.Fatalf("MPII %d head box %v", i, r.HeadBox)
		}
	}
}

func TestMPIIVisibilityMarksOcclusion(t *testing.T) {
	d := newTiny(t, 6)
	mp, _ := d.MPII(datasets.Train)
	hidden, total := 0, 0
	for _, r := range mp {
		for j := range r.Vis {
			total++
			if r.Vis[j] == 0 {
				hidden++
			}
		}
	}
	// Real MPII marks about 10-25% of joints invisible; a rendering that
	// marks none or most is wrong.
	frac := float64(hidden) / float64(total)
	t.Logf("%.1f%% of MPII joints not visible", 100*frac)
	if frac < 0.05 || frac > 0.45 {
		t.Fatalf("%.1f%% of MPII joints marked invisible", 100*frac)
	}
}

func TestTestSplitHidesLabels(t *testing.T) {
	d := newTiny(t, 2)
	recs, _ := d.Records(datasets.Test)
	full, _ := d.TestLabels()
	for i := range recs {
		root := recs[i].Joints3D[pose.Hip]
		recs[i].Joints3D[pose.Hip] = pose.Vec3{}
		if recs[i].HasLabels || recs[i].Joints3D != (pose.Pose3D{}) || recs[i].Joints2D != (pose.Pose2D{}) || recs[i].Vis != [pose.NumJoints]float64{} {
			t.Fatalf("test record %d carries labels", i)
		}
		if root != full[i].Joints3D[pose.Hip] {
			t.Fatalf("test record %d: pelvis %v, want %v (known, as in the real test files)", i, root, full[i].Joints3D[pose.Hip])
		}
		if !full[i].HasLabels || full[i].Joints3D == (pose.Pose3D{}) || full[i].Center != recs[i].Center {
			t.Fatalf("TestLabels record %d is not the labelled version", i)
		}
	}
	// Rendering test images works without labels in the records.
	if _, err := d.Image(datasets.Test, 5, datasets.CropSpec{Size: 64}); err != nil {
		t.Fatal(err)
	}
}

func TestDeterministicBytes(t *testing.T) {
	a, b := newTiny(t, 11), newTiny(t, 11)
	other := newTiny(t, 12)
	spec := datasets.CropSpec{Size: 128, ScaleAug: 1.1, RotDeg: -12, Flip: true}
	for _, s := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		// Generate b's splits in another order to show independence.
		rb, _ := b.TestLabels()
		ra, _ := a.TestLabels()
		if len(ra) != len(rb) {
			t.Fatal("test labels differ")
		}
		for _, i := range []int{0, 7, 301} {
			ca, err := a.Image(s, i, spec)
			if err != nil {
				t.Fatal(err)
			}
			cb, _ := b.Image(s, i, spec)
			if !bytes.Equal(ca.Pix, cb.Pix) || ca.A != cb.A {
				t.Fatalf("%s %d: two constructions with one seed render different bytes", s, i)
			}
			co, _ := other.Image(s, i, spec)
			if bytes.Equal(ca.Pix, co.Pix) {
				t.Fatalf("%s %d: seeds 11 and 12 render the same bytes", s, i)
			}
		}
	}
	ma, _ := a.MPIIImage(datasets.Train, 3, spec)
	mb, _ := b.MPIIImage(datasets.Train, 3, spec)
	if !bytes.Equal(ma.Pix, mb.Pix) {
		t.Fatal("MPII crops differ between constructions")
	}
	rA, _ := a.Records(datasets.Train)
	rB, _ := b.Records(datasets.Train)
	for i := range rA {
		if rA[i] != rB[i] {
			t.Fatalf("train record %d differs between constructions", i)
		}
	}
	// Across worker counts, through the prefetching loader.
	idx := []int{5, 1, 9, 2, 2, 40, 33, 8}
	specOf := func(k int) datasets.CropSpec { return datasets.CropSpec{Size: 96, Flip: k%2 == 0, RotDeg: float64(k)} }
	var runs [][][]uint8
	for _, w := range []int{1, 3} {
		var got [][]uint8
		for it := range datasets.Prefetch(context.Background(), a, datasets.Train, idx, specOf, w, 4) {
			if it.Err != nil {
				t.Fatal(it.Err)
			}
			if it.Index != idx[it.K] || it.K != len(got) {
				t.Fatalf("prefetch out of order: k %d index %d", it.K, it.Index)
			}
			got = append(got, it.Crop.Pix)
		}
		if len(got) != len(idx) {
			t.Fatalf("prefetch delivered %d of %d", len(got), len(idx))
		}
		runs = append(runs, got)
	}
	for k := range idx {
		if !bytes.Equal(runs[0][k], runs[1][k]) {
			t.Fatalf("crop %d differs between 1 and 3 workers", k)
		}
		direct, _ := a.Image(datasets.Train, idx[k], specOf(k))
		if !bytes.Equal(direct.Pix, runs[0][k]) {
			t.Fatalf("prefetched crop %d differs from a direct render", k)
		}
	}
}

func TestPrefetchStopsOnCancel(t *testing.T) {
	d := newTiny(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	idx := make([]int, 200)
	for i := range idx {
		idx[i] = i
	}
	ch := datasets.Prefetch(ctx, d, datasets.Train, idx, func(int) datasets.CropSpec { return datasets.CropSpec{Size: 32} }, 2, 4)
	<-ch
	cancel()
	n := 0
	for range ch {
		n++
	}
	if n > 10 {
		t.Fatalf("%d crops delivered after cancel", n)
	}
}

func TestFlipMirrorsPixelsAndLabels(t *testing.T) {
	d := newTiny(t, 8)
	recs, _ := d.Records(datasets.Train)
	for _, i := range []int{0, 13, 77} {
		r := recs[i]
		plain, _ := d.image(datasets.Train, i, datasets.CropSpec{Size: 128}, renderOpts{noNoise: true, noBlur: true})
		flip, _ := d.image(datasets.Train, i, datasets.CropSpec{Size: 128, Flip: true}, renderOpts{noNoise: true, noBlur: true})
		// Pixels: the flipped crop is the mirror image, mirrored as the
		// labels are: crop x goes to 128 - x (pixel x shows coordinate x;
		// column 0's partner lies outside the crop).
		off := 0
		for y := 0; y < 128; y++ {
			for x := 1; x < 128; x++ {
				for c := 0; c < 3; c++ {
					a, b := int(plain.Pix[3*(y*128+x)+c]), int(flip.Pix[3*(y*128+128-x)+c])
					if a-b > 2 || b-a > 2 {
						off++
					}
				}
			}
		}
		if off > 128*128*3/200 {
			t.Fatalf("record %d: %d channel values differ between the crop and its mirrored flip", i, off)
		}
		// Labels: after swapping partners, joint j of the flipped crop sits
		// where its partner was, mirrored; e.g. the flipped "right wrist" is
		// the original left wrist.
		for j := range r.Joints2D {
			pj := pose.FlipPartner[j]
			want := datasets.Apply(plain.A, r.Joints2D[pj])
			got := datasets.Apply(flip.A, r.Joints2D[pj]) // label j after the swap
			if math.Abs(got[0]-(128-want[0])) > 1e-9 || math.Abs(got[1]-want[1]) > 1e-9 {
				t.Fatalf("joint %s: flipped label %v, want mirror of %v", pose.JointNames[j], got, want)
			}
		}
		// Colours: around the swapped label of each wrist and foot, the
		// flipped crop shows what the plain crop shows around the partner
		// joint (mirrored): the left wrist's sleeve stays the left's.
		for _, j := range []int{pose.LWrist, pose.RWrist, pose.LFoot, pose.RFoot, pose.Head} {
			pj := pose.FlipPartner[j]
			p := datasets.Apply(plain.A, r.Joints2D[pj])
			q := datasets.Apply(flip.A, r.Joints2D[pj])
			// Pixel x shows coordinate x: a label's pixel is the nearest.
			a, b := patchMean(plain, int(math.Round(p[0])), int(math.Round(p[1]))), patchMean(flip, int(math.Round(q[0])), int(math.Round(q[1])))
			for c := range a {
				if math.Abs(a[c]-b[c]) > 8 {
					t.Fatalf("record %d joint %s: colour %v in the crop, %v at the flipped label", i, pose.JointNames[j], a, b)
				}
			}
		}
	}
}

// frontalPose is a person facing the camera 5 m away (camera coordinates:
// x right, y down, z forward) with the right forearm across the body in
// front of the torso (front) or behind the back.
func frontalPose(b *body, front bool) pose.Pose3D {
	up, right, fwd := pose.Vec3{0, -1, 0}, pose.Vec3{-1, 0, 0}, pose.Vec3{0, 0, -1}
	down := scale(up, -1)
	var d [pose.NumJoints]pose.Vec3
	d[pose.RHip], d[pose.LHip] = right, scale(right, -1)
	d[pose.RKnee], d[pose.RFoot], d[pose.LKnee], d[pose.LFoot] = down, down, down, down
	d[pose.Spine], d[pose.Thorax], d[pose.Neck], d[pose.Head] = up, up, unit(add(up, fwd)), up
	d[pose.RShoulder], d[pose.LShoulder] = right, scale(right, -1)
	d[pose.RElbow], d[pose.RWrist], d[pose.LElbow], d[pose.LWrist] = down, down, down, down
	p := retarget(d, &b.bones)
	for j := range p {
		p[j] = add(p[j], pose.Vec3{0, 0, 5000})
	}
	depth := 260.0
	if !front {
		depth = -260
	}
	target := add(add(p[pose.Spine], scale(fwd, depth)), scale(right, -120))
	solveArm(&p, true, target, add(right, scale(fwd, depth/260)))
	return p
}

func TestNearerLimbOccludesTorso(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	b := newBody(r)
	b.look.skin = rgb{0.1, 0.9, 0.1}  // green forearm (short sleeves)
	b.look.shirt = rgb{0.9, 0.1, 0.1} // red torso
	b.look.shirt2 = b.look.shirt
	b.look.shortSleeves = true
	rm := newLabRoom(r)
	li := light{dir: pose.Vec3{0, 0, -1}, ambient: 0.5, diffuse: 0.5, tint: rgb{1, 1, 1}}
	cam := pose.Camera{Fx: 1145, Fy: 1145, Cx: 500, Cy: 500, R: identity, W: 1000, H: 1000}
	for _, front := range []bool{true, false} {
		p := frontalPose(&b, front)
		var j2 pose.Pose2D
		for j := range p {
			j2[j] = cam.Project(p[j])
		}
		c, s := personBox(j2[:])
		crop := &datasets.Crop{Size: 256, A: datasets.CropTransform(c, s, datasets.CropSpec{Size: 256})}
		render(crop, &scene{cam: &cam, joints: &p, body: &b, room: &rm, light: li}, renderOpts{noBlur: true, noNoise: true})
		mid := datasets.Apply(crop.A, cam.Project(lerp3(p[pose.RElbow], p[pose.RWrist], 0.5)))
		o := 3 * (int(mid[1])*256 + int(mid[0]))
		red, green := crop.Pix[o], crop.Pix[o+1]
		if front && !(green > 2*red) {
			t.Fatalf("forearm in front of the torso: pixel %v is not the forearm's green", crop.Pix[o:o+3])
		}
		if !front && !(red > 2*green) {
			t.Fatalf("forearm behind the torso: pixel %v is not the torso's red", crop.Pix[o:o+3])
		}
	}
}

func TestRetargetKeepsDirections(t *testing.T) {
	clips, err := loadClips()
	if err != nil {
		t.Fatal(err)
	}
	b := newBody(rand.New(rand.NewPCG(3, 3)))
	for _, c := range clips {
		f := len(c.dirs) / 2
		p := retarget(c.dirs[f], &b.bones)
		for j := 1; j < pose.NumJoints; j++ {
			got := unit(sub(p[j], p[pose.Parents[j]]))
			if norm(sub(got, c.dirs[f][j])) > 1e-9 {
				t.Fatalf("clip %s: bone %s direction changed", c.name, pose.JointNames[j])
			}
		}
		// Standing frames stand: feet below the pelvis, head above.
		for fr, st := range c.stand {
			if st {
				q := retarget(c.dirs[fr], &b.bones)
				if q[pose.Head][2] < q[pose.Hip][2]+500 || q[pose.RFoot][2] > q[pose.Hip][2]-700 {
					t.Fatalf("clip %s frame %d classed standing but is not upright", c.name, fr)
				}
			}
		}
	}
}

// patchMean is the mean colour of the 3x3 pixels around (x, y).
func patchMean(c *datasets.Crop, x, y int) [3]float64 {
	var m [3]float64
	n := 0.0
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			u, v := min(max(x+dx, 0), c.Size-1), min(max(y+dy, 0), c.Size-1)
			for k := 0; k < 3; k++ {
				m[k] += float64(c.Pix[3*(v*c.Size+u)+k])
			}
			n++
		}
	}
	for k := range m {
		m[k] /= n
	}
	return m
}

func TestOddAndSmallCropSizes(t *testing.T) {
	d := newTiny(t, 1)
	for _, s := range []int{8, 9, 63, 255, 257} {
		c, err := d.Image(datasets.Train, 3, datasets.CropSpec{Size: s, RotDeg: 30})
		if err != nil || len(c.Pix) != 3*s*s {
			t.Fatalf("size %d: %v", s, err)
		}
		if _, err := d.MPIIImage(datasets.Train, 3, datasets.CropSpec{Size: s}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []int{0, 4, 5000} {
		if _, err := d.Image(datasets.Train, 3, datasets.CropSpec{Size: s}); err == nil {
			t.Fatalf("crop size %d accepted", s)
		}
	}
	if _, err := d.Image(datasets.Train, 2048, datasets.CropSpec{Size: 32}); err == nil {
		t.Fatal("index past the end accepted")
	}
}
