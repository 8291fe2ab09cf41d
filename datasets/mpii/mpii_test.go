package mpii

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

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
	r := recs[0]
	if r.Image != "005808361.jpg" || r.Center != (pose.Vec2{966, 340}) || r.Scale != 4.718488 {
		t.Fatalf("person 0: %+v", r)
	}
	if r.Joints[0] != (pose.Vec2{804, 711}) || r.Joints[1] != (pose.Vec2{816, 510}) {
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
	if !HasHeadBox(recs[0]) || pose.HeadSize(recs[0].HeadBox) != 30 {
		t.Fatalf("head box %v", recs[0].HeadBox)
	}
	preds, err := ParsePredictions([]byte(`[{"image":"a.jpg","joints":`+pts(16)+`}]`), "p.json")
	if err != nil || preds[0].Image != "a.jpg" || preds[0].Joints[3] != (pose.Vec2{3, 6}) {
		t.Fatalf("predictions %v %v", preds, err)
	}
	nulls := strings.Replace(pts(16), "[3,6]", "[3,null]", 1)
	if _, err := ParsePredictions([]byte(`[{"image":"a.jpg","joints":`+nulls+`}]`), "p.json"); err == nil || !strings.Contains(err.Error(), "joint 3 has a null") {
		t.Fatalf("a null coordinate read as 0: %v", err)
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
		// What parses re-encodes to the same records.
		var again []map[string]any
		for _, r := range recs {
			again = append(again, map[string]any{"image": r.Image, "center": r.Center, "scale": r.Scale, "joints": r.Joints, "joints_vis": r.Vis})
		}
		b, _ := json.Marshal(again)
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
