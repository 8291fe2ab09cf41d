package synth

import (
	"fmt"
	"math"
	"math/rand/v2"

	"poselab/datasets"
	"poselab/pose"
)

// light is a directional light in world coordinates plus ambient light.
type light struct {
	dir     pose.Vec3 // unit, towards the light
	ambient float32
	diffuse float32
	tint    rgb
}

func newLight(r *rand.Rand) light {
	az := 2 * math.Pi * r.Float64()
	el := (35 + 45*r.Float64()) * math.Pi / 180
	return light{
		dir:     pose.Vec3{math.Cos(az) * math.Cos(el), math.Sin(az) * math.Cos(el), math.Sin(el)},
		ambient: float32(0.35 + 0.2*r.Float64()),
		diffuse: float32(0.55 + 0.3*r.Float64()),
		tint:    rgb{float32(0.9 + 0.15*r.Float64()), float32(0.92 + 0.1*r.Float64()), float32(0.85 + 0.2*r.Float64())},
	}
}

// h36mScene is what rendering needs beyond a record's labels.
type h36mScene struct {
	subject string
	light   light
	key     uint64 // per-record noise seed
	decor   uint32 // per-frame doors and posters
}

type h36mSplit struct {
	recs   []datasets.Record // full labels, test included
	scenes []h36mScene
}

// mpiiScene is an MPII-like person: a camera of its own, the pose in its
// camera coordinates, looks and surroundings.
type mpiiScene struct {
	cam    pose.Camera
	joints pose.Pose3D
	body   body
	room   room
	light  light
	key    uint64
}

type mpiiSplit struct {
	recs   []datasets.MPIIRecord
	scenes []mpiiScene
}

func subjectsOf(s datasets.Split) []string {
	switch s {
	case datasets.Train:
		return trainSubjects
	case datasets.Val:
		return valSubjects
	case datasets.Test:
		return testSubjects
	}
	return nil
}

func (d *Dataset) count(s datasets.Split) (int, error) {
	switch s {
	case datasets.Train:
		return d.counts.Train, nil
	case datasets.Val:
		return d.counts.Val, nil
	case datasets.Test:
		return d.counts.Test, nil
	}
	return 0, fmt.Errorf("synth: unknown split %q", s)
}

// Records returns the labels of a split. Test records carry no labels
// (HasLabels false, joints zeroed but the pelvis), as in the real data; see
// TestLabels.
// The returned slice is the caller's to keep and modify.
func (d *Dataset) Records(split datasets.Split) ([]datasets.Record, error) {
	sp, err := d.h36mSplit(split)
	if err != nil {
		return nil, err
	}
	out := make([]datasets.Record, len(sp.recs))
	copy(out, sp.recs)
	if split == datasets.Test {
		// As in the real test files (and the h36m loader's records), only
		// the pelvis, which the evaluation knows, stays.
		for i := range out {
			root := out[i].Joints3D[pose.Hip]
			out[i].HasLabels = false
			out[i].Joints2D = pose.Pose2D{}
			out[i].Joints3D = pose.Pose3D{}
			out[i].Joints3D[pose.Hip] = root
			out[i].Vis = [pose.NumJoints]float64{}
		}
	}
	return out, nil
}

// TestLabels returns the held-back labels of the test split. Only scoring
// on synthetic data (`poselab eval --split test`) may use it.
func (d *Dataset) TestLabels() ([]datasets.Record, error) {
	sp, err := d.h36mSplit(datasets.Test)
	if err != nil {
		return nil, err
	}
	out := make([]datasets.Record, len(sp.recs))
	copy(out, sp.recs)
	return out, nil
}

func (d *Dataset) h36mSplit(split datasets.Split) (*h36mSplit, error) {
	n, err := d.count(split)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if sp, ok := d.h36m[split]; ok {
		return sp, nil
	}
	sp := &h36mSplit{recs: make([]datasets.Record, n), scenes: make([]h36mScene, n)}
	subs := subjectsOf(split)
	for g := 0; g < n/4; g++ {
		d.genGroup(split, subs, g, sp)
	}
	d.h36m[split] = sp
	return sp, nil
}

// ankleHeightMM is the height of the H36M "foot" joint (the ankle) above
// the floor when a foot stands on it.
const ankleHeightMM = 85

