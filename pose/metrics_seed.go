package pose

// The seed's (ETH Machine Perception 2021) evaluation path for models that
// predict 2D pixels plus depth relative to the root: the ground-truth root
// depth turns the prediction into camera space, then MPJPE is taken.

// LiftWithRootDepth back-projects a 2D pose (px of the original image)
// with per-joint depth relative to the root (mm) at the ground-truth root
// depth rootZ (mm) through the camera's pinhole intrinsics (no distortion,
// as the seed did).
func LiftWithRootDepth(cam *Camera, uv Pose2D, relDepth [NumJoints]float64, rootZ float64) Pose3D {
	var p Pose3D
	for j := range p {
		p[j] = cam.BackProject(uv[j], rootZ+relDepth[j])
	}
	return p
}

// SeedMPJPE is the seed's metric: lift each prediction with the ground
// truth's root depth (gt[i][Hip][2]) through cams[i], root-align, MPJPE
// (mm). gt are camera-space poses in mm.
func SeedMPJPE(cams []Camera, uv []Pose2D, relDepth [][NumJoints]float64, gt []Pose3D) float64 {
	checkLen(len(cams), len(gt))
	checkLen(len(uv), len(gt))
	checkLen(len(relDepth), len(gt))
	if len(gt) == 0 {
		return 0
	}
	var s float64
	for i := range gt {
		s += poseError(LiftWithRootDepth(&cams[i], uv[i], relDepth[i], gt[i][Hip][2]), gt[i])
	}
	return s / float64(len(gt))
}
