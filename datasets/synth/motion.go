package synth

import (
	"embed"
	"encoding/binary"
	"fmt"
	"math"

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
		c.stand[f], c.sit[f] = classify(c.dirs[f])
	}
	return c, nil
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
