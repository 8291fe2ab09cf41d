package pose

import (
	"math"
	"math/rand/v2"
	"testing"
)

// samplePose builds a standing pose in camera coordinates (mm, y down,
// z forward) with Human3.6M mean bone lengths, its pelvis at depth z.
func samplePose(z float64) Pose3D {
	dir := [NumJoints]Vec3{
		{}, {-1, 0, 0}, {0, 1, 0.05}, {0, 1, -0.05}, {1, 0, 0}, {0, 1, 0.1}, {0, 1, 0},
		{0, -1, 0.02}, {0, -1, 0}, {0, -1, -0.1}, {0, -1, 0.05}, {1, 0.1, 0}, {0.2, 1, 0.3},
		{0, 1, 0.4}, {-1, 0.1, 0}, {-0.3, 1, 0.1}, {0.1, 0.8, 0.5},
	}
	var p Pose3D
	p[Hip] = Vec3{80, -120, z}
	for j := 1; j < NumJoints; j++ {
		d := dir[j]
		n := math.Sqrt(d[0]*d[0] + d[1]*d[1] + d[2]*d[2])
		l := MeanBoneLengthMM[j]
		par := p[Parents[j]]
		p[j] = Vec3{par[0] + l*d[0]/n, par[1] + l*d[1]/n, par[2] + l*d[2]/n}
	}
	return p
}

func noisy(p Pose3D, rng *rand.Rand, sd float64) Pose3D {
	for j := range p {
		for k := 0; k < 3; k++ {
			p[j][k] += sd * rng.NormFloat64()
		}
	}
	return p
}

// similarity applies s R p + t to every joint, R a rotation about the axis.
func similarity(p Pose3D, axis Vec3, angle, s float64, t Vec3) Pose3D {
	n := math.Sqrt(axis[0]*axis[0] + axis[1]*axis[1] + axis[2]*axis[2])
	x, y, z := axis[0]/n, axis[1]/n, axis[2]/n
	sn, c := math.Sincos(angle)
	C := 1 - c
	r := [3][3]float64{
		{c + x*x*C, x*y*C - z*sn, x*z*C + y*sn},
		{y*x*C + z*sn, c + y*y*C, y*z*C - x*sn},
		{z*x*C - y*sn, z*y*C + x*sn, c + z*z*C},
	}
	var q Pose3D
	for j := range p {
		for i := 0; i < 3; i++ {
			q[j][i] = s*(r[i][0]*p[j][0]+r[i][1]*p[j][1]+r[i][2]*p[j][2]) + t[i]
		}
	}
	return q
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestMPJPEHandCase(t *testing.T) {
	g := samplePose(4000)
	p := g
	p[RFoot][0] += 3
	p[RFoot][1] += 4 // 5 mm off
	// Moving the whole prediction does not matter: both are root-aligned.
	for j := range p {
		p[j][2] += 250
	}
	pred, gt := []Pose3D{p, g}, []Pose3D{g, g}
	if e := MPJPE(pred, gt); !near(e, 5.0/NumJoints/2, 1e-9) {
		t.Fatalf("MPJPE = %v, want %v", e, 5.0/NumJoints/2)
	}
	pj := PerJointMPJPE(pred, gt)
	for j, e := range pj {
		want := 0.0
		if j == RFoot {
			want = 2.5
		}
		if !near(e, want, 1e-9) {
			t.Errorf("per-joint %s = %v, want %v", JointNames[j], e, want)
		}
	}
	// Moving the root alone moves every other joint relative to it.
	q := g
	q[Hip][0] += 17
	if e := MPJPE([]Pose3D{q}, []Pose3D{g}); !near(e, 17.0*16/17, 1e-9) {
		t.Fatalf("root moved by 17 mm: MPJPE = %v, want %v", e, 17.0*16/17)
	}
}

func TestPCKAndAUCOnConstructedErrors(t *testing.T) {
	g := samplePose(5000)
	p := g
	for j := 1; j < NumJoints; j++ {
		p[j][0] += 10 * float64(j) // errors 10, 20, ..., 160 mm; root 0
	}
	pred, gt := []Pose3D{p}, []Pose3D{g}
	// Errors <= 150: the root and joints 1..15 (150 mm counts).
	if pck := PCK3D(pred, gt, 150); !near(pck, 16.0/17, 1e-12) {
		t.Fatalf("3DPCK@150 = %v, want 16/17", pck)
	}
	// At threshold t, 1 + floor(t/10) joints are within it (capped at 16):
	// sum over t = 0..145 of 1 + floor(t/10) is 240, plus 16 at t = 150.
	wantAUC := 256.0 / (31 * 17)
	if auc := AUC(pred, gt); !near(auc, wantAUC, 1e-12) {
		t.Fatalf("AUC = %v, want %v", auc, wantAUC)
	}
	r := Evaluate(pred, gt, nil)
	if !near(r.PCK150, 16.0/17, 1e-12) || !near(r.AUC, wantAUC, 1e-12) {
		t.Fatalf("Evaluate PCK %v AUC %v", r.PCK150, r.AUC)
	}
	// A perfect prediction scores 1 on both.
	if r := Evaluate(gt, gt, nil); r.PCK150 != 1 || r.AUC != 1 || r.MPJPE != 0 {
		t.Fatalf("perfect prediction: %+v", r)
	}
}

func TestPMPJPEInvariantToSimilarity(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var pred, gt, moved []Pose3D
	for i := 0; i < 50; i++ {
		g := samplePose(3000 + 100*float64(i))
		p := noisy(g, rng, 40)
		pred = append(pred, p)
		gt = append(gt, g)
		axis := Vec3{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		moved = append(moved, similarity(p, axis, rng.Float64()*2*math.Pi, 0.3+2*rng.Float64(),
			Vec3{rng.NormFloat64() * 1000, rng.NormFloat64() * 1000, rng.NormFloat64() * 1000}))
	}
	a, b := PMPJPE(pred, gt), PMPJPE(moved, gt)
	if !near(a, b, 1e-6) {
		t.Fatalf("P-MPJPE %v changes to %v under a similarity transform", a, b)
	}
	if a <= 0 || a >= MPJPE(pred, gt) {
		t.Fatalf("P-MPJPE %v should be > 0 and below MPJPE %v", a, MPJPE(pred, gt))
	}
	// An exact similarity transform of the ground truth aligns to 0.
	exact := similarity(gt[0], Vec3{1, 2, 3}, 2.1, 1.7, Vec3{5, -900, 40})
	if e := PMPJPE([]Pose3D{exact}, gt[:1]); e > 1e-6 {
		t.Fatalf("P-MPJPE of a transformed ground truth = %v mm", e)
	}
	if e := MPJPE([]Pose3D{exact}, gt[:1]); e < 100 {
		t.Fatalf("test setup: MPJPE of the transformed pose is only %v", e)
	}
}

func TestPMPJPENeverAlignsByReflection(t *testing.T) {
	g := RootRelative(samplePose(4000))
	m := g
	for j := range m {
		m[j][0] = -m[j][0] // a mirror image, labels unchanged
	}
	e := PMPJPE([]Pose3D{m}, []Pose3D{g})
	if e < 10 {
		t.Fatalf("mirrored prediction aligned to %v mm: a reflection was used", e)
	}
	// The alignment is a least-squares optimum over proper rotations:
	// turning the aligned pose a little about any axis only makes its sum
	// of squared distances worse.
	al := ProcrustesAlign(m, g)
	base := meanDist(al, g)
	if !near(base, e, 1e-9) {
		t.Fatalf("ProcrustesAlign error %v differs from PMPJPE %v", base, e)
	}
	for _, axis := range []Vec3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}} {
		for _, ang := range []float64{-0.02, 0.02} {
			q := rotateAbout(al, axis, ang)
			if got := sumSq(q, g); got < sumSq(al, g)-1e-9 {
				t.Fatalf("rotating the aligned pose by %v about %v improves %v -> %v", ang, axis, sumSq(al, g), got)
			}
		}
	}
}

func TestNMPJPEScaleInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	g := samplePose(4500)
	p := noisy(g, rng, 30)
	base := NMPJPE([]Pose3D{p}, []Pose3D{g})
	for _, s := range []float64{0.5, 1.7, 3} {
		q := similarity(RootRelative(p), Vec3{0, 0, 1}, 0, s, Vec3{11, 22, 33})
		if got := NMPJPE([]Pose3D{q}, []Pose3D{g}); !near(got, base, 1e-9) {
			t.Fatalf("N-MPJPE %v changes to %v at scale %v", base, got, s)
		}
	}
	// A scaled ground truth scores 0, though its MPJPE is large.
	q := similarity(RootRelative(g), Vec3{0, 0, 1}, 0, 1.25, Vec3{})
	if e := NMPJPE([]Pose3D{q}, []Pose3D{g}); e > 1e-9 {
		t.Fatalf("N-MPJPE of scaled ground truth = %v", e)
	}
	if e := MPJPE([]Pose3D{q}, []Pose3D{g}); e < 50 {
		t.Fatalf("test setup: scaled pose MPJPE only %v", e)
	}
}

func TestEvaluateMatchesSingleMetricsAndGroupsActions(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var pred, gt []Pose3D
	var actions []string
	for i := 0; i < 30; i++ {
		g := samplePose(4000 + 50*float64(i))
		sd := 10.0
		a := "Walking"
		if i%3 == 0 {
			sd, a = 60, "Sitting"
		}
		pred = append(pred, noisy(g, rng, sd))
		gt = append(gt, g)
		actions = append(actions, a)
	}
	r := Evaluate(pred, gt, actions)
	if r.N != 30 || !near(r.MPJPE, MPJPE(pred, gt), 1e-9) || !near(r.PMPJPE, PMPJPE(pred, gt), 1e-9) ||
		!near(r.NMPJPE, NMPJPE(pred, gt), 1e-9) || !near(r.PCK150, PCK3D(pred, gt, 150), 1e-12) ||
		!near(r.AUC, AUC(pred, gt), 1e-12) || r.PerJoint != PerJointMPJPE(pred, gt) {
		t.Fatalf("Evaluate disagrees with the single metrics: %+v", r)
	}
	byAction := GroupMean(actions, SampleErrors(nil, pred, gt))
	if len(r.PerAction) != 2 || r.PerActionN["Sitting"] != 10 || r.PerActionN["Walking"] != 20 {
		t.Fatalf("per-action table %v %v", r.PerAction, r.PerActionN)
	}
	for a, e := range byAction {
		if !near(r.PerAction[a], e, 1e-9) {
			t.Errorf("%s: %v vs %v", a, r.PerAction[a], e)
		}
	}
	if !(r.PerAction["Sitting"] > 2*r.PerAction["Walking"]) {
		t.Fatalf("noisier action should score worse: %v", r.PerAction)
	}
	var sit, sitG []Pose3D
	for i := range pred {
		if actions[i] == "Sitting" {
			sit, sitG = append(sit, pred[i]), append(sitG, gt[i])
		}
	}
	if !near(r.PerActionPMPJPE["Sitting"], PMPJPE(sit, sitG), 1e-9) {
		t.Fatalf("per-action P-MPJPE %v vs %v", r.PerActionPMPJPE["Sitting"], PMPJPE(sit, sitG))
	}
	var sum float64
	for _, e := range r.PerJoint {
		sum += e
	}
	if !near(sum/NumJoints, r.MPJPE, 1e-9) || r.PerJoint[Hip] != 0 {
		t.Fatalf("per-joint mean %v vs MPJPE %v (root %v)", sum/NumJoints, r.MPJPE, r.PerJoint[Hip])
	}
}

