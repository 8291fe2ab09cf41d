package eth

import (
	"math"
	"testing"

	"poselab/datasets"
	"poselab/datasets/h36m"
	"poselab/datasets/synth"
	"poselab/pose"
)

// The synthetic data set exported in ETH's layout reads back through this
// package with the same labels: 2D joints, boxes, cameras and the root
// exactly; 3D joints to the pinhole back-projection's few mm (exactly
// after undistorting).
func TestSynthETHExportReadsBack(t *testing.T) {
	d, err := synth.New(synth.Tiny, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := synth.Export(d, dir, synth.ExportOptions{Format: synth.FormatETH, NoImages: true}); err != nil {
		t.Fatal(err)
	}
	e, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, split := range []datasets.Split{datasets.Val, datasets.Test} {
		got, err := e.Records(split)
		if err != nil {
			t.Fatal(err)
		}
		want, err := d.Records(split)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", split, len(got), len(want))
		}
		byImage := map[string]datasets.Record{}
		for _, r := range want {
			byImage[r.Image] = r
		}
		var worst, worstExact, sum float64
		n := 0
		for _, g := range got {
			w, ok := byImage[g.Image]
			if !ok {
				t.Fatalf("%s: unknown image %s", split, g.Image)
			}
			if g.Subject != w.Subject || g.Action != w.Action || g.CamIndex != w.CamIndex || g.Cam != w.Cam ||
				g.Center != w.Center || math.Abs(g.Scale-w.Scale) > 1e-12 || g.HasLabels != w.HasLabels {
				t.Fatalf("%s %s: record differs:\n%+v\n%+v", split, g.Image, g, w)
			}
			if w.HasLabels && g.Joints3D[pose.Hip][2] != w.Joints3D[pose.Hip][2] {
				t.Fatalf("%s %s: root depth %v, want %v", split, g.Image, g.Joints3D[pose.Hip][2], w.Joints3D[pose.Hip][2])
			}
			if !g.HasLabels {
				continue
			}
			if g.Joints2D != w.Joints2D || g.Vis != w.Vis {
				t.Fatalf("%s %s: 2D joints or visibility differ", split, g.Image)
			}
			for j := range g.Joints3D {
				worst = max(worst, dist3(g.Joints3D[j], w.Joints3D[j]))
				sum += dist3(g.Joints3D[j], w.Joints3D[j])
				n++
				exact := g.Cam.BackProject(h36m.Undistort(&g.Cam, g.Joints2D[j]), g.Joints3D[j][2])
				worstExact = max(worstExact, dist3(exact, w.Joints3D[j]))
			}
		}
		if split == datasets.Val {
			mean := sum / float64(n)
			t.Logf("val: pinhole back-projection %.2f mm mean, %.2f mm max from the synthetic 3D joints; undistorted max %.2g mm", mean, worst, worstExact)
			if mean > 15 || worstExact > 0.05 {
				t.Fatalf("3D joints off by %v mm on average (undistorted max %v mm)", mean, worstExact)
			}
		}
	}
}

func dist3(a, b pose.Vec3) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}
