package synth

import (
	"math/rand/v2"

	"poselab/pose"
)

// room is the box the person stands in: floor tiles, panelled walls with
// doors and posters, a ceiling, or for outdoor scenes building fronts
// and sky.
type room struct {
	x0, x1, y0, y1, h float64 // mm, world z up; the floor is z = 0
	outdoor           bool
	wallTop           float64 // outdoors: height of the building fronts, mm
	floorA, floorB    rgb
	grout             rgb
	tile              float64 // mm
	walls             [4]rgb
	trim, door        rgb
	panel             float64 // mm
	ceil              rgb
	skyLo, skyHi      rgb
}

func jitter(r *rand.Rand, c rgb, amt float32) rgb {
	for i := range c {
		c[i] = min(max(c[i]*(1+amt*(2*r.Float32()-1)), 0), 1)
	}
	return c
}

var (
	floorTones = []rgb{{0.55, 0.5, 0.45}, {0.35, 0.33, 0.32}, {0.6, 0.45, 0.3}, {0.7, 0.7, 0.68}, {0.3, 0.35, 0.45}, {0.45, 0.4, 0.3}}
	wallTones  = []rgb{{0.8, 0.78, 0.72}, {0.6, 0.62, 0.65}, {0.75, 0.7, 0.6}, {0.45, 0.5, 0.55}, {0.85, 0.85, 0.85}, {0.55, 0.6, 0.5}, {0.7, 0.6, 0.55}}
)

// newLabRoom is a Human3.6M-like capture room around the origin, larger
// than the camera ring so that the far wall is in view.
func newLabRoom(r *rand.Rand) room {
	fa := jitter(r, floorTones[r.IntN(len(floorTones))], 0.15)
	rm := room{
		x0: -4600 - 800*r.Float64(), x1: 4600 + 800*r.Float64(),
		y0: -6300 - 800*r.Float64(), y1: 6300 + 800*r.Float64(),
		h:      3200 + 800*r.Float64(),
		floorA: fa, floorB: jitter(r, fa, 0.25), grout: jitter(r, rgb{0.25, 0.25, 0.25}, 0.3),
		tile:  300 + 500*r.Float64(),
		trim:  jitter(r, rgb{0.3, 0.28, 0.25}, 0.4),
		door:  jitter(r, rgb{0.45, 0.3, 0.2}, 0.3),
		panel: 900 + 1200*r.Float64(),
		ceil:  jitter(r, rgb{0.85, 0.85, 0.82}, 0.1),
	}
	base := wallTones[r.IntN(len(wallTones))]
	for i := range rm.walls {
		rm.walls[i] = jitter(r, base, 0.12)
	}
	return rm
}

// newOutdoor is an MPII-like open scene around a person at centre: ground,
// building fronts at some distance, sky.
func newOutdoor(r *rand.Rand, centre pose.Vec3) room {
	ground := []rgb{{0.3, 0.45, 0.2}, {0.4, 0.4, 0.42}, {0.55, 0.5, 0.4}, {0.25, 0.35, 0.18}, {0.6, 0.58, 0.55}}
	fa := jitter(r, ground[r.IntN(len(ground))], 0.15)
	half := 9000 + 15000*r.Float64()
	rm := room{
		x0: centre[0] - half*(0.7+0.6*r.Float64()), x1: centre[0] + half*(0.7+0.6*r.Float64()),
		y0: centre[1] - half*(0.7+0.6*r.Float64()), y1: centre[1] + half*(0.7+0.6*r.Float64()),
		h: 1e9, outdoor: true, wallTop: 4000 + 20000*r.Float64(),
		floorA: fa, floorB: jitter(r, fa, 0.2), grout: jitter(r, fa, 0.4),
		tile:  200 + 2000*r.Float64(),
		trim:  jitter(r, rgb{0.35, 0.35, 0.4}, 0.4),
		door:  jitter(r, rgb{0.25, 0.3, 0.4}, 0.4),
		panel: 2500 + 3000*r.Float64(),
		skyLo: jitter(r, rgb{0.8, 0.85, 0.9}, 0.1), skyHi: jitter(r, rgb{0.35, 0.55, 0.85}, 0.2),
	}
	for i := range rm.walls {
		rm.walls[i] = jitter(r, wallTones[r.IntN(len(wallTones))], 0.2)
	}
	return rm
}
