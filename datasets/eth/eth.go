// Package eth serves a folder in the layout of ETH Machine Perception
// 2021's pre-processed data (the seed's data) as a datasets.Dataset, so
// that `--data PATH` trains on real data:
//
//	PATH/h36m/annot/{train,val,test}.pkl   Human3.6M labels (h36m.LoadETH)
//	PATH/h36m/images/<record image path>   JPEGs
//	PATH/mpii/annot/{train,valid}.json     MPII labels (mpii.Load)
//	PATH/mpii/images/<image>               JPEGs
//
// Images may be original-size frames or ETH's pre-processed square crops
// of the person box (the box Center, Scale*200 px resampled to the image
// side); a square image of side PreCroppedSide is taken to be such a crop.
// For MPII people that box is the crop box mpii.Load makes of the file's
// center and scale (1.25 x larger, centre lower), the box poselab's
// synthetic export crops.
// Labels stay in original-image pixels either way, and the returned
// Crop.A maps original-image pixels to crop pixels.
package eth

import (
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the data sets' images
	_ "image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"poselab/datasets"
	"poselab/datasets/h36m"
	"poselab/datasets/mpii"
)

// PreCroppedSide is the side (px) of ETH's pre-processed person crops.
const PreCroppedSide = 256

// Dataset reads an ETH-layout folder. Labels load on first use of a split
// and are cached; images are read on every call. Safe for concurrent use.
type Dataset struct {
	root string
	opt  h36m.ETHOptions

	mu   sync.Mutex
	recs map[datasets.Split][]datasets.Record
	mp   map[datasets.Split][]datasets.MPIIRecord
}

var _ datasets.Dataset = (*Dataset)(nil)

// Open checks that root holds at least one ETH annotation folder.
func Open(root string) (*Dataset, error) { return OpenWith(root, h36m.ETHOptions{}) }

