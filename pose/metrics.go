package pose

import (
	"math"

	"gonum.org/v1/gonum/mat"
)

// The 3D metrics of docs/metrics.md. Every function takes poses in mm in
// H36M joint order and root-aligns prediction and ground truth itself, so
// callers may pass camera-space poses with the root position included.
// Slices of predictions and ground truth must have the same length; a
// mismatch is a programming error and panics.

// PCKThresholdMM is the 3DPCK threshold (mm).
const PCKThresholdMM = 150

// AUCThresholdsMM are the 31 thresholds 0, 5, ..., 150 mm the AUC averages
// 3DPCK over.
var AUCThresholdsMM = func() (t [31]float64) {
	for i := range t {
		t[i] = float64(5 * i)
	}
	return t
}()

// Report holds every 3D metric of one evaluation. Distances are mm,
// PCK150 and AUC are fractions (0..1).
type Report struct {
	N        int
	MPJPE    float64 // protocol 1
	PMPJPE   float64 // protocol 2 (Procrustes-aligned)
	NMPJPE   float64 // scale-normalised
	PCK150   float64
	AUC      float64
	PerJoint [NumJoints]float64 // MPJPE per joint (index 0, the root, is 0)
	// PerAction and PerActionPMPJPE give MPJPE and P-MPJPE per action
	// label; nil when no labels were given.
	PerAction       map[string]float64
	PerActionPMPJPE map[string]float64
	PerActionN      map[string]int
}

// Evaluate computes every 3D metric in one pass. actions may be nil;
// otherwise it labels each sample and the per-action tables are filled.
func Evaluate(pred, gt []Pose3D, actions []string) Report {
	checkLen(len(pred), len(gt))
	if actions != nil && len(actions) != len(pred) {
		panic("pose: Evaluate: actions and predictions differ in length")
	}
	r := Report{N: len(pred)}
	if r.N == 0 {
		return r
	}
	var (
		al       aligner
		hist     [len(AUCThresholdsMM) + 1]int
		sumP     float64
		sumN     float64
		sumJoint [NumJoints]float64
		actSum   map[string]float64
		actSumP  map[string]float64
	)
	if actions != nil {
		actSum = map[string]float64{}
		actSumP = map[string]float64{}
		r.PerActionN = map[string]int{}
	}
	for i := range pred {
		p, g := RootRelative(pred[i]), RootRelative(gt[i])
		var e float64
		for j := range p {
			d := dist(p[j], g[j])
			e += d
			sumJoint[j] += d
			hist[aucBucket(d)]++
		}
		ep := al.procrustesError(&p, &g)
		sumP += ep
		sumN += scaledError(&p, &g)
		if actions != nil {
			a := actions[i]
			actSum[a] += e / NumJoints
			actSumP[a] += ep
			r.PerActionN[a]++
		}
	}
	n := float64(r.N)
	var total float64
	for j := range sumJoint {
		r.PerJoint[j] = sumJoint[j] / n
		total += sumJoint[j]
	}
	r.MPJPE = total / (n * NumJoints)
	r.PMPJPE = sumP / n
	r.NMPJPE = sumN / n
	r.PCK150, r.AUC = pckFromHist(hist[:], r.N*NumJoints)
	if actions != nil {
		r.PerAction = make(map[string]float64, len(actSum))
		r.PerActionPMPJPE = make(map[string]float64, len(actSum))
		for a, s := range actSum {
			c := float64(r.PerActionN[a])
			r.PerAction[a] = s / c
			r.PerActionPMPJPE[a] = actSumP[a] / c
		}
	}
	return r
}

// MPJPE is the mean per-joint position error (mm) after root alignment.
func MPJPE(pred, gt []Pose3D) float64 {
	checkLen(len(pred), len(gt))
	if len(pred) == 0 {
		return 0
	}
	var s float64
	for i := range pred {
		s += poseError(pred[i], gt[i])
	}
	return s / float64(len(pred))
}

// PerJointMPJPE is MPJPE per joint (mm), averaged over samples only.
func PerJointMPJPE(pred, gt []Pose3D) [NumJoints]float64 {
	checkLen(len(pred), len(gt))
	var out [NumJoints]float64
	if len(pred) == 0 {
		return out
	}
	for i := range pred {
		p, g := RootRelative(pred[i]), RootRelative(gt[i])
		for j := range p {
			out[j] += dist(p[j], g[j])
		}
	}
	for j := range out {
		out[j] /= float64(len(pred))
	}
	return out
}

