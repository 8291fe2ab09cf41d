package predfile

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poselab/pose"
)

func sampleRows(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i].ID = 100 - 3*i // ids need not be sorted
		for j := range rows[i].Joints {
			rows[i].Joints[j] = pose.Vec3{float64(i*10+j) + 0.125, -float64(j) * 2.5, 4000 + float64(i)}
		}
	}
	p2 := pose.Pose2D{}
	for j := range p2 {
		p2[j] = pose.Vec2{float64(j) + 0.5, 300}
	}
	rows[0].Joints2D = &p2
	return rows
}

func TestRoundTripEveryFormat(t *testing.T) {
	dir := t.TempDir()
	rows := sampleRows(5)
	for _, ext := range []string{"csv", "json", "npz"} {
		path := filepath.Join(dir, "pred."+ext)
		if err := Write(path, rows); err != nil {
			t.Fatalf("%s: write: %v", ext, err)
		}
		got, err := Read(path)
		if err != nil {
			t.Fatalf("%s: read: %v", ext, err)
		}
		if len(got) != len(rows) {
			t.Fatalf("%s: %d rows, want %d", ext, len(got), len(rows))
		}
		tol := 0.0
		if ext == "npz" {
			tol = 1e-3 // float32 on disk
		}
		for i := range rows {
			if got[i].ID != rows[i].ID {
				t.Fatalf("%s: row %d id %d, want %d", ext, i, got[i].ID, rows[i].ID)
			}
			for j := range rows[i].Joints {
				for k := 0; k < 3; k++ {
					if math.Abs(got[i].Joints[j][k]-rows[i].Joints[j][k]) > tol {
						t.Fatalf("%s: row %d joint %d: %v, want %v", ext, i, j, got[i].Joints[j], rows[i].Joints[j])
					}
				}
			}
		}
		if ext == "json" && (got[0].Joints2D == nil || *got[0].Joints2D != *rows[0].Joints2D || got[1].Joints2D != nil) {
			t.Fatalf("json: 2D joints not kept: %v", got[0].Joints2D)
		}
		// No temporary files are left behind.
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".tmp") {
				t.Fatalf("temporary file left: %s", e.Name())
			}
		}
	}
	// Empty exports round-trip too.
	for _, ext := range []string{"csv", "json", "npz"} {
		path := filepath.Join(dir, "empty."+ext)
		if err := Write(path, nil); err != nil {
			t.Fatalf("%s: write empty: %v", ext, err)
		}
		if got, err := Read(path); err != nil || len(got) != 0 {
			t.Fatalf("%s: empty read back %d rows, %v", ext, len(got), err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pred.csv"))
	first := strings.SplitN(string(b), "\n", 2)[0]
	if !strings.HasPrefix(first, "Id,Hip_x,Hip_y,Hip_z,RHip_x,") || !strings.HasSuffix(first, "RWrist_x,RWrist_y,RWrist_z") ||
		strings.Count(first, ",") != 51 {
		t.Fatalf("CSV header %q", first)
	}
}

func TestReadsNumpyWrittenNPZ(t *testing.T) {
	// Written by numpy: np.savez(pred=float32 [3,17,3] = arange*1.5-20,
	// ids=int64 [7,3,11]).
	rows, err := Read("testdata/numpy_pred.npz")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].ID != 7 || rows[1].ID != 3 || rows[2].ID != 11 {
		t.Fatalf("ids %v", rows)
	}
	if rows[1].Joints[2] != (pose.Vec3{65.5, 67, 68.5}) {
		t.Fatalf("pred[1,2] = %v, want [65.5 67 68.5]", rows[1].Joints[2])
	}
}

func TestRejectsBadInput(t *testing.T) {
	header := strings.Join(CSVHeader(), ",")
	good := "5" + strings.Repeat(",1.5", 51)
	cases := []struct {
		name, body, want string
	}{
		{"dup.csv", header + "\n" + good + "\n" + good + "\n", "row 3: duplicate id 5"},
		{"nan.csv", header + "\n" + "5" + strings.Repeat(",1", 10) + ",NaN" + strings.Repeat(",1", 40) + "\n", "row 2: column RFoot_y is NaN"},
		{"inf.csv", header + "\n" + "5" + strings.Repeat(",1", 50) + ",+Inf\n", "row 2: column RWrist_z is +Inf"},
		{"short.csv", header + "\n" + good + "\n6,1,2,3\n", "row 3: 4 columns, want 52"},
		{"badhead.csv", strings.Replace(header, "Hip_y", "Hip_q", 1) + "\n", "column 3 is \"Hip_q\""},
		{"empty.csv", "", "empty file"},
		{"word.csv", header + "\n" + "5" + strings.Repeat(",1", 50) + ",abc\n", "\"abc\" is not a number"},
		{"badid.csv", header + "\n" + "x" + strings.Repeat(",1", 51) + "\n", "Id \"x\" is not an integer"},
		{"dup.json", `[{"id":1,"joints":` + joints(17, 3) + `},{"id":1,"joints":` + joints(17, 3) + `}]`, "entry 1: duplicate id 1"},
		{"shape.json", `[{"id":1,"joints":` + joints(16, 3) + `}]`, "entry 0 (id 1): joints: 16 joints, want 17"},
		{"coords.json", `[{"id":1,"joints":` + joints(17, 2) + `}]`, "joint 0 has 2 coordinates, want 3"},
		{"noid.json", `[{"joints":` + joints(17, 3) + `}]`, "entry 0: no \"id\""},
		{"nan.json", `[{"id":1,"joints":[[NaN,1,2]]}]`, "not a JSON list"},
		// null is how pandas and others write NaN: it must not read as 0 mm.
		{"null.json", `[{"id":1,"joints":` + strings.Replace(joints(17, 3), "[1.5,", "[null,", 1) + `}]`, "joint 0 coordinate 0 is null"},
		{"null2d.json", `[{"id":1,"joints":` + joints(17, 3) + `,"joints_2d":` + strings.Replace(joints(17, 2), ",1.5]", ",null]", 1) + `}]`, "joints_2d: joint 0 coordinate 1 is null"},
		{"garbage.npz", "PK\x03\x04garbage", "not an npz archive"},
		{"x.txt", "", "unknown prediction file type"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		os.WriteFile(path, []byte(c.body), 0o644)
		_, err := Read(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: error %v, want it to name the file and say %q", c.name, err, c.want)
		}
	}
	if _, err := Read(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
	// Writers refuse what readers would reject, and leave old files alone.
	path := filepath.Join(dir, "keep.csv")
	if err := Write(path, sampleRows(2)); err != nil {
		t.Fatal(err)
	}
	bad := sampleRows(2)
	bad[1].Joints[3][1] = math.NaN()
	if err := Write(path, bad); err == nil {
		t.Fatal("NaN written")
	}
	bad = sampleRows(2)
	bad[1].ID = bad[0].ID
	if err := Write(path, bad); err == nil {
		t.Fatal("duplicate id written")
	}
	if rows, err := Read(path); err != nil || len(rows) != 2 {
		t.Fatalf("earlier file damaged: %v %v", rows, err)
	}
}

func TestNPZWrongShapes(t *testing.T) {
	dir := t.TempDir()
	good, err := encodeNPZ(sampleRows(2))
	if err != nil {
		t.Fatal(err)
	}
	// Truncations of a valid archive all fail cleanly.
	for _, n := range []int{0, 10, len(good) / 2, len(good) - 1} {
		path := filepath.Join(dir, "trunc.npz")
		os.WriteFile(path, good[:n], 0o644)
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), "trunc.npz") {
			t.Errorf("truncated to %d bytes: %v", n, err)
		}
	}
}

func joints(n, d int) string {
	var b strings.Builder
	b.WriteString("[")
	for j := 0; j < n; j++ {
		if j > 0 {
			b.WriteString(",")
		}
		b.WriteString("[")
		for k := 0; k < d; k++ {
			if k > 0 {
				b.WriteString(",")
			}
			b.WriteString("1.5")
		}
		b.WriteString("]")
	}
	b.WriteString("]")
	return b.String()
}

// The npz stores float32: a coordinate finite in float64 but beyond
// float32's range would be written as Inf, which the reader refuses. The
// writer refuses it instead, as it does NaN.
func TestNPZRefusesWhatFloat32CannotHold(t *testing.T) {
	rows := sampleRows(2)
	rows[1].Joints[4][2] = 1e39
	path := filepath.Join(t.TempDir(), "pred.npz")
	err := Write(path, rows)
	if err == nil {
		_, rerr := Read(path)
		t.Fatalf("wrote a file that reads back as: %v", rerr)
	}
	if !strings.Contains(err.Error(), "LHip") {
		t.Errorf("error does not name the joint: %v", err)
	}
	if _, serr := os.Stat(path); !os.IsNotExist(serr) {
		t.Errorf("a file was left: %v", serr)
	}
}
