package mpii

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"poselab/datasets"
	"poselab/pose"
)

func TestLoadsMMPoseSample(t *testing.T) {
	recs, err := Load("testdata/test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 {
		t.Fatalf("%d people, want 5", len(recs))
	}
	// The file has center [966, 340], scale 4.718488 and r_ankle
	// [804, 711]: MATLAB's 1-based pixels, which land on 0-based pixel
	// 965, 339 and 803, 710. The crop box lies 15 x 4.718488 px lower
	// and is 1.25 x larger, as the reference readers crop.
	r := recs[0]
	if r.Image != "005808361.jpg" || math.Abs(r.Center[0]-965) > 1e-9 || math.Abs(r.Center[1]-(339+70.77732)) > 1e-9 ||
		math.Abs(r.Scale-5.89811) > 1e-9 {
		t.Fatalf("person 0: %+v", r)
	}
	if r.Joints[0] != (pose.Vec2{803, 710}) || r.Joints[1] != (pose.Vec2{815, 509}) {
		t.Fatalf("person 0 joints %v", r.Joints[:2])
	}
	// People 2 and 3 have both ankles (r_ankle 0, l_ankle 5) unannotated.
	for i, want := range []int{16, 16, 14, 14, 16} {
		n := 0
		for _, v := range recs[i].Vis {
			if v > 0 {
				n++
			}
		}
		if n != want {
			t.Errorf("person %d: %d visible joints, want %d", i, n, want)
		}
	}
	if recs[2].Vis[0] != 0 || recs[2].Vis[5] != 0 || recs[2].Vis[1] != 1 {
		t.Fatalf("person 2 visibility %v", recs[2].Vis)
	}
	if HasHeadBox(r) {
		t.Fatal("the sample has no head boxes")
	}
}

func TestHeadBoxAndPredictions(t *testing.T) {
	data := `[{"image":"a.jpg","center":[10,20],"scale":1.5,"joints":` + pts(16) + `,"joints_vis":` + ones(16) + `,"headbox":[[0,0],[30,40]]}]`
	recs, err := Parse([]byte(data), "g.json")
	if err != nil {
		t.Fatal(err)
	}
	if !HasHeadBox(recs[0]) || pose.HeadSize(recs[0].HeadBox) != 30 || recs[0].HeadBox[1] != (pose.Vec2{29, 39}) {
		t.Fatalf("head box %v", recs[0].HeadBox)
	}
	// Predictions are in the annotations' 1-based pixels too: the same
	// numbers land on the same 0-based pixel.
	preds, err := ParsePredictions([]byte(`[{"image":"a.jpg","joints":`+pts(16)+`}]`), "p.json")
	if err != nil || preds[0].Image != "a.jpg" || preds[0].Joints[3] != (pose.Vec2{2, 5}) || preds[0].Joints[3] != recs[0].Joints[3] {
		t.Fatalf("predictions %v %v", preds, err)
	}
	nulls := strings.Replace(pts(16), "[3,6]", "[3,null]", 1)
	if _, err := ParsePredictions([]byte(`[{"image":"a.jpg","joints":`+nulls+`}]`), "p.json"); err == nil || !strings.Contains(err.Error(), "joint 3 has a null") {
		t.Fatalf("a null coordinate read as 0: %v", err)
	}
}

// Marshal writes what the real files hold: the real mmpose sample, read
// and written again, gives back its own numbers (1-based, MATLAB's
// pixels), not numbers one pixel up and left of them.
func TestMarshalWritesTheFilesConvention(t *testing.T) {
	data, err := os.ReadFile("testdata/test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := Parse(data, "test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	type file struct {
		Image     string         `json:"image"`
		Center    [2]float64     `json:"center"`
		Scale     float64        `json:"scale"`
		Joints    [][2]float64   `json:"joints"`
		JointsVis []float64      `json:"joints_vis"`
		HeadBox   *[2][2]float64 `json:"headbox"`
	}
	var want, got []file
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d people written, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		// center and scale go through the crop box and back: the same
		// numbers to rounding.
		near := math.Abs(g.Center[0]-w.Center[0]) < 1e-9 && math.Abs(g.Center[1]-w.Center[1]) < 1e-9 && math.Abs(g.Scale-w.Scale) < 1e-12
		if g.Image != w.Image || !near || !slices.Equal(g.Joints, w.Joints) || !slices.Equal(g.JointsVis, w.JointsVis) {
			t.Fatalf("person %d written as\n%+v\nthe file has\n%+v", i, g, w)
		}
		if g.HeadBox != nil { // the sample has none; an empty one would not load
			t.Fatalf("person %d: headbox %v written for a record without one", i, *g.HeadBox)
		}
	}
}

