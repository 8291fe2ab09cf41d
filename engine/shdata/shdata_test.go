package shdata

import (
	"math"
	"testing"

	"poselab/datasets"
	"poselab/pose"
)

func TestDrawIsReproducibleAndInRange(t *testing.T) {
	if Draw(7, 3, 11) != Draw(7, 3, 11) {
		t.Fatal("same (seed, step, sample) drew different augmentations")
	}
	if Draw(7, 3, 11) == Draw(7, 4, 11) || Draw(7, 3, 11) == Draw(7, 3, 12) || Draw(7, 3, 11) == Draw(8, 3, 11) {
		t.Fatal("different (seed, step, sample) drew the same augmentation")
	}
	flips := 0
	minRot, maxRot := math.Inf(1), math.Inf(-1)
	for i := 0; i < 2000; i++ {
		a := Draw(1, i/10, i%10)
		if a.Scale < ScaleMin || a.Scale > ScaleMax || math.Abs(a.RotDeg) > RotMaxDeg {
			t.Fatalf("out of range: %+v", a)
		}
		for _, c := range a.Color {
			if c < ColorMin || c > ColorMax {
				t.Fatalf("colour gain out of range: %+v", a)
			}
		}
		if a.Flip {
			flips++
		}
		minRot, maxRot = math.Min(minRot, a.RotDeg), math.Max(maxRot, a.RotDeg)
	}
	if flips < 900 || flips > 1100 || minRot > -25 || maxRot < 25 {
		t.Fatalf("%d of 2000 flipped, rotations %.1f..%.1f deg", flips, minRot, maxRot)
	}
}

// testPerson has its joints where the 64 px crop of a 200 px box around
// (500, 400) puts them on whole heatmap pixels (16x16 maps, stride 4).
func testPerson() Person {
	p := Person{Center: pose.Vec2{500, 400}, Scale: 1}
	for j := range p.Joints {
		hx, hy := 2+j%12, 1+(j*5)%14
		p.Joints[j] = pose.Vec2{500 + (4*float64(hx)-32)/0.32, 400 + (4*float64(hy)-32)/0.32}
		p.Mask[j] = 1
	}
	return p
}

func TestTargetsDecodeRoundTrip(t *testing.T) {
	p := testPerson()
	hm := make([]float32, 17*16*16)
	mask := make([]float32, 17*16*16)
	for _, aug := range []Aug{Identity(), {Scale: 1.2, RotDeg: 17, Color: [3]float64{1, 1, 1}}, {Scale: 0.8, RotDeg: -28, Color: [3]float64{1, 1, 1}}} {
		a := datasets.CropTransform(p.Center, p.Scale, aug.Spec(64))
		Targets(hm, mask, &p, a, false, 64, 16)
		got, conf := Decode(hm, 16, 64, a)
		// argmax + quarter shift is within half a heatmap pixel per axis:
		// 2 crop px = 2/k image px.
		k := 64 / (200 * aug.Scale)
		bound := 2 / k * math.Sqrt2
		for j := range got {
			if c := datasets.Apply(a, p.Joints[j]); c[0] < 0 || c[1] < 0 || c[0] > 60 || c[1] > 60 {
				continue // off the heatmap under this augmentation: decodes to its edge
			}
			if d := math.Hypot(got[j][0]-p.Joints[j][0], got[j][1]-p.Joints[j][1]); d > bound || conf[j] < 0.3 {
				t.Errorf("aug %+v joint %d: decoded %v, want %v (%.2f px > %.2f), peak %.2f", aug, j, got[j], p.Joints[j], d, bound, conf[j])
			}
		}
		if aug == Identity() {
			for j := range got {
				if d := math.Hypot(got[j][0]-p.Joints[j][0], got[j][1]-p.Joints[j][1]); d > 1e-9 {
					t.Errorf("joint %d on a whole heatmap pixel decodes %.3g px off", j, d)
				}
			}
		}
	}
}

func TestTargetsMaskInvisibleAndOutside(t *testing.T) {
	p := testPerson()
	p.Mask[3] = 0
	p.Joints[5] = pose.Vec2{5000, 400} // far outside the crop
	hm := make([]float32, 17*16*16)
	mask := make([]float32, 17*16*16)
	for i := range hm {
		hm[i] = 9 // stale values must be overwritten
	}
	a := datasets.CropTransform(p.Center, p.Scale, Identity().Spec(64))
	Targets(hm, mask, &p, a, false, 64, 16)
	for _, j := range []int{3, 5} {
		for i := j * 256; i < (j+1)*256; i++ {
			if hm[i] != 0 || mask[i] != 0 {
				t.Fatalf("joint %d: heatmap %v mask %v, want 0 and 0", j, hm[i], mask[i])
			}
		}
	}
	if mask[4*256] != 1 || hm[4*256+int(1+(4*5)%14)*16+6] != 1 {
		t.Fatal("joint 4 is not drawn at its whole pixel with mask 1")
	}
}