// OpenWith is Open with label options (e.g. undistorted 3D joints).
func OpenWith(root string, opt h36m.ETHOptions) (*Dataset, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("eth: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("eth: %s is not a folder", root)
	}
	hasH36M := isDir(filepath.Join(root, "h36m", "annot"))
	hasMPII := isDir(filepath.Join(root, "mpii", "annot"))
	if !hasH36M && !hasMPII {
		return nil, fmt.Errorf("eth: %s has neither h36m/annot nor mpii/annot (ETH Machine Perception layout expected)", root)
	}
	return &Dataset{root: root, opt: opt, recs: map[datasets.Split][]datasets.Record{}, mp: map[datasets.Split][]datasets.MPIIRecord{}}, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Name identifies the data set by its folder.
func (d *Dataset) Name() string { return "eth:" + d.root }

// Records returns the Human3.6M records of a split (h36m/annot/<split>.pkl).
func (d *Dataset) Records(split datasets.Split) ([]datasets.Record, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.recs[split]; ok {
		return r, nil
	}
	path := filepath.Join(d.root, "h36m", "annot", string(split)+".pkl")
	r, err := h36m.LoadETHWith(path, d.opt)
	if err != nil {
		return nil, fmt.Errorf("eth: %w", err)
	}
	// ETH's test.pkl has no joints. Copied in as train.pkl or val.pkl, it
	// trained the image models on MPII alone (their unlabelled samples
	// weigh 0) and failed them at the first validation, hours in.
	if split != datasets.Test {
		for i := range r {
			if !r[i].HasLabels {
				return nil, fmt.Errorf("eth: %s: record %d (%s) has no joints_3d, which the %s split needs (test.pkl's records have none)", path, i, r[i].Image, split)
			}
		}
	}
	d.recs[split] = r
	return r, nil
}

// mpiiFile names the MPII annotation file of a split ("" if none).
func mpiiFile(split datasets.Split) string {
	switch split {
	case datasets.Train:
		return "train.json"
	case datasets.Val:
		return "valid.json"
	}
	return ""
}

// MPII returns the MPII people of a split; the test split has none, and a
// missing file gives none.
func (d *Dataset) MPII(split datasets.Split) ([]datasets.MPIIRecord, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.mp[split]; ok {
		return r, nil
	}
	var r []datasets.MPIIRecord
	if name := mpiiFile(split); name != "" {
		path := filepath.Join(d.root, "mpii", "annot", name)
		var err error
		r, err = mpii.Load(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("eth: %w", err)
		}
	}
	d.mp[split] = r
	return r, nil
}

// Image loads record i's JPEG and warps the crop spec asks for.
func (d *Dataset) Image(split datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	recs, err := d.Records(split)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(recs) {
		return nil, fmt.Errorf("eth: %s record %d out of range 0..%d", split, i, len(recs)-1)
	}
	r := &recs[i]
	return d.crop(filepath.Join(d.root, "h36m", "images", filepath.FromSlash(r.Image)), r.Center, r.Scale, spec, r.Cam.W, r.Cam.H)
}

// MPIIImage loads MPII person i's JPEG and warps the crop spec asks for.
func (d *Dataset) MPIIImage(split datasets.Split, i int, spec datasets.CropSpec) (*datasets.Crop, error) {
	recs, err := d.MPII(split)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(recs) {
		return nil, fmt.Errorf("eth: MPII %s person %d out of range 0..%d", split, i, len(recs)-1)
	}
	r := &recs[i]
	return d.crop(filepath.Join(d.root, "mpii", "images", filepath.FromSlash(r.Image)), r.Center, r.Scale, spec, 0, 0)
}

// crop cuts the crop spec asks for from the image at path. frameW x
// frameH, when known (a Human3.6M camera's), is the original frame's
// size: an image of another size than that or PreCroppedSide is refused,
// since the labels (original-frame pixels) would not land on it (a data
// set resized to save space trained on misplaced crops, silently).
func (d *Dataset) crop(path string, center [2]float64, scale float64, spec datasets.CropSpec, frameW, frameH int) (*datasets.Crop, error) {
	if spec.Size < 1 || spec.Size > 4096 {
		return nil, fmt.Errorf("eth: crop size %d px out of range 1..4096", spec.Size)
	}
	img, err := loadImage(path)
	if err != nil {
		return nil, err
	}
	a := datasets.CropTransform(center, scale, spec)
	// src maps original-image pixels to this file's pixels: the identity
	// for an original frame, the person-box crop for a pre-cropped one.
	src := [2][3]float64{{1, 0, 0}, {0, 1, 0}}
	b := img.Bounds()
	if b.Dx() == PreCroppedSide && b.Dy() == PreCroppedSide {
		src = datasets.CropTransform(center, scale, datasets.CropSpec{Size: PreCroppedSide})
	} else if frameW > 0 && (b.Dx() != frameW || b.Dy() != frameH) {
		return nil, fmt.Errorf("eth: %s: %dx%d px, neither the camera's %dx%d frame nor a %dx%d person crop: the labels, in frame pixels, would not land on it (resized?)",
			path, b.Dx(), b.Dy(), frameW, frameH, PreCroppedSide, PreCroppedSide)
	}
	c := &datasets.Crop{Size: spec.Size, A: a, Pix: make([]uint8, spec.Size*spec.Size*3)}
	WarpBilinear(c.Pix, spec.Size, toRGB(img), b.Dx(), b.Dy(), compose(src, datasets.Invert(a)))
	return c, nil
}

// MaxImagePixels bounds the images the loader decodes (Human3.6M frames
// are 1000x1002, MPII's at most 1920x1080). A corrupt header can claim
// 100000x100000: decoding it asks for 40 GB at once, which the Go runtime
// answers by killing the process, not with an error.
const MaxImagePixels = 64 << 20

func loadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("eth: %w", err)
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("eth: %s: not a readable image: %v", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("eth: %s: %dx%d px is too large for a data set image (corrupt header?)", path, cfg.Width, cfg.Height)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("eth: %w", err)
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("eth: %s: not a readable image: %v", path, err)
	}
	return img, nil
}

// compose returns the affine map p -> a(b(p)).
func compose(a, b [2][3]float64) [2][3]float64 {
	var c [2][3]float64
	for r := 0; r < 2; r++ {
		c[r][0] = a[r][0]*b[0][0] + a[r][1]*b[1][0]
		c[r][1] = a[r][0]*b[0][1] + a[r][1]*b[1][1]
		c[r][2] = a[r][0]*b[0][2] + a[r][1]*b[1][2] + a[r][2]
	}
	return c
}

// CheckImages stats the image of every record and MPII person of every
// split (splits whose labels do not read are left to Records and MPII to
// report) and names the first missing or empty one (an interrupted copy
// or extraction leaves 0-byte files) and how many are.
func (d *Dataset) CheckImages() error {
	var bad []string
	first := ""
	seen := map[string]bool{} // splits may share images
	look := func(dir, image string) {
		p := filepath.Join(d.root, dir, "images", filepath.FromSlash(image))
		if seen[p] {
			return
		}
		seen[p] = true
		what := ""
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			what = "is missing"
		} else if st.Size() == 0 {
			what = "is empty (0 bytes)"
		}
		if what != "" {
			if len(bad) == 0 {
				first = what
			}
			bad = append(bad, p)
		}
	}
	for _, sp := range []datasets.Split{datasets.Train, datasets.Val, datasets.Test} {
		recs, _ := d.Records(sp)
		for i := range recs {
			look("h36m", recs[i].Image)
		}
		people, _ := d.MPII(sp)
		for i := range people {
			look("mpii", people[i].Image)
		}
	}
	switch len(bad) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("eth: image %s %s", bad[0], first)
	}
	return fmt.Errorf("eth: %d images are missing or empty, the first %s %s", len(bad), bad[0], first)
}