func TestAUCBucketBoundaries(t *testing.T) {
	cases := map[float64]int{0: 0, 0.1: 1, 5: 1, 5.0000001: 2, 149.9: 30, 150: 30, 150.01: 31, math.NaN(): 31, math.Inf(1): 31}
	for d, want := range cases {
		if got := aucBucket(d); got != want {
			t.Errorf("aucBucket(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestPCKhHandCase(t *testing.T) {
	var gt MPIIPerson
	gt.HeadBox = [2]Vec2{{100, 100}, {130, 140}} // diagonal 50 -> head 30 -> threshold 15 px
	var pred [NumMPIIJoints]Vec2
	for j := range gt.Joints {
		gt.Joints[j] = Vec2{float64(10 * j), 200}
		gt.Vis[j] = 1
		pred[j] = gt.Joints[j]
		pred[j][1] += 10 // within 15 px
	}
	pred[0][0] += 12           // r_ankle: sqrt(12^2+10^2) = 15.6 > 15: wrong
	pred[1][1] += 5            // r_knee: exactly 15: right
	pred[MPIIPelvis][0] += 100 // pelvis wrong but not in the summary
	gt.Vis[15] = 0             // l_wrist invisible and wrong: ignored
	pred[15][0] += 500
	r := PCKh([][NumMPIIJoints]Vec2{pred}, []MPIIPerson{gt}, 0.5)
	// Summary: 14 joints minus invisible l_wrist = 13 counted, 12 right.
	// A fraction, like Report's PCK150 (it was a percentage: 92.3).
	if !near(r.Summary, 12.0/13, 1e-9) {
		t.Fatalf("PCKh summary %v, want %v", r.Summary, 12.0/13)
	}
	if r.PerJoint[0] != 0 || r.PerJoint[1] != 1 || r.PerJoint[MPIIPelvis] != 0 || r.PerJoint[MPIIThorax] != 1 {
		t.Fatalf("per-joint %v", r.PerJoint)
	}
	if !math.IsNaN(r.PerJoint[15]) || r.Visible[15] != 0 {
		t.Fatalf("invisible joint scored: %v (%d)", r.PerJoint[15], r.Visible[15])
	}
	if HeadSize(gt.HeadBox) != 30 {
		t.Fatalf("head size %v", HeadSize(gt.HeadBox))
	}
}

func BenchmarkEvaluate8k(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	n := 8140
	pred, gt, act := make([]Pose3D, n), make([]Pose3D, n), make([]string, n)
	for i := range pred {
		gt[i] = samplePose(4000)
		pred[i] = noisy(gt[i], rng, 50)
		act[i] = []string{"Walking", "Sitting", "Eating"}[i%3]
	}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(pred, gt, act)
	}
}

func meanDist(p, g Pose3D) float64 {
	var s float64
	for j := range p {
		s += dist(p[j], g[j])
	}
	return s / NumJoints
}

// rotateAbout rotates a pose about its centroid.
func rotateAbout(p Pose3D, axis Vec3, ang float64) Pose3D {
	var c Vec3
	for j := range p {
		for k := 0; k < 3; k++ {
			c[k] += p[j][k] / NumJoints
		}
	}
	for j := range p {
		for k := 0; k < 3; k++ {
			p[j][k] -= c[k]
		}
	}
	return similarity(p, axis, ang, 1, c)
}

func sumSq(p, g Pose3D) float64 {
	var s float64
	for j := range p {
		d := dist(p[j], g[j])
		s += d * d
	}
	return s
}
