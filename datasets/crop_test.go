package datasets

import (
	"math"
	"testing"

	"poselab/pose"
)

func TestCropTransformMapsBoxToCrop(t *testing.T) {
	c := pose.Vec2{500, 400}
	a := CropTransform(c, 1.0, CropSpec{Size: 256}) // 200 px box
	got := Apply(a, c)
	if math.Abs(got[0]-128) > 1e-9 || math.Abs(got[1]-128) > 1e-9 {
		t.Fatalf("centre maps to %v, want (128,128)", got)
	}
	corner := Apply(a, pose.Vec2{400, 300})
	if math.Abs(corner[0]) > 1e-9 || math.Abs(corner[1]) > 1e-9 {
		t.Fatalf("top-left of the box maps to %v, want (0,0)", corner)
	}
	flip := Apply(CropTransform(c, 1.0, CropSpec{Size: 256, Flip: true}), pose.Vec2{400, 300})
	if math.Abs(flip[0]-256) > 1e-9 || math.Abs(flip[1]) > 1e-9 {
		t.Fatalf("flipped top-left maps to %v, want (256,0)", flip)
	}
	a = CropTransform(c, 1.3, CropSpec{Size: 64, ScaleAug: 0.8, RotDeg: 25, Flip: true})
	p := pose.Vec2{123.4, 567.8}
	back := Apply(Invert(a), Apply(a, p))
	if math.Hypot(back[0]-p[0], back[1]-p[1]) > 1e-9 {
		t.Fatalf("inverse round trip %v -> %v", p, back)
	}
}
