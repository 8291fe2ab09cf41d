package synth

import (
	"embed"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"poselab/pose"
)

//go:embed motion/*.bin
var motionFS embed.FS

// clipNames lists the embedded CMU clips (see motion/README.md) in a fixed
// order: sampling indexes this slice, never a map.
var clipNames = []string{"01_01", "01_08", "02_01", "02_03", "02_04", "02_06", "05_02", "131_01", "131_03"}

// clipFPS is the frame rate of the embedded clips (every second 50 fps frame).
const clipFPS = 25

// clip is one motion as unit bone directions per frame: the only thing a
// synthetic subject keeps from the recorded performer.
type clip struct {
	name  string
	dirs  [][pose.NumJoints]pose.Vec3 // dirs[f][j]: unit vector parent(j) -> j; [0] unused
	stand []bool                      // upright, legs straight: a base for procedural arm actions
	sit   []bool                      // thighs near horizontal, torso upright
}

// loadClips decodes the embedded clips.
func loadClips() ([]*clip, error) {
	clips := make([]*clip, 0, len(clipNames))
	for _, name := range clipNames {
		raw, err := motionFS.ReadFile("motion/" + name + ".bin")
		if err != nil {
			return nil, fmt.Errorf("synth: embedded clip %s: %w", name, err)
		}
		c, err := decodeClip(name, raw)
		if err != nil {
			return nil, err
		}
		clips = append(clips, c)
	}
	return clips, nil
}

func decodeClip(name string, raw []byte) (*clip, error) {
	if len(raw) < 6 || string(raw[:4]) != "PLM1" {
		return nil, fmt.Errorf("synth: clip %s: not a PLM1 motion file", name)
	}
	n := int(binary.LittleEndian.Uint16(raw[4:6]))
	const frameBytes = pose.NumJoints * 3 * 2
	if len(raw) != 6+n*frameBytes {
		return nil, fmt.Errorf("synth: clip %s: %d bytes for %d frames, want %d", name, len(raw), n, 6+n*frameBytes)
	}
	frames := make([]pose.Pose3D, n)
	for f := range frames {
		for j := 0; j < pose.NumJoints; j++ {
			for k := 0; k < 3; k++ {
				off := 6 + f*frameBytes + (j*3+k)*2
				frames[f][j][k] = float64(int16(binary.LittleEndian.Uint16(raw[off:])))
			}
		}
	}
	// Some conversions put the head joint 150 mm straight above the neck
	// in every frame, so the head would stay vertical when the performer
	// bends over; there the head continues the thorax->neck direction.
	fakeHead := true
	for _, p := range frames {
		if math.Abs(p[pose.Head][0]-p[pose.Neck][0]) > 1.5 || math.Abs(p[pose.Head][1]-p[pose.Neck][1]) > 1.5 {
			fakeHead = false
			break
		}
	}
	c := &clip{name: name, dirs: make([][pose.NumJoints]pose.Vec3, n), stand: make([]bool, n), sit: make([]bool, n)}
	for f, p := range frames {
		for j := 1; j < pose.NumJoints; j++ {
			c.dirs[f][j] = unit(sub(p[j], p[pose.Parents[j]]))
		}
		if fakeHead {
			c.dirs[f][pose.Head] = c.dirs[f][pose.Neck]
		}
		levelHips(&c.dirs[f])
	}
	lowerShoulders(c.dirs)
	for f := range c.dirs {
		bendNeck(&c.dirs[f])
		c.stand[f], c.sit[f] = classify(c.dirs[f])
	}
	return c, nil
}

// chestUp is the torso's up direction (pelvis -> thorax) of a frame's
// bone directions, weighted by the mean bone lengths.
func chestUp(d *[pose.NumJoints]pose.Vec3) pose.Vec3 {
	return unit(add(scale(d[pose.Spine], pose.MeanBoneLengthMM[pose.Spine]), scale(d[pose.Thorax], pose.MeanBoneLengthMM[pose.Thorax])))
}

// levelHips puts both hip joints on one line through the pelvis, as in
// every real Human3.6M frame (the hip bones meet at 180 degrees), keeping
// the clip's side-to-side direction. The conversions met at 154 degrees,
// or at 68 in clips 01_01, 131_01 and 131_03, whose hip joints hung 110
// mm below the pelvis (hip width 0.30 of pelvis -> thorax, real
// 0.52..0.57).
func levelHips(d *[pose.NumJoints]pose.Vec3) {
	lat := sub(d[pose.RHip], d[pose.LHip])
	if norm(lat) < 1e-6 {
		return
	}
	lat = unit(lat)
	d[pose.RHip], d[pose.LHip] = lat, scale(lat, -1)
}