// worldPose draws one pose for a body: a clip frame of the action,
// mirrored half the time, perturbed, retargeted to the body's bones, arms
// set for the action, turned about the vertical and stood on the floor at
// the origin. It returns the pose and the clip frame used.
func (d *Dataset) worldPose(r *rand.Rand, action int, b *body) (pose.Pose3D, int) {
	ci, f, arms := choose(r, d.pools[action])
	dirs := d.clips[ci].dirs[f]
	if r.IntN(2) == 1 {
		dirs = mirrorDirs(dirs)
	}
	dirs = perturb(r, dirs, 1)
	p := retarget(dirs, &b.bones)
	applyArms(&p, arms, r.IntN(2) == 0, r)
	rot := pose.RotationZ(2 * math.Pi * r.Float64())
	minZ := math.Inf(1)
	for j := range p {
		p[j] = matVec(rot, p[j])
	}
	for _, j := range []int{pose.RFoot, pose.LFoot} {
		minZ = math.Min(minZ, p[j][2])
	}
	lift := ankleHeightMM - minZ
	for j := range p {
		p[j][2] += lift
	}
	return p, f
}

// genGroup makes the four synchronised views of frame group g.
func (d *Dataset) genGroup(split datasets.Split, subs []string, g int, sp *h36mSplit) {
	r := d.rng(streamH36M, splitID(split), uint64(g))
	subject := subs[g%len(subs)]
	action := (g / len(subs)) % len(Actions)
	// Frame number within the (subject, action) sequence, from 1 as in the
	// real image names.
	seq := 1 + g/(len(subs)*len(Actions))
	b := d.bodies[subject]
	p, _ := d.worldPose(r, action, b)
	cams := h36mCameras[subject]
	// Stand somewhere in the capture area, 4 to 6 m from every camera.
	var off pose.Vec3
	for try := 0; try < 32; try++ {
		rad := 1100 * math.Sqrt(r.Float64()) * (1 - float64(try)/32)
		a := 2 * math.Pi * r.Float64()
		off = pose.Vec3{rad * math.Cos(a), rad * math.Sin(a), 0}
		ok := true
		for c := range cams {
			dist := norm(sub(add(p[pose.Hip], off), cams[c].T))
			if dist < 4100 || dist > 5900 {
				ok = false
			}
		}
		if ok {
			break
		}
	}
	for j := range p {
		p[j] = add(p[j], off)
	}
	li := newLight(r)
	decor := r.Uint32() % 8 // the lab is redecorated now and then
	for c := 0; c < 4; c++ {
		i := g*4 + c
		cam := cams[c]
		rec := &sp.recs[i]
		rec.ID = i
		rec.Subject = subject
		rec.Action = Actions[action]
		rec.CamIndex = c
		rec.Frame = seq
		rec.Cam = cam
		for j := range p {
			rec.Joints3D[j] = cam.WorldToCam(p[j])
			rec.Joints2D[j] = cam.Project(rec.Joints3D[j])
			rec.Vis[j] = 1
		}
		rec.Center, rec.Scale = personBox(rec.Joints2D[:])
		rec.HasLabels = true
		rec.Image = fmt.Sprintf("%s/%s_%s.%s/%s_%s.%s_%06d.jpg", subject, subject, rec.Action, cam.ID, subject, rec.Action, cam.ID, seq)
		sp.scenes[i] = h36mScene{subject: subject, light: li, key: d.streamKey(streamRender, splitID(split), uint64(i)), decor: decor}
	}
}

// personBox is the square crop box around 2D joints: its centre and its
// size / 200 px, with a margin for the head, hands and feet that stick out
// of the joints. The real Human3.6M frames' boxes (mmpose's
// test_h36m_body3d.npz) are 1.2 x the joints' larger extent around the
// extent's middle. For the MPII-like people 1.2 makes the box 7.4 head
// segments (upper neck -> head top), the real MPII crop boxes' 7.5: 6 in
// the files, times the readers' 1.25 (datasets/mpii), which the MPII
// export undoes (TestSyntheticBoxesLikeRealBoxes,
// TestMPIIExportScaleLikeRealFiles).
func personBox(pts []pose.Vec2) (pose.Vec2, float64) {
	x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, p := range pts {
		x0, x1 = math.Min(x0, p[0]), math.Max(x1, p[0])
		y0, y1 = math.Min(y0, p[1]), math.Max(y1, p[1])
	}
	side := math.Max(math.Max(x1-x0, y1-y0)*boxMargin, 64)
	return pose.Vec2{(x0 + x1) / 2, (y0 + y1) / 2}, side / 200
}

// boxMargin is the person box's side over the joints' larger extent.
const boxMargin = 1.2