// PMPJPE is MPJPE after aligning each prediction to its ground truth with
// the best similarity transform (protocol 2).
func PMPJPE(pred, gt []Pose3D) float64 {
	checkLen(len(pred), len(gt))
	if len(pred) == 0 {
		return 0
	}
	var al aligner
	var s float64
	for i := range pred {
		p, g := pred[i], gt[i]
		s += al.procrustesError(&p, &g)
	}
	return s / float64(len(pred))
}

// NMPJPE is MPJPE after scaling each root-aligned prediction by the
// least-squares factor s = sum(p.g) / sum(p.p).
func NMPJPE(pred, gt []Pose3D) float64 {
	checkLen(len(pred), len(gt))
	if len(pred) == 0 {
		return 0
	}
	var s float64
	for i := range pred {
		p, g := RootRelative(pred[i]), RootRelative(gt[i])
		s += scaledError(&p, &g)
	}
	return s / float64(len(pred))
}

// PCK3D is the fraction (0..1) of joints, over all samples and joints,
// whose root-aligned error is <= thresholdMM.
func PCK3D(pred, gt []Pose3D, thresholdMM float64) float64 {
	checkLen(len(pred), len(gt))
	if len(pred) == 0 {
		return 0
	}
	ok := 0
	for i := range pred {
		p, g := RootRelative(pred[i]), RootRelative(gt[i])
		for j := range p {
			if dist(p[j], g[j]) <= thresholdMM {
				ok++
			}
		}
	}
	return float64(ok) / float64(len(pred)*NumJoints)
}

// AUC is the mean of 3DPCK over AUCThresholdsMM (0..1).
func AUC(pred, gt []Pose3D) float64 {
	checkLen(len(pred), len(gt))
	if len(pred) == 0 {
		return 0
	}
	var hist [len(AUCThresholdsMM) + 1]int
	for i := range pred {
		p, g := RootRelative(pred[i]), RootRelative(gt[i])
		for j := range p {
			hist[aucBucket(dist(p[j], g[j]))]++
		}
	}
	_, auc := pckFromHist(hist[:], len(pred)*NumJoints)
	return auc
}

// GroupMean averages values by label (e.g. per-sample errors by action).
func GroupMean(labels []string, values []float64) map[string]float64 {
	checkLen(len(labels), len(values))
	sum := map[string]float64{}
	cnt := map[string]int{}
	for i, l := range labels {
		sum[l] += values[i]
		cnt[l]++
	}
	for l := range sum {
		sum[l] /= float64(cnt[l])
	}
	return sum
}

// SampleErrors writes each sample's root-aligned mean joint error (mm)
// into dst (grown if needed) and returns it; GroupMean turns it into a
// per-action table.
func SampleErrors(dst []float64, pred, gt []Pose3D) []float64 {
	checkLen(len(pred), len(gt))
	dst = dst[:0]
	for i := range pred {
		dst = append(dst, poseError(pred[i], gt[i]))
	}
	return dst
}

// ProcrustesAlign returns pred moved onto gt by the best similarity
// transform (rotation without reflection, uniform scale, translation).
func ProcrustesAlign(pred, gt Pose3D) Pose3D {
	var al aligner
	return al.align(&pred, &gt)
}

func checkLen(a, b int) {
	if a != b {
		panic("pose: metric inputs differ in length")
	}
}

func dist(a, b Vec3) float64 {
	dx, dy, dz := a[0]-b[0], a[1]-b[1], a[2]-b[2]
	return math.Sqrt(dx*dx + dy*dy + dz*dz)
}

// poseError is the root-aligned mean joint error of one pose.
func poseError(p, g Pose3D) float64 {
	rp, rg := p[Hip], g[Hip]
	var s float64
	for j := range p {
		dx := (p[j][0] - rp[0]) - (g[j][0] - rg[0])
		dy := (p[j][1] - rp[1]) - (g[j][1] - rg[1])
		dz := (p[j][2] - rp[2]) - (g[j][2] - rg[2])
		s += math.Sqrt(dx*dx + dy*dy + dz*dz)
	}
	return s / NumJoints
}

// scaledError is the N-MPJPE of one root-aligned pair.
func scaledError(p, g *Pose3D) float64 {
	var pg, pp float64
	for j := range p {
		for k := 0; k < 3; k++ {
			pg += p[j][k] * g[j][k]
			pp += p[j][k] * p[j][k]
		}
	}
	s := 0.0
	if pp > 0 {
		s = pg / pp
	}
	var e float64
	for j := range p {
		e += dist(Vec3{s * p[j][0], s * p[j][1], s * p[j][2]}, g[j])
	}
	return e / NumJoints
}