// The flip test must be exact: a mirrored crop's heatmaps, swapped and
// mirrored back, peak where the unmirrored ones do (mirroring with w-1-x
// instead of w-x would move every peak by one heatmap pixel).
func TestMergeFlipRestoresTheUnflippedFrame(t *testing.T) {
	p := testPerson()
	a := datasets.CropTransform(p.Center, p.Scale, datasets.CropSpec{Size: 64})
	af := datasets.CropTransform(p.Center, p.Scale, datasets.CropSpec{Size: 64, Flip: true})
	hm := make([]float32, 17*256)
	hmF := make([]float32, 17*256)
	mask := make([]float32, 17*256)
	Targets(hm, mask, &p, a, false, 64, 16)
	Targets(hmF, mask, &p, af, true, 64, 16)
	// The network sees only the mirrored image: its "joint j" is the
	// person's FlipPartner[j]; targets with flip=true say exactly that.
	MergeFlip(hm, hmF, 16, 16)
	got, conf := Decode(hm, 16, 64, a)
	for j := range got {
		if d := math.Hypot(got[j][0]-p.Joints[j][0], got[j][1]-p.Joints[j][1]); d > 1e-9 || math.Abs(float64(conf[j])-1) > 1e-6 {
			t.Errorf("joint %d: merged decode %v, want %v (peak %.3f)", j, got[j], p.Joints[j], conf[j])
		}
	}
}

func TestImageNormalisesAndRejectsBadSizes(t *testing.T) {
	c := &datasets.Crop{Size: 2, Pix: []uint8{0, 255, 51, 255, 255, 255, 102, 0, 0, 10, 20, 30}}
	dst := make([]float32, 12)
	if err := Image(dst, c, [3]float64{1, 1, 2}); err != nil {
		t.Fatal(err)
	}
	want := []float32{-0.5, 0.5, 0.4 - 0.5, 10.0/255 - 0.5, // R plane
		0.5, 0.5, -0.5, 20.0/255 - 0.5, // G
		0.4 - 0.5, 0.5, -0.5, 60.0/255 - 0.5} // B, gain 2, clipped at 1
	for i := range want {
		if math.Abs(float64(dst[i]-want[i])) > 1e-6 {
			t.Fatalf("value %d: %v, want %v (all %v)", i, dst[i], want[i], dst)
		}
	}
	if err := Image(make([]float32, 11), c, [3]float64{1, 1, 1}); err == nil {
		t.Fatal("short destination accepted")
	}
	if err := Image(dst, &datasets.Crop{Size: 2, Pix: make([]uint8, 5)}, [3]float64{1, 1, 1}); err == nil {
		t.Fatal("short crop accepted")
	}
}

func TestFromMPIIMasksSpine(t *testing.T) {
	var r datasets.MPIIRecord
	for j := range r.Joints {
		r.Joints[j] = pose.Vec2{float64(j), float64(10 * j)}
		r.Vis[j] = 1
	}
	r.Vis[9] = 0 // head top not visible
	p := FromMPII(&r)
	if p.Mask[pose.Spine] != 0 || p.Mask[pose.Head] != 0 || p.Mask[pose.LWrist] != 1 {
		t.Fatalf("mask %v", p.Mask)
	}
	if p.Joints[pose.LWrist] != r.Joints[15] || p.Joints[pose.Hip] != r.Joints[6] {
		t.Fatalf("joints %v", p.Joints)
	}
}

func TestThumbBlendsHeatmapPeaksIntoGreyCrop(t *testing.T) {
	c := &datasets.Crop{Size: 128, Pix: make([]uint8, 3*128*128)}
	for i := range c.Pix {
		c.Pix[i] = 100
	}
	hm := make([]float32, 17*32*32)
	hm[5*32*32+10*32+20] = 1 // joint 5 peaks at heatmap (20, 10) = crop (80..83, 40..43)
	w, h, pix := Thumb(c, hm, 32, 64)
	if w != 64 || h != 64 || len(pix) != 64*64 {
		t.Fatalf("thumb %dx%d, %d px", w, h, len(pix))
	}
	if pix[20*64+40] != 255 || pix[0] != 50 || pix[63*64+63] != 50 {
		t.Fatalf("peak %d, background %d %d; want 255 and half the grey (50)", pix[20*64+40], pix[0], pix[63*64+63])
	}
}
