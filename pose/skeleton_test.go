package pose

import "testing"

func TestParentsPrecedeChildren(t *testing.T) {
	if Parents[Hip] != -1 {
		t.Fatalf("root parent %d, want -1", Parents[Hip])
	}
	for j := 1; j < NumJoints; j++ {
		if p := Parents[j]; p < 0 || p >= j {
			t.Errorf("joint %s has parent %d, want 0 <= parent < %d", JointNames[j], p, j)
		}
	}
	if got := len(Bones()); got != NumJoints-1 {
		t.Fatalf("%d bones, want %d", got, NumJoints-1)
	}
}

func TestFlipPartnersAreAnInvolution(t *testing.T) {
	for j := 0; j < NumJoints; j++ {
		k := FlipPartner[j]
		if FlipPartner[k] != j {
			t.Errorf("flip(flip(%d)) = %d", j, FlipPartner[k])
		}
		if (JointSide[j] == Middle) != (k == j) {
			t.Errorf("joint %s: side %v but partner %d", JointNames[j], JointSide[j], k)
		}
		if JointSide[j] == Left && JointSide[k] != Right {
			t.Errorf("left joint %s maps to %s", JointNames[j], JointNames[k])
		}
		// Mirrored joints hang off mirrored parents.
		if j > 0 && FlipPartner[Parents[j]] != Parents[k] {
			t.Errorf("parent of flip(%s) is not flip(parent)", JointNames[j])
		}
	}
	for j := 0; j < NumMPIIJoints; j++ {
		if MPIIFlipPartner[MPIIFlipPartner[j]] != j {
			t.Errorf("MPII flip not an involution at %d", j)
		}
	}
	p := Pose3D{}
	for j := range p {
		p[j] = Vec3{float64(j) + 1, float64(2 * j), float64(-j)}
	}
	if FlipPose3D(FlipPose3D(p)) != p {
		t.Fatal("FlipPose3D twice is not the identity")
	}
	f := FlipPose3D(p)
	if f[LWrist] != (Vec3{-p[RWrist][0], p[RWrist][1], p[RWrist][2]}) {
		t.Fatalf("flipped LWrist = %v, want mirrored RWrist", f[LWrist])
	}
}

func TestMPIIMapMatchesNames(t *testing.T) {
	want := map[int]string{
		Hip: "pelvis", RHip: "r_hip", RKnee: "r_knee", RFoot: "r_ankle", LHip: "l_hip", LKnee: "l_knee",
		LFoot: "l_ankle", Thorax: "thorax", Neck: "upper_neck", Head: "head_top", LShoulder: "l_shoulder",
		LElbow: "l_elbow", LWrist: "l_wrist", RShoulder: "r_shoulder", RElbow: "r_elbow", RWrist: "r_wrist",
	}
	for j, m := range MPIIForH36M {
		if j == Spine {
			if m != -1 {
				t.Errorf("Spine maps to MPII %d, want -1", m)
			}
			continue
		}
		if MPIIJointNames[m] != want[j] {
			t.Errorf("%s maps to MPII %s, want %s", JointNames[j], MPIIJointNames[m], want[j])
		}
		// Flipping commutes with the map.
		if MPIIFlipPartner[m] != MPIIForH36M[FlipPartner[j]] {
			t.Errorf("flip does not commute with the MPII map at %s", JointNames[j])
		}
	}
	var joints [NumMPIIJoints]Vec2
	var vis [NumMPIIJoints]float64
	for m := range joints {
		joints[m] = Vec2{float64(m), float64(10 * m)}
		vis[m] = 1
	}
	vis[0] = 0 // r_ankle hidden
	out, mask := MPIIToH36M(joints, vis)
	if out[RWrist] != joints[10] || out[LShoulder] != joints[13] {
		t.Fatalf("mapped joints wrong: RWrist %v LShoulder %v", out[RWrist], out[LShoulder])
	}
	if mask[Spine] != 0 || mask[RFoot] != 0 || mask[LFoot] != 1 || mask[Hip] != 1 {
		t.Fatalf("mask %v: want Spine and RFoot masked only", mask)
	}
}
