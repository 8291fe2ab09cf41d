package synth

import (
	"image"
	"image/color"
	"math"
	"strings"

	"poselab/datasets"
	"poselab/pose"
)

// CropImage wraps a crop's pixels as an image for encoding.
func CropImage(c *datasets.Crop) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, c.Size, c.Size))
	for i := 0; i < c.Size*c.Size; i++ {
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = c.Pix[3*i], c.Pix[3*i+1], c.Pix[3*i+2], 255
	}
	return img
}

// Skeleton colours: left limbs blue, right limbs red, the midline green.
var sideColour = map[pose.Side]color.RGBA{
	pose.Left: {40, 120, 255, 255}, pose.Right: {255, 50, 40, 255}, pose.Middle: {40, 220, 60, 255},
}

// DrawSkeleton draws H36M joints (crop pixels) and bones onto img; joints
// with vis 0 are skipped. Bones take the colour of their child's side.
func DrawSkeleton(img *image.RGBA, joints pose.Pose2D, vis [pose.NumJoints]float64) {
	for _, b := range pose.Bones() {
		if vis[b.Child] == 0 || vis[b.Parent] == 0 {
			continue
		}
		drawLine(img, joints[b.Parent], joints[b.Child], sideColour[pose.JointSide[b.Child]])
	}
	for j, p := range joints {
		if vis[j] == 0 {
			continue
		}
		c := sideColour[pose.JointSide[j]]
		for dy := -2; dy <= 2; dy++ {
			for dx := -2; dx <= 2; dx++ {
				if dx*dx+dy*dy <= 5 {
					img.SetRGBA(pixel(p[0])+dx, pixel(p[1])+dy, c)
				}
			}
		}
	}
}

func drawLine(img *image.RGBA, a, b pose.Vec2, c color.RGBA) {
	n := int(max(abs(b[0]-a[0]), abs(b[1]-a[1]))) + 1
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		img.SetRGBA(pixel(a[0]+t*(b[0]-a[0])), pixel(a[1]+t*(b[1]-a[1])), c)
	}
}

// pixel is the pixel that shows crop coordinate v: pixel x shows x.
func pixel(v float64) int { return int(math.Floor(v + 0.5)) }

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// ASCII renders a crop as cols x rows characters by brightness, with the
// joints marked: R right, L left, M midline.
func ASCII(c *datasets.Crop, joints pose.Pose2D, cols, rows int) string {
	const ramp = " .:-=+*#%@"
	grid := make([][]byte, rows)
	for y := range grid {
		grid[y] = make([]byte, cols)
		for x := range grid[y] {
			px, py := x*c.Size/cols, y*c.Size/rows
			o := 3 * (py*c.Size + px)
			lum := (int(c.Pix[o])*3 + int(c.Pix[o+1])*6 + int(c.Pix[o+2])) / 10
			grid[y][x] = ramp[lum*(len(ramp)-1)/255]
		}
	}
	mark := map[pose.Side]byte{pose.Left: 'L', pose.Right: 'R', pose.Middle: 'M'}
	for j, p := range joints {
		x, y := int(p[0]*float64(cols)/float64(c.Size)), int(p[1]*float64(rows)/float64(c.Size))
		if x >= 0 && y >= 0 && x < cols && y < rows {
			grid[y][x] = mark[pose.JointSide[j]]
		}
	}
	var sb strings.Builder
	for _, row := range grid {
		sb.Write(row)
		sb.WriteByte('\n')
	}
	return sb.String()
}
