package h36m

import (
	"os"
	"testing"

	"poselab/datasets/internal/pyload"
)

// Seed corpora: the real files, truncations and garbage. Each target
// checks only that parsing never panics or hangs; the error paths are
// checked by TestLoadersRejectBadFiles.

func addSeeds(f *testing.F, files ...string) {
	f.Helper()
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
	}
	f.Add([]byte{})
	f.Add([]byte("\x80\x02}q\x00(K\x01]q\x01(}q\x02X\x05\x00\x00\x00imageq\x03K\x07sa."))
	f.Add([]byte("PK\x03\x04\x14\x00\x00\x00\x00\x00"))
}

func FuzzETH(f *testing.F) {
	addSeeds(f, "testdata/eth/val.pkl", "testdata/eth/test.pkl", "testdata/eth_numpy2.pkl", "testdata/eth_bad_dtype.pkl")
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseETH(data)
	})
}

func FuzzMMPoseCameras(f *testing.F) {
	addSeeds(f, "testdata/cameras.pkl")
	f.Fuzz(func(t *testing.T, data []byte) {
		if v, err := pyload.LoadsPickle(data); err == nil {
			mmposeCameras(v)
		}
	})
}

func FuzzMMPose(f *testing.F) {
	addSeeds(f, "testdata/test_h36m_body3d.npz", "testdata/mmpose_bad_shape.npz")
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseMMPose(data, "fuzz.npz", nil)
	})
}

func FuzzVideoPose3D(f *testing.F) {
	addSeeds(f, "testdata/data_3d_h36m_sample.npz", "testdata/data_2d_h36m_gt_sample.npz")
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseVideoPose3D3D(data, "fuzz.npz")
		ParseVideoPose3D2D(data, "fuzz.npz")
	})
}

func FuzzCamerasJSON(f *testing.F) {
	addSeeds(f, "testdata/cameras.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseCamerasJSON(data, "fuzz.json")
	})
}
