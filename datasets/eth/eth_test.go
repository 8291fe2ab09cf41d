package eth

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poselab/datasets"
	"poselab/pose"
)

// writeJPEG draws a black w x h image with a white square of side 2r+1
// centred on p and writes it to path.
func writeJPEG(t *testing.T, path string, w, h int, p pose.Vec2, r int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{0, 0, 0, 255})
		}
	}
	cx, cy := int(p[0]+0.5), int(p[1]+0.5)
	for y := cy - r; y <= cy+r; y++ {
		for x := cx - r; x <= cx+r; x++ {
			img.Set(x, y, color.RGBA{255, 255, 255, 255})
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// brightness is the mean of the RGB values at crop pixel p.
func brightness(c *datasets.Crop, p pose.Vec2) float64 {
	x, y := int(p[0]+0.5), int(p[1]+0.5)
	if x < 0 || y < 0 || x >= c.Size || y >= c.Size {
		return -1
	}
	o := (y*c.Size + x) * 3
	return (float64(c.Pix[o]) + float64(c.Pix[o+1]) + float64(c.Pix[o+2])) / 3
}

func TestDatasetOverETHFolder(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "testdata/val.pkl", filepath.Join(root, "h36m", "annot", "val.pkl"))
	copyFile(t, "testdata/valid.json", filepath.Join(root, "mpii", "annot", "valid.json"))
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := d.Records(datasets.Val)
	if err != nil || len(recs) != 4 {
		t.Fatalf("records: %d, %v", len(recs), err)
	}
	// Record 0: an original-size frame with a white square on the pelvis.
	r0 := recs[0]
	writeJPEG(t, filepath.Join(root, "h36m", "images", r0.Image), r0.Cam.W, r0.Cam.H, r0.Joints2D[pose.Hip], 12)
	// Record 1: a pre-cropped 256 px person box, square on the right wrist.
	r1 := recs[1]
	box := datasets.CropTransform(r1.Center, r1.Scale, datasets.CropSpec{Size: PreCroppedSide})
	writeJPEG(t, filepath.Join(root, "h36m", "images", r1.Image), PreCroppedSide, PreCroppedSide,
		datasets.Apply(box, r1.Joints2D[pose.RWrist]), 6)
	for _, tc := range []struct {
		i     int
		joint int
		spec  datasets.CropSpec
	}{
		{0, pose.Hip, datasets.CropSpec{Size: 64}},
		{0, pose.Hip, datasets.CropSpec{Size: 48, RotDeg: 30, Flip: true, ScaleAug: 1.2}},
		{1, pose.RWrist, datasets.CropSpec{Size: 64}},
		{1, pose.RWrist, datasets.CropSpec{Size: 96, RotDeg: -25, Flip: true}},
	} {
		c, err := d.Image(datasets.Val, tc.i, tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if c.Size != tc.spec.Size || len(c.Pix) != 3*c.Size*c.Size || c.A != datasets.CropTransform(recs[tc.i].Center, recs[tc.i].Scale, tc.spec) {
			t.Fatalf("record %d: crop %d px, A %v", tc.i, c.Size, c.A)
		}
		at := datasets.Apply(c.A, recs[tc.i].Joints2D[tc.joint])
		if b := brightness(c, at); b < 200 {
			t.Errorf("record %d %+v: joint at crop %v has brightness %v, want the white square", tc.i, tc.spec, at, b)
		}
		// A point a quarter crop away from the joint is dark.
		off := pose.Vec2{at[0] + float64(c.Size)/4, at[1]}
		if off[0] >= float64(c.Size) {
			off[0] = at[0] - float64(c.Size)/4
		}
		if b := brightness(c, off); b > 40 {
			t.Errorf("record %d %+v: background at %v has brightness %v", tc.i, tc.spec, off, b)
		}
	}
	// MPII person 0: head top marked on an original-size image.
	mp, err := d.MPII(datasets.Val)
	if err != nil || len(mp) != 5 {
		t.Fatalf("MPII: %d, %v", len(mp), err)
	}
	writeJPEG(t, filepath.Join(root, "mpii", "images", mp[0].Image), 1280, 720, mp[0].Joints[9], 20)
	c, err := d.MPIIImage(datasets.Val, 0, datasets.CropSpec{Size: 64})
	if err != nil {
		t.Fatal(err)
	}
	if at := datasets.Apply(c.A, mp[0].Joints[9]); brightness(c, at) < 200 {
		t.Errorf("MPII head top at %v not bright: %v", at, brightness(c, at))
	}
	if tr, err := d.MPII(datasets.Train); err != nil || len(tr) != 0 {
		t.Errorf("missing MPII train file: %d people, %v", len(tr), err)
	}
	// Errors name what is wrong.
	if _, err := d.Image(datasets.Val, 2, datasets.CropSpec{Size: 64}); err == nil || !strings.Contains(err.Error(), "S7_Greeting") {
		t.Errorf("missing image: %v", err)
	}
	os.MkdirAll(filepath.Dir(filepath.Join(root, "h36m", "images", filepath.FromSlash(recs[3].Image))), 0o755)
	os.WriteFile(filepath.Join(root, "h36m", "images", filepath.FromSlash(recs[3].Image)), []byte("not a jpeg"), 0o644)
	if _, err := d.Image(datasets.Val, 3, datasets.CropSpec{Size: 64}); err == nil || !strings.Contains(err.Error(), "not a readable image") {
		t.Errorf("corrupt image: %v", err)
	}
	// A frame of another size than its camera's (a resized data set): the
	// labels, in the original frame's pixels, would miss the person.
	writeJPEG(t, filepath.Join(root, "h36m", "images", r0.Image), r0.Cam.W/2, r0.Cam.H/2, r0.Joints2D[pose.Hip], 12)
	if _, err := d.Image(datasets.Val, 0, datasets.CropSpec{Size: 64}); err == nil || !strings.Contains(err.Error(), "S1_Directions_1.54138969_000001.jpg: 500x501 px, neither the camera's 1000x1002 frame nor a 256x256 person crop") {
		t.Errorf("resized image: %v", err)
	}
	if _, err := d.Image(datasets.Val, 4, datasets.CropSpec{Size: 64}); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("out of range: %v", err)
	}
	if _, err := d.Records(datasets.Train); err == nil || !strings.Contains(err.Error(), "train.pkl") {
		t.Errorf("missing split: %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "h36m/annot") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestWarpBilinearHandCase(t *testing.T) {
	// 2x1 source: black then white; sampling halfway gives mid grey.
	src := []uint8{0, 0, 0, 255, 255, 255}
	dst := make([]uint8, 3)
	WarpBilinear(dst, 1, src, 2, 1, [2][3]float64{{1, 0, 0.5}, {0, 1, 0}})
	if dst[0] != 128 {
		t.Fatalf("halfway sample %d, want 128", dst[0])
	}
	WarpBilinear(dst, 1, src, 2, 1, [2][3]float64{{1, 0, 5}, {0, 1, 0}})
	if dst[0] != 0 {
		t.Fatalf("outside sample %d, want 0", dst[0])
	}
}

// pngChunk appends one PNG chunk (length, type, data, CRC).
func pngChunk(b *bytes.Buffer, typ string, data []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// A corrupt or hostile image whose header claims a huge size is refused
// from the header: decoding it asked for 40 GB at once, and the runtime
// kills the process on that ("fatal error: runtime: out of memory"), a
// crash of the whole training process rather than an error.
func TestHugeImageHeaderIsAnError(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "testdata/val.pkl", filepath.Join(root, "h36m", "annot", "val.pkl"))
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := d.Records(datasets.Val)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	pngChunk(&b, "IHDR", ihdr)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(make([]byte, 1000))
	zw.Close()
	pngChunk(&b, "IDAT", z.Bytes())
	pngChunk(&b, "IEND", nil)
	path := filepath.Join(root, "h36m", "images", filepath.FromSlash(recs[0].Image)) // a .jpg name: the format is sniffed
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Image(datasets.Val, 0, datasets.CropSpec{Size: 64}); err == nil || !strings.Contains(err.Error(), "100000x100000") || !strings.Contains(err.Error(), recs[0].Image) {
		t.Fatalf("huge image: %v", err)
	}
}

// ETH's test.pkl has no joints: copied in as train.pkl or val.pkl (an easy
// slip with three files of the same layout), it is an error naming the
// file. The image models trained on such a train split's MPII people
// alone, and failed at the first validation on such a val split.
func TestUnlabelledTrainOrValIsAnError(t *testing.T) {
	root := t.TempDir()
	annot := filepath.Join(root, "h36m", "annot")
	for _, split := range []string{"train", "val", "test"} {
		copyFile(t, "../h36m/testdata/eth/test.pkl", filepath.Join(annot, split+".pkl"))
	}
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range []datasets.Split{datasets.Train, datasets.Val} {
		_, err := d.Records(sp)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(annot, string(sp)+".pkl")+": record 0 (S1/") ||
			!strings.Contains(err.Error(), "has no joints_3d, which the "+string(sp)+" split needs") {
			t.Errorf("%s: %v", sp, err)
		}
	}
	if recs, err := d.Records(datasets.Test); err != nil || len(recs) != 4 {
		t.Fatalf("test split: %d records, %v", len(recs), err)
	}
}

// CheckImages names the first image that is missing or empty (0 bytes:
// an interrupted copy), so that a run is refused before it starts rather
// than failing at the first batch that reads it.
func TestCheckImages(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "testdata/val.pkl", filepath.Join(root, "h36m", "annot", "val.pkl"))
	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := d.Records(datasets.Val)
	if err != nil {
		t.Fatal(err)
	}
	img := func(i int) string { return filepath.Join(root, "h36m", "images", filepath.FromSlash(recs[i].Image)) }
	for i := range recs {
		writeJPEG(t, img(i), 64, 64, pose.Vec2{32, 32}, 2)
	}
	if err := d.CheckImages(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img(2), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckImages(); err == nil || err.Error() != "eth: image "+img(2)+" is empty (0 bytes)" {
		t.Fatalf("empty image: %v", err)
	}
	os.Remove(img(1))
	if err := d.CheckImages(); err == nil || err.Error() != "eth: 2 images are missing or empty, the first "+img(1)+" is missing" {
		t.Fatalf("missing image: %v", err)
	}
}
