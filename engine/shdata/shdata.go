// Package shdata turns people (Human3.6M records, MPII people) into the
// Stacked Hourglass's inputs and targets, and its heatmaps back into
// joints: on-the-fly augmentation drawn reproducibly from (seed, step,
// sample), normalised crops, Gaussian heatmap targets with visibility
// masks, decoding through the inverse crop affine, and the flip test.
// It knows nothing of the engine or the network; engine/task_sh.go glues
// it to both.
package shdata

import (
	"fmt"
	"math"
	"math/rand/v2"

	"poselab/datasets"
	"poselab/pose"
)

// Augmentation ranges of the hourglass paper (and the seed).
const (
	ScaleMin, ScaleMax = 0.75, 1.25 // box scale factor
	RotMaxDeg          = 30.0       // rotation, +-degrees
	ColorMin, ColorMax = 0.8, 1.2   // per-channel colour gain
	Sigma              = 1.0        // Gaussian target sigma, heatmap px
)

// Aug is one sample's augmentation.
type Aug struct {
	Scale  float64    // box scale factor (CropSpec.ScaleAug)
	RotDeg float64    // rotation, degrees
	Flip   bool       // horizontal mirror (joints swap sides)
	Color  [3]float64 // per-channel gain of R, G, B
}

// Identity is no augmentation (validation, test, output predictions).
func Identity() Aug { return Aug{Scale: 1, Color: [3]float64{1, 1, 1}} }

// Draw returns the augmentation of one sample at one training step. It
// depends on (seed, step, sample) only, so a resumed run or another
// machine draws the same crops.
func Draw(seed int64, step, sample int) Aug {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(step)<<32^uint64(uint32(sample))^0x5851f42d4c957f2d))
	a := Aug{
		Scale:  ScaleMin + (ScaleMax-ScaleMin)*r.Float64(),
		RotDeg: (2*r.Float64() - 1) * RotMaxDeg,
		Flip:   r.IntN(2) == 1,
	}
	for c := range a.Color {
		a.Color[c] = ColorMin + (ColorMax-ColorMin)*r.Float64()
	}
	return a
}

// Spec is the crop request for an input of size px.
func (a Aug) Spec(size int) datasets.CropSpec {
	return datasets.CropSpec{Size: size, ScaleAug: a.Scale, RotDeg: a.RotDeg, Flip: a.Flip}
}

// Person is one annotated person in H36M joint order: joints in pixels of
// the original image, a mask that is 1 where a joint is labelled, and the
// person box.
type Person struct {
	Center pose.Vec2
	Scale  float64 // box size / 200 px
	Joints pose.Pose2D
	Mask   [pose.NumJoints]float64
}

// FromRecord is a Human3.6M-like record's person (mask from visibility;
// all zero without labels).
func FromRecord(r *datasets.Record) Person {
	p := Person{Center: r.Center, Scale: r.Scale, Joints: r.Joints2D}
	if r.HasLabels {
		for j, v := range r.Vis {
			if v > 0 {
				p.Mask[j] = 1
			}
		}
	}
	return p
}

// FromMPII maps an MPII person to the 17 H36M joints; Spine (no MPII
// counterpart) and invisible joints are masked.
func FromMPII(r *datasets.MPIIRecord) Person {
	j, m := pose.MPIIToH36M(r.Joints, r.Vis)
	return Person{Center: r.Center, Scale: r.Scale, Joints: j, Mask: m}
}

// Image writes a crop as the network's input, [3, S, S] (channel planes):
// each channel's 0..255 value times its colour gain, clipped to 0..1, minus
// 0.5 (BatchNorm after the first convolution takes care of the rest).
func Image(dst []float32, c *datasets.Crop, color [3]float64) error {
	n := c.Size * c.Size
	if len(c.Pix) != 3*n {
		return fmt.Errorf("shdata: crop of %d px holds %d bytes, want %d", c.Size, len(c.Pix), 3*n)
	}
	if len(dst) != 3*n {
		return fmt.Errorf("shdata: image slot holds %d values, want %d", len(dst), 3*n)
	}
	for ch := 0; ch < 3; ch++ {
		g := float32(color[ch] / 255)
		plane := dst[ch*n : (ch+1)*n]
		for i := range plane {
			v := float32(c.Pix[3*i+ch]) * g
			if v > 1 {
				v = 1
			}
			plane[i] = v - 0.5
		}
	}
	return nil
}

