package datasets

import (
	"math"

	"poselab/pose"
)

// CropTransform returns the affine map from original-image pixels to crop
// pixels for a person box at center with size scale*200 px, as spec says:
// the box (times ScaleAug) fills the Size x Size crop, rotated by RotDeg
// (counter-clockwise in the image) and mirrored horizontally when Flip.
// A flip mirrors pixels only: the caller also swaps left and right joints
// (pose.FlipPartner) so that labels keep their meaning.
func CropTransform(center pose.Vec2, scale float64, spec CropSpec) [2][3]float64 {
	sa := spec.ScaleAug
	if sa <= 0 {
		sa = 1
	}
	box := scale * 200 * sa
	k := float64(spec.Size) / box
	s, c := math.Sincos(spec.RotDeg * math.Pi / 180)
	// crop = k * Rot * (p - center) + Size/2, then mirror x about the centre.
	a := [2][3]float64{
		{k * c, k * s, 0},
		{-k * s, k * c, 0},
	}
	if spec.Flip {
		a[0][0], a[0][1] = -a[0][0], -a[0][1]
	}
	half := float64(spec.Size) / 2
	a[0][2] = half - a[0][0]*center[0] - a[0][1]*center[1]
	a[1][2] = half - a[1][0]*center[0] - a[1][1]*center[1]
	return a
}

// Apply maps a point with an affine transform (pose.ApplyAffine).
func Apply(a [2][3]float64, p pose.Vec2) pose.Vec2 { return pose.ApplyAffine(a, p) }

// Invert returns the inverse affine transform, crop pixels to image pixels
// (pose.InvertAffine).
func Invert(a [2][3]float64) [2][3]float64 { return pose.InvertAffine(a) }
