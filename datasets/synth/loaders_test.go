package synth

import (
	"math"
	"path/filepath"
	"testing"

	"poselab/datasets"
	"poselab/datasets/h36m"
	"poselab/pose"
)

// TestRealLoadersReadExports exports the labels in both layouts and reads
// them back with the real-data loaders (datasets/h36m), which must give
// the synthetic records' labels to float32 precision.
func TestRealLoadersReadExports(t *testing.T) {
	d := smallSet(t)
	dir := t.TempDir()
	if err := Export(d, filepath.Join(dir, "eth"), ExportOptions{Format: FormatETH, NoImages: true}); err != nil {
		t.Fatal(err)
	}
	if err := Export(d, filepath.Join(dir, "mm"), ExportOptions{Format: FormatMMPose, NoImages: true}); err != nil {
		t.Fatal(err)
	}
	cams, err := h36m.LoadMMPoseCameras(filepath.Join(dir, "mm", "h36m", "annotation_body3d", "cameras.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	close32 := func(a, b float64) bool {
		return float32(a) == float32(b) || math.Abs(a-b) <= 1e-6*math.Max(math.Abs(a), 1)
	}
	for _, s := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		full, _ := d.h36mSplit(s)
		// The ETH pickle groups records by camera.
		var want []datasets.Record
		for c := 0; c < 4; c++ {
			for _, r := range full.recs {
				if r.CamIndex == c {
					want = append(want, r)
				}
			}
		}
		eth, err := h36m.LoadETHWith(filepath.Join(dir, "eth", "h36m", "annot", string(s)+".pkl"), h36m.ETHOptions{Undistort: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(eth) != len(want) {
			t.Fatalf("ETH %s: %d records, want %d", s, len(eth), len(want))
		}
		for i, g := range eth {
			w := want[i]
			if g.Image != w.Image || g.Subject != w.Subject || g.Action != w.Action || g.Frame != w.Frame || g.CamIndex != w.CamIndex {
				t.Fatalf("ETH %s %d: %s %s %s frame %d cam %d, want %s %s %s %d %d", s, i, g.Image, g.Subject, g.Action, g.Frame, g.CamIndex, w.Image, w.Subject, w.Action, w.Frame, w.CamIndex)
			}
			if g.Center != w.Center || !close32(g.Scale, w.Scale) {
				t.Fatalf("ETH %s %d: box %v %v, want %v %v", s, i, g.Center, g.Scale, w.Center, w.Scale)
			}
			if g.Cam.R != w.Cam.R || g.Cam.T != w.Cam.T || g.Cam.K != w.Cam.K || g.Cam.P != w.Cam.P || g.Cam.Fx != w.Cam.Fx || g.Cam.Cy != w.Cam.Cy {
				t.Fatalf("ETH %s %d: camera %+v, want %+v", s, i, g.Cam, w.Cam)
			}
			if s == datasets.Test {
				if g.HasLabels {
					t.Fatalf("ETH test record %d has labels", i)
				}
				continue
			}
			for j := range w.Joints2D {
				if g.Joints2D[j] != w.Joints2D[j] {
					t.Fatalf("ETH %s %d joint %d: 2D %v, want %v", s, i, j, g.Joints2D[j], w.Joints2D[j])
				}
				// Camera coordinates come back by undistorting the pixels
				// and back-projecting at the stored depth.
				if e := norm(sub(g.Joints3D[j], w.Joints3D[j])); e > 0.05 {
					t.Fatalf("ETH %s %d joint %d: 3D %v, want %v (%.3f mm)", s, i, j, g.Joints3D[j], w.Joints3D[j], e)
				}
			}
		}
		if s == datasets.Test {
			continue // mmpose's npz loader needs labels; the test npz holds none
		}
		mm, err := h36m.LoadMMPose(filepath.Join(dir, "mm", "h36m", "annotation_body3d", "fps50", "h36m_"+string(s)+".npz"), cams)
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range mm {
			w := full.recs[i]
			if g.Image != w.Image || g.Subject != w.Subject || g.Action != w.Action || g.CamIndex != w.CamIndex || g.Center != w.Center || g.Scale != w.Scale {
				t.Fatalf("mmpose %s %d: %+v", s, i, g)
			}
			if !close32(g.Cam.Fx, w.Cam.Fx) || !close32(g.Cam.T[1], w.Cam.T[1]) || !close32(g.Cam.P[0], w.Cam.P[0]) || !close32(g.Cam.R[0][1], w.Cam.R[0][1]) {
				t.Fatalf("mmpose %s %d: camera %+v, want %+v", s, i, g.Cam, w.Cam)
			}
			for j := 0; j < pose.NumJoints; j++ {
				for k := 0; k < 3; k++ {
					if !close32(g.Joints3D[j][k], w.Joints3D[j][k]) {
						t.Fatalf("mmpose %s %d joint %d: 3D %v, want %v", s, i, j, g.Joints3D[j], w.Joints3D[j])
					}
				}
				if g.Joints2D[j] != w.Joints2D[j] {
					t.Fatalf("mmpose %s %d joint %d: 2D %v, want %v", s, i, j, g.Joints2D[j], w.Joints2D[j])
				}
			}
		}
	}
}
