package h36m

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestETHNumpy2PickleLoads(t *testing.T) {
	a, err := LoadETH("testdata/eth/val.pkl")
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadETH("testdata/eth_numpy2.pkl") // numpy._core.multiarray, protocol 5
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) {
		t.Fatalf("%d vs %d records", len(a), len(b))
	}
	for i := range a {
		if a[i].Joints3D != b[i].Joints3D || a[i].Joints2D != b[i].Joints2D || a[i].Cam != b[i].Cam {
			t.Fatalf("record %d differs between numpy 1 and numpy 2 pickles", i)
		}
	}
}

func TestLoadersRejectBadFiles(t *testing.T) {
	dir := t.TempDir()
	trunc := func(src string, n int) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "trunc_"+filepath.Base(src))
		os.WriteFile(p, b[:min(n, len(b))], 0o644)
		return p
	}
	garbage := filepath.Join(dir, "garbage.bin")
	os.WriteFile(garbage, []byte("\x80\x04garbage that is not a pickle\x00\xff"), 0o644)
	// Other formats of a data set folder, named as such (an npz read
	// "unknown opcode 0x00 at byte 1288", JSON "unknown opcode 0x5b").
	jsonFile, empty := filepath.Join(dir, "valid.json"), filepath.Join(dir, "empty.pkl")
	os.WriteFile(jsonFile, []byte(" [{\"image\": \"a.jpg\"}]"), 0o644)
	os.WriteFile(empty, nil, 0o644)
	eth := func(p string) error { _, err := LoadETH(p); return err }
	mm := func(p string) error { _, err := LoadMMPose(p, nil); return err }
	vp3 := func(p string) error { _, err := LoadVideoPose3D3D(p); return err }
	vp2 := func(p string) error { _, err := LoadVideoPose3D2D(p); return err }
	camsJSON := func(p string) error { _, err := LoadCamerasJSON(p); return err }
	camsPkl := func(p string) error { _, err := LoadMMPoseCameras(p); return err }
	cases := []struct {
		load func(string) error
		path string
		want string
	}{
		{eth, "testdata/eth_bad_shape.pkl", "camera 1 record 0: joints_3d: shape [16 3], want [17 3]"},
		{eth, "testdata/eth_bad_dtype.pkl", "joints_3d: not a numeric array (holds []string)"},
		{eth, "testdata/eth_nan.pkl", "camera 2 record 1: pelvis[1] is NaN"},
		{eth, "testdata/eth_missing_key.pkl", "camera 1 record 1: no \"c_p\""},
		{eth, "testdata/eth_not_dict.pkl", "want a dict camera -> records"},
		{eth, trunc("testdata/eth/val.pkl", 3000), ""},
		{eth, trunc("testdata/eth/test.pkl", 100), ""},
		{eth, garbage, ""},
		{eth, filepath.Join(dir, "absent.pkl"), "no such file"},
		{eth, "testdata/test_h36m_body3d.npz", "not a pickle: a zip archive (an .npz?)"},
		{eth, jsonFile, "not a pickle: JSON text"},
		{eth, empty, "not a pickle: the file is empty"},
		{mm, "testdata/mmpose_bad_shape.npz", "part: shape [4 17 2], want [4 17 3]"},
		{mm, "testdata/mmpose_bad_dtype.npz", "S: "},
		{mm, trunc("testdata/test_h36m_body3d.npz", 3000), ""},
		{mm, garbage, "not an npz archive"},
		{vp3, "testdata/vp3d_bad_shape.npz", "S1 \"Directions 1\": shape [2 20 3]"},
		{vp3, trunc("testdata/data_3d_h36m_sample.npz", 700), ""},
		{vp3, "testdata/test_h36m_body3d.npz", "no array \"positions_3d\""},
		{vp2, "testdata/data_3d_h36m_sample.npz", "no array \"positions_2d\""},
		{camsJSON, "testdata/vp3d_bad_shape.npz", "not a cameras.json"},
		{camsJSON, trunc("testdata/cameras.json", 5000), "not a cameras.json"},
		{camsPkl, trunc("testdata/cameras.pkl", 2000), ""},
		{camsPkl, "testdata/eth/val.pkl", "is not (subject, camera id)"},
	}
	for _, c := range cases {
		err := c.load(c.path)
		if err == nil {
			t.Errorf("%s: loaded without error", c.path)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, filepath.Base(c.path)) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q: want one line naming the file and saying %q", c.path, msg, c.want)
		}
	}
}

// A record whose person box is empty (width and height 0) is refused: its
// scale would be 0 and every crop of it black, silently, while the MPII
// loader already refuses a scale that is not positive.
func TestETHEmptyPersonBoxIsAnError(t *testing.T) {
	data, err := os.ReadFile("testdata/eth/val.pkl")
	if err != nil {
		t.Fatal(err)
	}
	// Camera 1 record 0's width and height are the BINFLOATs ('G', 8 bytes
	// big-endian) at offsets 144 and 162 (python3 -m pickletools).
	for _, at := range []int{144, 162} {
		if data[at] != 'G' {
			t.Fatalf("offset %d is not a BINFLOAT: the fixture changed", at)
		}
		copy(data[at+1:at+9], make([]byte, 8))
	}
	if _, err := ParseETH(data); err == nil || !strings.Contains(err.Error(), "camera 1 record 0: person box") {
		t.Fatalf("empty person box: %v", err)
	}
}

// A record's frame size (which the image loader checks images against)
// is its camera's, named by the pickled camera and the image path, not
// the one the dict key's position in Human3.6M's camera list has: here
// camera 54138969's records (1000x1002 frames) sit under key 3, whose
// camera 58860488 films 1000x1000.
func TestETHFrameSizeFollowsTheNamedCamera(t *testing.T) {
	data, err := os.ReadFile("testdata/eth/val.pkl")
	if err != nil {
		t.Fatal(err)
	}
	// The top-level dict's first key, BININT1 1 at offset 14 (python3 -m
	// pickletools).
	if data[14] != 'K' || data[15] != 1 {
		t.Fatal("offset 14 is not the key BININT1 1: the fixture changed")
	}
	data[15] = 3
	recs, err := ParseETH(data)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Cam.ID != "54138969" {
			continue
		}
		n++
		if r.Cam.W != 1000 || r.Cam.H != 1002 {
			t.Errorf("%s: frame %dx%d, want 54138969's 1000x1002", r.Image, r.Cam.W, r.Cam.H)
		}
	}
	if n != 2 {
		t.Fatalf("%d records of camera 54138969, want 2", n)
	}
}
