package synth

import (
	"fmt"
	"math"

	"poselab/datasets"
	"poselab/pose"
)

// MPII returns the MPII-like 2D people of a split (train and val; the test
// split has none, as in the seed).
func (d *Dataset) MPII(split datasets.Split) ([]datasets.MPIIRecord, error) {
	sp, err := d.mpiiSplit(split)
	if err != nil {
		return nil, err
	}
	out := make([]datasets.MPIIRecord, len(sp.recs))
	copy(out, sp.recs)
	return out, nil
}

func (d *Dataset) mpiiSplit(split datasets.Split) (*mpiiSplit, error) {
	var n int
	switch split {
	case datasets.Train:
		n = d.counts.MPIITrain
	case datasets.Val:
		n = d.counts.MPIIVal
	case datasets.Test:
		n = 0
	default:
		return nil, fmt.Errorf("synth: unknown split %q", split)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if sp, ok := d.mpiis[split]; ok {
		return sp, nil
	}
	sp := &mpiiSplit{recs: make([]datasets.MPIIRecord, n), scenes: make([]mpiiScene, n)}
	var ps person
	for i := 0; i < n; i++ {
		d.genMPII(split, i, sp, &ps)
	}
	d.mpiis[split] = sp
	return sp, nil
}

// MPII-like images: a landscape photo of a person somewhere in it.
const mpiiW, mpiiH = 1280, 720

// genMPII makes MPII person i: a new body in a random action, a camera of
// its own (other focal lengths than Human3.6M's, no distortion) and
// visibility from the rendered geometry.
func (d *Dataset) genMPII(split datasets.Split, i int, sp *mpiiSplit, ps *person) {
	r := d.rng(streamMPII, splitID(split), uint64(i))
	b := newBody(r)
	p, _ := d.worldPose(r, r.IntN(len(Actions)), &b)

	// Camera: 2.5 to 9 m away at 0.4 to 2.6 m height, aimed near the
	// person so that people are off-centre and sometimes cut off.
	f := 500 + 1500*r.Float64()
	dist := 2500 + 6500*r.Float64()
	az := 2 * math.Pi * r.Float64()
	eye := pose.Vec3{p[pose.Hip][0] + dist*math.Cos(az), p[pose.Hip][1] + dist*math.Sin(az), 400 + 2200*r.Float64()}
	aim := add(p[pose.Hip], pose.Vec3{400 * normal(r), 400 * normal(r), 300 * normal(r)})
	fw := unit(sub(aim, eye))
	rt := unit(cross(fw, pose.Vec3{0, 0, 1}))
	dn := cross(fw, rt)
	roll := 5 * math.Pi / 180 * normal(r)
	sr, cr := math.Sincos(roll)
	rt, dn = add(scale(rt, cr), scale(dn, sr)), sub(scale(dn, cr), scale(rt, sr))
	cam := pose.Camera{
		ID: "mpii", Fx: f, Fy: f, Cx: mpiiW/2 + 20*normal(r), Cy: mpiiH/2 + 20*normal(r),
		R: [3][3]float64{rt, dn, fw}, T: eye, W: mpiiW, H: mpiiH,
	}
	var jc pose.Pose3D
	for j := range p {
		jc[j] = cam.WorldToCam(p[j])
	}
	sc := mpiiScene{cam: cam, joints: jc, body: b, room: newOutdoor(r, p[pose.Hip]), light: newLight(r), key: d.streamKey(streamRender, 16+splitID(split), uint64(i))}
	if r.IntN(3) == 0 { // some MPII scenes are indoors
		sc.room = newLabRoom(r)
		sc.room.x0, sc.room.x1 = min(sc.room.x0, eye[0]-500, p[pose.Hip][0]-2000), max(sc.room.x1, eye[0]+500, p[pose.Hip][0]+2000)
		sc.room.y0, sc.room.y1 = min(sc.room.y0, eye[1]-500, p[pose.Hip][1]-2000), max(sc.room.y1, eye[1]+500, p[pose.Hip][1]+2000)
	}

	rec := datasets.MPIIRecord{ID: i, Image: fmt.Sprintf("synth_%s_%06d.jpg", split, i)}
	pts3, parts := mpiiPoints(&jc)
	identity := [2][3]float64{{1, 0, 0}, {0, 1, 0}}
	buildPerson(ps, &jc, &cam, identity, &b, sc.light)
	for m := 0; m < pose.NumMPIIJoints; m++ {
		q := cam.Project(pts3[m])
		rec.Joints[m] = q
		inImage := pts3[m][2] > 100 && q[0] >= 0 && q[1] >= 0 && q[0] < mpiiW && q[1] < mpiiH
		own := parts[m]
		if inImage && !ps.occluded(float32(q[0]), float32(q[1]), float32(pts3[m][2]), mpiiDepthTol[m], func(part int) bool { return part >= 0 && own&(1<<part) != 0 }) {
			rec.Vis[m] = 1
		}
	}
	rec.Center, rec.Scale = personBox(rec.Joints[:])
	hc, hr, _ := headGeom(&jc)
	c2 := cam.Project(hc)
	half := hr * cam.Fx / hc[2] * 1.1
	rec.HeadBox = [2]pose.Vec2{{c2[0] - half, c2[1] - half}, {c2[0] + half, c2[1] + half}}
	sp.recs[i] = rec
	sp.scenes[i] = sc
}

// mpiiDepthTol is how deep (mm) each MPII joint lies under the body
// surface that shows it: a joint counts as visible when nothing other than
// its own parts comes in front of that surface.
var mpiiDepthTol = [pose.NumMPIIJoints]float32{60, 80, 120, 120, 80, 60, 150, 150, 80, 40, 50, 70, 90, 90, 70, 50}

// mpiiPoints maps an H36M pose to the 16 MPII joints (3D, camera space)
// and, per MPII joint, the body parts that belong to it (not occluders).
// MPII's upper neck is the top of the neck under the chin, its head top
// the crown of the head.
func mpiiPoints(p *pose.Pose3D) ([pose.NumMPIIJoints]pose.Vec3, [pose.NumMPIIJoints]uint32) {
	var out [pose.NumMPIIJoints]pose.Vec3
	var own [pose.NumMPIIJoints]uint32
	for h, m := range pose.MPIIForH36M {
		if m >= 0 {
			out[m] = p[h]
			own[m] = 1 << h
			for c := 0; c < pose.NumJoints; c++ {
				if pose.Parents[c] == h {
					own[m] |= 1 << c
				}
			}
		}
	}
	hc, hr, up := headGeom(p)
	out[9] = add(hc, scale(up, hr))
	// Real MPII annotators put the upper neck close to the thorax: on the
	// real people of datasets/mpii/testdata it lies 0.05..0.15 (mean 0.10)
	// of the way from thorax to head top (2D). 0.18 of thorax -> head
	// centre gives about 0.11 here; 0.55 gave 0.33, a neck three times
	// too long (TestMPIIUpperNeckLikeRealMPII).
	out[8] = lerp3(p[pose.Thorax], hc, 0.18)
	own[9] = 1<<pose.Head | 1<<pose.Neck
	own[8] = 1<<pose.Head | 1<<pose.Neck | 1<<pose.Thorax
	own[7] |= 1 << pose.Spine
	own[6] |= 1 << pose.Spine
	for _, m := range []int{2, 3} { // hips: pelvis and torso start there
		own[m] |= 1<<pose.Hip | 1<<pose.Spine
	}
	for _, m := range []int{12, 13} { // shoulders: chest and shoulder girdle
		own[m] |= 1<<pose.Thorax | 1<<pose.Spine
	}
	return out, own
}