// What Marshal writes, Parse reads back onto the same pixels (fractional,
// negative and off-image coordinates included), head boxes too.
func TestMarshalRoundTrip(t *testing.T) {
	r := datasets.MPIIRecord{ID: 0, Image: "x/y.jpg", Center: pose.Vec2{0.25, 719.5}, Scale: 1.75,
		HeadBox: [2]pose.Vec2{{-0.5, 3.125}, {40.75, 44}}}
	for j := range r.Joints {
		r.Joints[j] = pose.Vec2{0.1*float64(j) - 0.7, 1279.9 - 13.3*float64(j)}
		r.Vis[j] = float64(j % 2)
	}
	noBox := r
	noBox.ID, noBox.HeadBox = 1, [2]pose.Vec2{}
	data, err := Marshal([]datasets.MPIIRecord{r, noBox})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data, "out.json")
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b pose.Vec2) bool { return math.Abs(a[0]-b[0]) < 1e-9 && math.Abs(a[1]-b[1]) < 1e-9 }
	for i, want := range []datasets.MPIIRecord{r, noBox} {
		g := back[i]
		ok := g.ID == want.ID && g.Image == want.Image && math.Abs(g.Scale-want.Scale) < 1e-12 && g.Vis == want.Vis &&
			near(g.Center, want.Center) && near(g.HeadBox[0], want.HeadBox[0]) && near(g.HeadBox[1], want.HeadBox[1])
		for j := range want.Joints {
			ok = ok && near(g.Joints[j], want.Joints[j])
		}
		if !ok {
			t.Fatalf("record %d read back as\n%+v\nwant\n%+v", i, g, want)
		}
	}
}

// Every real person's annotated joints lie inside the crop that poselab
// cuts for it (datasets.CropTransform of Center, Scale): 052475643's
// ankles lie 0.545 of scale x 200 below the file's center, outside the
// file's box (half of it is 0.5), and 0.376 of the crop box below the
// crop's centre.
func TestCropKeepsEveryVisibleJoint(t *testing.T) {
	recs, err := Load("testdata/test_mpii.json")
	if err != nil {
		t.Fatal(err)
	}
	const size = 256
	worst := 0.0 // largest |offset| from the crop's centre, in crop sides
	for _, r := range recs {
		a := datasets.CropTransform(r.Center, r.Scale, datasets.CropSpec{Size: size})
		for j, p := range r.Joints {
			if r.Vis[j] == 0 {
				continue
			}
			q := datasets.Apply(a, p)
			off := max(math.Abs(q[0]-size/2), math.Abs(q[1]-size/2)) / size
			worst = max(worst, off)
			if off > 0.5 {
				t.Errorf("%s: joint %d at %.1f, %.1f of the %d px crop: cut off", r.Image, j, q[0], q[1], size)
			}
		}
	}
	t.Logf("farthest visible joint: %.3f of the crop side from its centre", worst)
}

