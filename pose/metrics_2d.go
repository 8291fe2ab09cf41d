package pose

import "math"

// MPII joints left out of the PCKh summary: docs/metrics.md says "over
// visible joints" and names none, but the MPII benchmark's mean (and so
// every published PCKh@0.5) covers the 14 joints other than pelvis and
// thorax; the summary follows it so that numbers compare. PerJoint keeps
// all 16.
const (
	MPIIPelvis = 6
	MPIIThorax = 7
)

// The MPII head segment's ends (PCKh's head size where there is no head
// box).
const (
	MPIIUpperNeck = 8
	MPIIHeadTop   = 9
)

// MPIIPerson is what PCKh needs of one annotated MPII person.
type MPIIPerson struct {
	Joints  [NumMPIIJoints]Vec2
	Vis     [NumMPIIJoints]float64 // > 0: visible (scored)
	HeadBox [2]Vec2                // [[x1,y1],[x2,y2]] px
}

// PCKhReport is the result of PCKh@alpha; fractions (0..1), like
// Report's PCK150 and AUC (text output shows them as percentages).
type PCKhReport struct {
	N        int // people
	Alpha    float64
	Summary  float64 // over visible joints of the 14 scored joints
	PerJoint [NumMPIIJoints]float64
	// Visible counts the visible joints per joint; PerJoint is NaN where
	// it is 0.
	Visible [NumMPIIJoints]int
}

// HeadSize is the MPII head segment length: 0.6 x the head box diagonal.
func HeadSize(box [2]Vec2) float64 {
	return 0.6 * math.Hypot(box[1][0]-box[0][0], box[1][1]-box[0][1])
}

// PCKh scores 2D predictions the MPII way: a visible joint is correct when
// its distance to the ground truth is <= alpha x HeadSize (alpha = 0.5 for
// PCKh@0.5). pred and gt must have the same length.
func PCKh(pred [][NumMPIIJoints]Vec2, gt []MPIIPerson, alpha float64) PCKhReport {
	checkLen(len(pred), len(gt))
	r := PCKhReport{N: len(gt), Alpha: alpha}
	var correct [NumMPIIJoints]int
	for i := range gt {
		thr := alpha * HeadSize(gt[i].HeadBox)
		for j := 0; j < NumMPIIJoints; j++ {
			if !(gt[i].Vis[j] > 0) {
				continue
			}
			r.Visible[j]++
			p, g := pred[i][j], gt[i].Joints[j]
			if math.Hypot(p[0]-g[0], p[1]-g[1]) <= thr {
				correct[j]++
			}
		}
	}
	var okSum, visSum int
	for j := 0; j < NumMPIIJoints; j++ {
		r.PerJoint[j] = math.NaN()
		if r.Visible[j] > 0 {
			r.PerJoint[j] = float64(correct[j]) / float64(r.Visible[j])
		}
		if j == MPIIPelvis || j == MPIIThorax {
			continue
		}
		okSum += correct[j]
		visSum += r.Visible[j]
	}
	r.Summary = math.NaN()
	if visSum > 0 {
		r.Summary = float64(okSum) / float64(visSum)
	}
	return r
}