// Real Human3.6M shoulders lie level with the thorax or below it: the
// thorax -> shoulder bones are 89..126 degrees from pelvis -> thorax on
// the 4 real frames, 104..113 (median) in most clips. Clips 01_01, 131_01
// and 131_03 raise them to 64..71 degrees in every frame, a conversion's
// shrug; lowerShoulders turns such a clip's shoulder bones down so that
// their median is shoulderDeg, keeping each frame's own variation. The
// arms keep their directions and hang from the lowered shoulders.
const (
	shoulderMinDeg = 90
	shoulderDeg    = 108
)

func lowerShoulders(dirs [][pose.NumJoints]pose.Vec3) {
	var angles []float64
	for f := range dirs {
		up := chestUp(&dirs[f])
		for _, s := range []int{pose.RShoulder, pose.LShoulder} {
			angles = append(angles, math.Acos(clamp(dot(dirs[f][s], up), -1, 1)))
		}
	}
	if len(angles) == 0 {
		return
	}
	slices.Sort(angles)
	med := angles[len(angles)/2]
	if med >= shoulderMinDeg*math.Pi/180 {
		return
	}
	sn, cs := math.Sincos(shoulderDeg*math.Pi/180 - med)
	for f := range dirs {
		up := chestUp(&dirs[f])
		for _, s := range []int{pose.RShoulder, pose.LShoulder} {
			v := dirs[f][s]
			k := cross(up, v)
			if norm(k) < 1e-6 {
				continue // along the torso: no plane to turn in
			}
			// Rotating v about up x v turns it away from up.
			dirs[f][s] = unit(add(scale(v, cs), scale(cross(unit(k), v), sn)))
		}
	}
}

// Human3.6M's Neck/Nose joint lies in front of the line from the thorax
// to the Head joint: on the 4 real frames the Thorax -> Neck/Nose and
// Neck/Nose -> Head bones meet at 48..108 degrees (alpha, the nose bone's
// angle to thorax -> Head, 24..53; beta, the head bone's, 25..55), the
// nose always towards the chest's front. The clips' chain is nearly
// straight (11 degrees), which put the Head joint 239 mm from the thorax
// where the real ones are 136..215 mm. bendNeck keeps the clip's overall
// thorax -> Head direction and folds the chain forward about it.
const (
	noseBendDeg = 39
	headBendDeg = 40 // 117 sin 39 = 115 sin 40: Head stays on the axis
)

func bendNeck(d *[pose.NumJoints]pose.Vec3) {
	ln, lh := pose.MeanBoneLengthMM[pose.Neck], pose.MeanBoneLengthMM[pose.Head]
	axis := unit(add(scale(d[pose.Neck], ln), scale(d[pose.Head], lh)))
	// The chest's front, as bodyFrame takes it from a pose.
	up := chestUp(d)
	right := sub(d[pose.RShoulder], d[pose.LShoulder])
	right = unit(sub(right, scale(up, dot(right, up))))
	fwd := cross(up, right)
	fwd = sub(fwd, scale(axis, dot(fwd, axis)))
	if norm(fwd) < 0.1 {
		return // the head points along the chest's front: no clear bend plane
	}
	fwd = unit(fwd)
	sa, ca := math.Sincos(noseBendDeg * math.Pi / 180)
	sb, cb := math.Sincos(headBendDeg * math.Pi / 180)
	d[pose.Neck] = add(scale(axis, ca), scale(fwd, sa))
	d[pose.Head] = sub(scale(axis, cb), scale(fwd, sb))
}

// classify tells whether a frame is a quiet upright stance or a seated one,
// from the angles of thighs, shins and torso to the vertical.
func classify(d [pose.NumJoints]pose.Vec3) (stand, sit bool) {
	down := func(j int) float64 { return math.Acos(clamp(-d[j][2], -1, 1)) * 180 / math.Pi }
	up := func(j int) float64 { return math.Acos(clamp(d[j][2], -1, 1)) * 180 / math.Pi }
	torso := up(pose.Spine)
	if t := up(pose.Thorax); t > torso {
		torso = t
	}
	thighR, thighL := down(pose.RKnee), down(pose.LKnee)
	shinR, shinL := down(pose.RFoot), down(pose.LFoot)
	stand = thighR < 15 && thighL < 15 && shinR < 15 && shinL < 15 && torso < 20
	sit = thighR > 55 && thighL > 55 && thighR < 110 && thighL < 110 && torso < 40 && shinR < 45 && shinL < 45
	return stand, sit
}