// The crop box round-trips through the file's center and scale: Marshal
// then Parse gives the same box (to rounding) for boxes of any size.
func TestCropBoxRoundTrip(t *testing.T) {
	for _, s := range []float64{0.32, 1, 1.7624, 3.2488769999999993, 4.718488 * 1.25, 11.5} {
		r := datasets.MPIIRecord{Image: "a.jpg", Center: pose.Vec2{640.25, 359.75}, Scale: s}
		data, err := Marshal([]datasets.MPIIRecord{r})
		if err != nil {
			t.Fatal(err)
		}
		var raw []struct {
			Center [2]float64 `json:"center"`
			Scale  float64    `json:"scale"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatal(err)
		}
		// The file holds MPII's box: 1/1.25 the side, centre 15 x the
		// file's scale px higher (1-based pixels).
		if math.Abs(raw[0].Scale-s/1.25) > 1e-12 || math.Abs(raw[0].Center[1]-(359.75+1-15*s/1.25)) > 1e-9 || raw[0].Center[0] != 641.25 {
			t.Fatalf("scale %v: file center %v scale %v", s, raw[0].Center, raw[0].Scale)
		}
		back, err := Parse(data, "out.json")
		if err != nil {
			t.Fatal(err)
		}
		g := back[0]
		if math.Abs(g.Scale-s) > 1e-12*s || math.Abs(g.Center[0]-r.Center[0]) > 1e-9 || math.Abs(g.Center[1]-r.Center[1]) > 1e-9 {
			t.Fatalf("box %v %v read back as %v %v", r.Center, s, g.Center, g.Scale)
		}
	}
}

func TestRejectsBadAnnotations(t *testing.T) {
	cases := map[string]string{
		`{}`: "not a JSON list",
		`[{"image":"a.jpg","center":[1],"scale":1,"joints":` + pts(16) + `,"joints_vis":` + ones(16) + `}]`:                           "center has 1 numbers",
		`[{"image":"a.jpg","center":[1,2],"scale":1,"joints":` + pts(15) + `,"joints_vis":` + ones(16) + `}]`:                         "15 joints, want 16",
		`[{"image":"a.jpg","center":[1,2],"scale":1,"joints":` + pts(16) + `,"joints_vis":` + ones(3) + `}]`:                          "joints_vis has 3 entries",
		`[{"image":"a.jpg","center":[1,2],"joints":` + pts(16) + `,"joints_vis":` + ones(16) + `}]`:                                   "scale missing",
		`[{"center":[1,2],"scale":1,"joints":` + pts(16) + `,"joints_vis":` + ones(16) + `}]`:                                         "no \"image\"",
		`[{"image":"a.jpg","center":[1,2],"scale":1,"joints":` + pts(16) + `,"joints_vis":` + ones(16) + `,"headbox":[[1,2]]}]`:       "headbox is not",
		`[{"image":"a.jpg","center":[1,2],"scale":1,"joints":` + pts(16) + `,"joints_vis":` + ones(16) + `,"headbox":[[1,2],[1,2]]}]`: "empty headbox",
		// null (NaN as pandas writes it) must not read as 0 px.
		`[{"image":"a.jpg","center":[1,null],"scale":1,"joints":` + pts(16) + `,"joints_vis":` + ones(16) + `}]`:                                   "center has a null",
		`[{"image":"a.jpg","center":[1,2],"scale":1,"joints":` + strings.Replace(pts(16), "[0,", "[null,", 1) + `,"joints_vis":` + ones(16) + `}]`: "joint 0 has a null",
		`[{"image":"a.jpg","center":[1,2],"scale":1,"joints":` + pts(16) + `,"joints_vis":` + strings.Replace(ones(16), "1", "null", 1) + `}]`:     "joints_vis has a null",
		`[{"image":"a.jpg","center":[1,2],"scale":1,"joints":` + pts(16) + `,"joints_vis":` + ones(16) + `,"headbox":[[null,2],[30,40]]}]`:         "headbox has a null",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in), "bad.json")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "bad.json: ") {
			t.Errorf("%s: error %v, want %q", in, err, want)
		}
	}
	if _, err := Load("testdata/missing.json"); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := os.ReadFile("testdata/test_mpii.json")
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`[{"image":1}]`))
	f.Add([]byte(`[{"image":"a","center":[1,2],"scale":1,"joints":[[1,2]],"joints_vis":[1],"headbox":[[0,0],[1e308,1e308]]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Parse(data, "fuzz.json")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		// What parses, Marshal writes and Parse reads back.
		b, err := Marshal(recs)
		if err != nil {
			return // an infinite coordinate has no JSON
		}
		back, err := Parse(b, "again")
		if err != nil || len(back) != len(recs) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParsePredictions(f *testing.F) {
	f.Add([]byte(`[{"image":"a.jpg","joints":` + pts(16) + `}]`))
	f.Add([]byte(`[{"image":"a.jpg","joints":[[1]]}]`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParsePredictions(data, "p.json"); err != nil && !strings.HasPrefix(err.Error(), "p.json: ") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

func pts(n int) string {
	s := make([][2]float64, n)
	for i := range s {
		s[i] = [2]float64{float64(i), float64(2 * i)}
	}
	b, _ := json.Marshal(s)
	return string(b)
}

func ones(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat("1,", n), ",") + "]"
}
