// Package pose is poselab's domain vocabulary: the Human3.6M and MPII
// skeletons, cameras and the evaluation metrics. It imports nothing else
// from poselab so that every other package can depend on it.
package pose

// NumJoints is the number of joints of the Human3.6M skeleton that every
// file, tensor and export in poselab uses.
const NumJoints = 17

// Vec2 is a 2D point (pixels unless stated otherwise).
type Vec2 = [2]float64

// Vec3 is a 3D point (millimetres unless stated otherwise).
type Vec3 = [3]float64

// Pose3D is one Human3.6M pose, joints in H36M order.
type Pose3D = [NumJoints]Vec3

// Pose2D is one Human3.6M pose in image pixels, joints in H36M order.
type Pose2D = [NumJoints]Vec2

// H36M joint indices.
const (
	Hip = iota
	RHip
	RKnee
	RFoot
	LHip
	LKnee
	LFoot
	Spine
	Thorax
	Neck
	Head
	LShoulder
	LElbow
	LWrist
	RShoulder
	RElbow
	RWrist
)

// JointNames are the H36M joint names; they also name the columns of the
// prediction CSV (`Hip_x`, ...).
var JointNames = [NumJoints]string{
	"Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine",
	"Thorax", "Neck", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
}

// Parents gives each joint's parent (-1 for the root, the pelvis).
var Parents = [NumJoints]int{-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15}

// FlipPartner maps each joint to its mirror joint (itself on the midline).
var FlipPartner = [NumJoints]int{0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13}

// Side tells which side of the body a joint is on.
type Side int

// Body sides.
const (
	Middle Side = iota
	Left
	Right
)

// JointSide is the side of each H36M joint (used to colour skeletons).
var JointSide = [NumJoints]Side{
	Middle, Right, Right, Right, Left, Left, Left, Middle,
	Middle, Middle, Middle, Left, Left, Left, Right, Right, Right,
}

// Bone is a segment from a joint to its parent.
type Bone struct{ Child, Parent int }

// Bones lists the 16 bones of the H36M skeleton, in child order.
func Bones() []Bone {
	bs := make([]Bone, 0, NumJoints-1)
	for j := 1; j < NumJoints; j++ {
		bs = append(bs, Bone{Child: j, Parent: Parents[j]})
	}
	return bs
}

// MeanBoneLengthMM is the mean length (mm) of the bone ending at each joint,
// measured on real Human3.6M frames (index 0, the root, is 0).
var MeanBoneLengthMM = [NumJoints]float64{0, 134, 443, 443, 134, 443, 443, 236, 254, 117, 115, 151, 277, 248, 151, 277, 248}

// FlipPose3D mirrors a pose left/right: x is negated and left and right
// joints swap, which is what a horizontal image flip does to the labels.
func FlipPose3D(p Pose3D) Pose3D {
	var q Pose3D
	for j := 0; j < NumJoints; j++ {
		s := p[FlipPartner[j]]
		q[j] = Vec3{-s[0], s[1], s[2]}
	}
	return q
}

// RootRelative subtracts the root joint from every joint.
func RootRelative(p Pose3D) Pose3D {
	var q Pose3D
	r := p[Hip]
	for j := range p {
		q[j] = Vec3{p[j][0] - r[0], p[j][1] - r[1], p[j][2] - r[2]}
	}
	return q
}

// MPII skeleton.
const NumMPIIJoints = 16

// MPIIJointNames are the 16 MPII joint names in MPII order.
var MPIIJointNames = [NumMPIIJoints]string{
	"r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
	"upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
}

// MPIIFlipPartner maps each MPII joint to its mirror joint.
var MPIIFlipPartner = [NumMPIIJoints]int{5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10}

// MPIIForH36M gives, for each H36M joint, the MPII joint that stands for it
// (-1: none; Spine has no MPII counterpart and must be masked).
var MPIIForH36M = [NumJoints]int{6, 2, 1, 0, 3, 4, 5, -1, 7, 8, 9, 13, 14, 15, 12, 11, 10}

// MPIIToH36M maps 16 MPII joints to the 17 H36M joints and returns a mask
// that is 1 where the H36M joint has an MPII counterpart and is visible.
func MPIIToH36M(joints [NumMPIIJoints]Vec2, vis [NumMPIIJoints]float64) (out Pose2D, mask [NumJoints]float64) {
	for j, m := range MPIIForH36M {
		if m < 0 {
			continue
		}
		out[j] = joints[m]
		if vis[m] > 0 {
			mask[j] = 1
		}
	}
	return out, mask
}
