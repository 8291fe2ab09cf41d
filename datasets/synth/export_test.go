package synth

import (
	"encoding/json"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	py "github.com/nlpodyssey/gopickle/types"

	"poselab/datasets"
	"poselab/datasets/internal/pyload"
	"poselab/datasets/mpii"
	"poselab/pose"
)

// smallSet is a tiny data set cut down further so that exporting its
// images stays quick in tests.
func smallSet(t *testing.T) *Dataset {
	d := newTiny(t, 21)
	d.counts = Counts{Train: 16, Val: 8, Test: 8, MPIITrain: 3, MPIIVal: 2}
	return d
}

func floatsOf(t *testing.T, v any, n int) []float64 {
	t.Helper()
	f, _, err := pyload.Floats(v)
	if err != nil || len(f) != n {
		t.Fatalf("array %T: %v (%d values, want %d)", v, err, len(f), n)
	}
	return f
}

func get(t *testing.T, v any, key any) any {
	t.Helper()
	x, ok := pyload.Get(v, key)
	if !ok {
		t.Fatalf("no key %v", key)
	}
	return x
}

func TestExportETHRoundTrip(t *testing.T) {
	d := smallSet(t)
	dir := t.TempDir()
	if err := Export(d, dir, ExportOptions{Format: FormatETH, Workers: 2}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		full, _ := d.h36mSplit(s)
		v, err := pyload.LoadPickle(filepath.Join(dir, "h36m", "annot", string(s)+".pkl"))
		if err != nil {
			t.Fatal(err)
		}
		next := [4]int{}
		for _, r := range full.recs {
			list, ok := get(t, v, r.CamIndex+1).(*py.List)
			if !ok {
				t.Fatalf("%s: camera %d is not a list", s, r.CamIndex+1)
			}
			e := list.Get(next[r.CamIndex])
			next[r.CamIndex]++
			if img, _ := get(t, e, "image").(string); img != r.Image {
				t.Fatalf("%s: image %q, want %q", s, img, r.Image)
			}
			cx, _ := pyload.Number(get(t, e, "center_x"))
			w, _ := pyload.Number(get(t, e, "width"))
			if cx != r.Center[0] || w != r.Scale*200 {
				t.Fatalf("%s %s: box %v %v, want %v %v", s, r.Image, cx, w, r.Center[0], r.Scale*200)
			}
			pel := floatsOf(t, get(t, e, "pelvis"), 3)
			if pel[2] != r.Joints3D[pose.Hip][2] {
				t.Fatalf("pelvis depth %v, want %v", pel[2], r.Joints3D[pose.Hip][2])
			}
			cam := get(t, e, "camera")
			rr := floatsOf(t, get(t, cam, "R"), 9)
			if rr[5] != r.Cam.R[1][2] {
				t.Fatal("camera R differs")
			}
			_, has := pyload.Get(e, "joints_3d")
			if s == datasets.Test {
				if has {
					t.Fatal("test split exports joints")
				}
				continue
			}
			j3 := floatsOf(t, get(t, e, "joints_3d"), 51)
			for j := 0; j < pose.NumJoints; j++ {
				if j3[3*j] != r.Joints2D[j][0] || j3[3*j+1] != r.Joints2D[j][1] || j3[3*j+2] != r.Joints3D[j][2]-r.Joints3D[0][2] {
					t.Fatalf("%s %s joint %d: %v", s, r.Image, j, j3[3*j:3*j+3])
				}
			}
			// The ETH layout keeps enough to rebuild camera-space joints:
			// back-projecting u, v at the joint's depth through the
			// distortion-free pinhole is within 2 mm... of what the real
			// loaders do; here the stored depth must be exact.
		}
		// An image exists, is a 256x256 JPEG.
		f, err := os.Open(filepath.Join(dir, "h36m", "images", filepath.FromSlash(full.recs[0].Image)))
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() != ExportImageSize || img.Bounds().Dy() != ExportImageSize {
			t.Fatalf("exported image: %v %v", err, img)
		}
	}
	for _, s := range []datasets.Split{datasets.Train, datasets.Val} {
		name := map[datasets.Split]string{datasets.Train: "train", datasets.Val: "valid"}[s]
		got, err := mpii.Load(filepath.Join(dir, "mpii", "annot", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := d.MPII(s)
		if len(got) != len(want) {
			t.Fatalf("MPII %s: %d people, want %d", s, len(got), len(want))
		}
		// The file holds MATLAB's 1-based pixels, as the real MPII
		// annotations do (mmpose subtracts 1 on read): our 0-based
		// pixel x is written as x + 1.
		var raw []struct {
			Center  [2]float64    `json:"center"`
			Joints  [][2]float64  `json:"joints"`
			HeadBox [2][2]float64 `json:"headbox"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "mpii", "annot", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &raw); err != nil || len(raw) != len(want) {
			t.Fatalf("MPII %s: %v", s, err)
		}
		for i, w := range want {
			r := raw[i]
			for j, p := range w.Joints {
				if math.Abs(r.Joints[j][0]-(p[0]+1)) > 1e-9 || math.Abs(r.Joints[j][1]-(p[1]+1)) > 1e-9 {
					t.Fatalf("MPII %s person %d joint %d written as %v, want pixel %v + 1", s, i, j, r.Joints[j], p)
				}
			}
			if math.Abs(r.Center[0]-(w.Center[0]+1)) > 1e-9 || math.Abs(r.HeadBox[1][1]-(w.HeadBox[1][1]+1)) > 1e-9 {
				t.Fatalf("MPII %s person %d: center %v head box %v written for %v %v", s, i, r.Center, r.HeadBox, w.Center, w.HeadBox)
			}
		}
		for i := range want {
			// The box goes through MPII's center and scale and back: the
			// same box to rounding; everything else exactly.
			g := got[i]
			if math.Abs(g.Scale-want[i].Scale) < 1e-12*want[i].Scale && math.Abs(g.Center[1]-want[i].Center[1]) < 1e-9 {
				g.Scale, g.Center[1] = want[i].Scale, want[i].Center[1]
			}
			if g != want[i] {
				t.Fatalf("MPII %s person %d differs:\n%+v\n%+v", s, i, got[i], want[i])
			}
			if _, err := os.Stat(filepath.Join(dir, "mpii", "images", want[i].Image)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// No temporary files are left behind.
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error {
		if strings.Contains(filepath.Base(p), ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	pythonReadsETH(t, dir)
}

// pythonReadsETH checks with real Python and numpy (when installed) that
// the pickles load and have the fixture's keys.
func pythonReadsETH(t *testing.T, dir string) {
	const pyexe = "/usr/bin/python3"
	if exec.Command(pyexe, "-c", "import numpy").Run() != nil {
		t.Log("python3 with numpy not available: skipping the Python check")
		return
	}
	script := `
import pickle, sys, types
class Camera:
    pass
for m in ['lib', 'lib.utils', 'lib.utils.cameras']:
    sys.modules[m] = types.ModuleType(m)
sys.modules['lib.utils.cameras'].Camera = Camera
d = pickle.load(open(sys.argv[1] + '/h36m/annot/val.pkl', 'rb'))
r = d[1][0]
assert set(r) == {'image','center_x','center_y','width','height','joints_3d','joints_3d_vis','pelvis','fl','c_p','camera'}, set(r)
assert r['joints_3d'].shape == (17, 3) and r['pelvis'].shape == (3,)
assert set(vars(r['camera'])) == {'R','T','fx','fy','cx','cy','k','p','name'}
t = pickle.load(open(sys.argv[1] + '/h36m/annot/test.pkl', 'rb'))
assert 'joints_3d' not in t[1][0]
print('ok')
`
	out, err := exec.Command(pyexe, "-c", script, dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok") {
		t.Fatalf("python: %v\n%s", err, out)
	}
}

func TestExportMMPoseRoundTrip(t *testing.T) {
	d := smallSet(t)
	dir := t.TempDir()
	if err := Export(d, dir, ExportOptions{Format: FormatMMPose, NoImages: true}); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "h36m", "annotation_body3d")
	for _, s := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		full, _ := d.h36mSplit(s)
		data, err := os.ReadFile(filepath.Join(base, "fps50", "h36m_"+string(s)+".npz"))
		if err != nil {
			t.Fatal(err)
		}
		z, err := pyload.OpenNPZ(data, "npz")
		if err != nil {
			t.Fatal(err)
		}
		n := len(full.recs)
		a, err := z.Array("imgname")
		if err != nil {
			t.Fatal(err)
		}
		names, err := pyload.Strings(a)
		if err != nil || len(names) != n || names[n-1] != full.recs[n-1].Image {
			t.Fatalf("imgname: %v %v", err, names)
		}
		if s == datasets.Test {
			if z.Has("S") || z.Has("part") {
				t.Fatal("test npz carries labels")
			}
			continue
		}
		sa, _ := z.Array("S")
		sv := floatsOf(t, sa, n*17*4)
		pa, _ := z.Array("part")
		pv := floatsOf(t, pa, n*17*3)
		for i, r := range full.recs {
			for j := 0; j < pose.NumJoints; j++ {
				for k := 0; k < 3; k++ {
					if float32(sv[(i*17+j)*4+k]*1000) != float32(r.Joints3D[j][k]) {
						t.Fatalf("%s %d joint %d: S %v vs %v mm", s, i, j, sv[(i*17+j)*4+k], r.Joints3D[j][k])
					}
				}
				if pv[(i*17+j)*3] != r.Joints2D[j][0] || pv[(i*17+j)*3+1] != r.Joints2D[j][1] {
					t.Fatalf("%s %d joint %d: part differs", s, i, j)
				}
			}
		}
	}
	cams, err := pyload.LoadPickle(filepath.Join(base, "cameras.pkl"))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := pyload.Get(cams, py.NewTupleFromSlice([]any{"S9", "55011271"}))
	if !ok {
		t.Fatal("cameras.pkl has no (S9, 55011271)")
	}
	want := h36mCameras["S9"][1]
	tt := floatsOf(t, get(t, c, "T"), 3)
	p := floatsOf(t, get(t, c, "p"), 2)
	r := floatsOf(t, get(t, c, "R"), 9)
	if tt[0] != want.T[0]/1000 || p[0] != want.P[1] || r[1] != want.R[1][0] {
		t.Fatalf("camera S9 55011271: T %v p %v R %v", tt, p, r)
	}
	// mmpose's MPII configs read annotations/mpii_train.json and
	// annotations/mpii_val.json (not ETH's "valid").
	for _, s := range []datasets.Split{datasets.Train, datasets.Val} {
		name := map[datasets.Split]string{datasets.Train: "mpii_train.json", datasets.Val: "mpii_val.json"}[s]
		got, err := mpii.Load(filepath.Join(dir, "mpii", "annotations", name))
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := d.MPII(s); len(got) != len(want) || got[0].Joints != want[0].Joints {
			t.Fatalf("%s: %d people, want %d", name, len(got), len(want))
		}
	}
	if err := Export(d, dir, ExportOptions{Format: "coco"}); err == nil {
		t.Fatal("unknown format accepted")
	}
}