// aucBucket returns the index of the smallest AUC threshold >= d, or
// len(AUCThresholdsMM) when d exceeds them all (or is NaN).
func aucBucket(d float64) int {
	const step = 5.0
	last := len(AUCThresholdsMM) - 1
	if !(d <= AUCThresholdsMM[last]) {
		return last + 1
	}
	k := int(math.Ceil(d / step))
	// Guard against rounding in d/step at exact multiples.
	for k > 0 && d <= step*float64(k-1) {
		k--
	}
	for k < last && d > step*float64(k) {
		k++
	}
	return k
}

// pckFromHist turns bucket counts into 3DPCK@150 and the AUC.
func pckFromHist(hist []int, total int) (pck, auc float64) {
	cum := 0
	var sum float64
	for k := 0; k < len(AUCThresholdsMM); k++ {
		cum += hist[k]
		sum += float64(cum) / float64(total)
	}
	return float64(cum) / float64(total), sum / float64(len(AUCThresholdsMM))
}

// aligner holds reusable SVD storage so that Procrustes over thousands of
// samples does not allocate a factorisation per sample.
type aligner struct {
	svd  mat.SVD
	m    [9]float64
	u, v mat.Dense
}

// procrustesError is the mean joint error of pred aligned to gt.
func (a *aligner) procrustesError(p, g *Pose3D) float64 {
	q := a.align(p, g)
	var e float64
	for j := range q {
		e += dist(q[j], g[j])
	}
	return e / NumJoints
}

// align solves min over s, R, t of sum ||s R p_j + t - g_j||^2 (Umeyama):
// with centred poses, M = sum g_j p_j^T = U S V^T, R = U D V^T where
// D = diag(1, 1, sign det(U V^T)) rules out reflections, s = tr(S D) /
// sum ||p_j||^2 and t = mean(g) - s R mean(p).
func (a *aligner) align(p, g *Pose3D) Pose3D {
	var mp, mg Vec3
	for j := range p {
		for k := 0; k < 3; k++ {
			mp[k] += p[j][k]
			mg[k] += g[j][k]
		}
	}
	for k := 0; k < 3; k++ {
		mp[k] /= NumJoints
		mg[k] /= NumJoints
	}
	a.m = [9]float64{}
	var pp float64
	for j := range p {
		pc := Vec3{p[j][0] - mp[0], p[j][1] - mp[1], p[j][2] - mp[2]}
		gc := Vec3{g[j][0] - mg[0], g[j][1] - mg[1], g[j][2] - mg[2]}
		for r := 0; r < 3; r++ {
			for c := 0; c < 3; c++ {
				a.m[3*r+c] += gc[r] * pc[c]
			}
			pp += pc[r] * pc[r]
		}
	}
	var out Pose3D
	if !finite9(&a.m) {
		nan := math.NaN()
		for j := range out {
			out[j] = Vec3{nan, nan, nan}
		}
		return out
	}
	if pp == 0 || !a.svd.Factorize(mat.NewDense(3, 3, a.m[:]), mat.SVDFull) {
		// A collapsed prediction: the best fit is the ground-truth
		// centroid for every joint (scale 0).
		for j := range out {
			out[j] = mg
		}
		return out
	}
	var sv [3]float64
	a.svd.Values(sv[:])
	a.u.Reset()
	a.v.Reset()
	a.svd.UTo(&a.u)
	a.svd.VTo(&a.v)
	d := 1.0
	if det3(&a.u)*det3(&a.v) < 0 {
		d = -1
	}
	var rot [3][3]float64
	for r := 0; r < 3; r++ {
		for c := 0; c < 3; c++ {
			rot[r][c] = a.u.At(r, 0)*a.v.At(c, 0) + a.u.At(r, 1)*a.v.At(c, 1) + d*a.u.At(r, 2)*a.v.At(c, 2)
		}
	}
	s := (sv[0] + sv[1] + d*sv[2]) / pp
	for j := range p {
		pc := Vec3{p[j][0] - mp[0], p[j][1] - mp[1], p[j][2] - mp[2]}
		for r := 0; r < 3; r++ {
			out[j][r] = s*(rot[r][0]*pc[0]+rot[r][1]*pc[1]+rot[r][2]*pc[2]) + mg[r]
		}
	}
	return out
}

func finite9(m *[9]float64) bool {
	for _, x := range m {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func det3(m *mat.Dense) float64 {
	return m.At(0, 0)*(m.At(1, 1)*m.At(2, 2)-m.At(1, 2)*m.At(2, 1)) -
		m.At(0, 1)*(m.At(1, 0)*m.At(2, 2)-m.At(1, 2)*m.At(2, 0)) +
		m.At(0, 2)*(m.At(1, 0)*m.At(2, 1)-m.At(1, 1)*m.At(2, 0))
}