// Targets renders the heatmap targets and masks ([J, hm, hm] each, J =
// 17) of person p in a crop of size px whose affine is a (image px to crop
// px, flip included). When flip is set the crop is mirrored, so label j is
// drawn where p's joint FlipPartner[j] lands. A labelled joint whose
// Gaussian lies entirely outside the heatmap is masked too: there is
// nothing to learn about where it is.
func Targets(hm, mask []float32, p *Person, a [2][3]float64, flip bool, size, hmSize int) {
	stride := float64(size) / float64(hmSize)
	n := hmSize * hmSize
	for j := 0; j < pose.NumJoints; j++ {
		src := j
		if flip {
			src = pose.FlipPartner[j]
		}
		c := datasets.Apply(a, p.Joints[src])
		x, y := c[0]/stride, c[1]/stride
		hj, mj := hm[j*n:(j+1)*n], mask[j*n:(j+1)*n]
		m := float32(p.Mask[src])
		r := 3 * Sigma
		if x < -r || y < -r || x > float64(hmSize-1)+r || y > float64(hmSize-1)+r || math.IsNaN(x+y) {
			m = 0
		}
		if m > 0 {
			pose.RenderGaussian(hj, hmSize, hmSize, x, y, Sigma)
		} else {
			clear(hj)
		}
		for i := range mj {
			mj[i] = m
		}
	}
}

// Decode finds the joints in one sample's heatmaps ([J, hm, hm], J = 17):
// argmax with the quarter-pixel shift, then back to original-image pixels
// through the inverse of the crop affine a. conf is each heatmap's peak.
func Decode(hm []float32, hmSize, size int, a [2][3]float64) (p pose.Pose2D, conf [pose.NumJoints]float32) {
	stride := float64(size) / float64(hmSize)
	n := hmSize * hmSize
	for j := 0; j < pose.NumJoints; j++ {
		q, c := pose.DecodeHeatmap(hm[j*n:(j+1)*n], hmSize, hmSize)
		p[j], conf[j] = pose.HeatmapToImage(q, stride, a), c
	}
	return p, conf
}

// MergeFlip is the flip test: hm (17 heatmaps of the crop, [17, h, w])
// becomes the mean of itself and the heatmaps of the mirrored crop brought
// back into the unmirrored frame: left and right joints swapped, columns
// mirrored. The mirrored crop maps crop x to S - x (datasets.CropTransform),
// so heatmap x maps to w - x, not w-1-x: column i of the result reads
// column w-i of the flipped heatmap; column 0, whose counterpart lies
// outside the map, keeps its own value.
func MergeFlip(hm, flipped []float32, w, h int) {
	n := w * h
	for j := 0; j < pose.NumJoints; j++ {
		dst := hm[j*n : (j+1)*n]
		k := pose.FlipPartner[j]
		src := flipped[k*n : (k+1)*n]
		for y := 0; y < h; y++ {
			for x := 1; x < w; x++ {
				dst[y*w+x] = 0.5 * (dst[y*w+x] + src[y*w+w-x])
			}
		}
	}
}

// Thumb draws a sample for the TUI: the crop in grey, reduced by an integer
// factor to at most maxSide px, with the maximum over all heatmaps blended in
// (white where some joint is likely). It returns width, height and pixels.
func Thumb(c *datasets.Crop, hm []float32, hmSize, maxSide int) (int, int, []uint8) {
	f := (c.Size + maxSide - 1) / maxSide
	w := c.Size / f
	pix := make([]uint8, w*w)
	n := hmSize * hmSize
	for y := 0; y < w; y++ {
		for x := 0; x < w; x++ {
			var grey float64
			for dy := 0; dy < f; dy++ {
				for dx := 0; dx < f; dx++ {
					i := 3 * ((y*f+dy)*c.Size + x*f + dx)
					grey += 0.299*float64(c.Pix[i]) + 0.587*float64(c.Pix[i+1]) + 0.114*float64(c.Pix[i+2])
				}
			}
			grey /= float64(f * f)
			// Nearest heatmap pixel (heatmap px x stride = crop px).
			hx := min(hmSize-1, int(math.Round((float64(x*f)+float64(f-1)/2)*float64(hmSize)/float64(c.Size))))
			hy := min(hmSize-1, int(math.Round((float64(y*f)+float64(f-1)/2)*float64(hmSize)/float64(c.Size))))
			var peak float32
			for j := 0; j < len(hm)/n; j++ {
				peak = max32(peak, hm[j*n+hy*hmSize+hx])
			}
			t := math.Min(1, math.Max(0, float64(peak)))
			pix[y*w+x] = uint8(math.Round(0.5*grey*(1-t) + 255*t))
		}
	}
	return w, w, pix
}

func max32(a, b float32) float32 {
	if b > a {
		return b
	}
	return a
}
