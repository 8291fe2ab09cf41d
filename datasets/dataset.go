// Package datasets serves training data to the engine: the synthetic
// Human3.6M-like data set that poselab trains on by default (package
// datasets/synth) and loaders for the real formats. Every source is exposed
// through the same records and crops, so models never see where data
// came from.
package datasets

import "poselab/pose"

// Split names a part of a data set.
type Split string

// The seed's splits: train S1, S5, S6, S7; validation S8; test S9, S11
// (labels held back).
const (
	Train Split = "train"
	Val   Split = "val"
	Test  Split = "test"
)

// Record holds the labels of one Human3.6M-like sample (one frame seen by
// one camera), in the fields of the real metadata.
type Record struct {
	ID        int    // index within its split
	Subject   string // "S1"
	Action    string // e.g. "Walking"
	CamIndex  int    // 0..3
	Frame     int    // frame number within the sequence
	Cam       pose.Camera
	Joints2D  pose.Pose2D // pixels of the original image (with distortion)
	Joints3D  pose.Pose3D // camera coordinates, mm (root position included)
	Vis       [pose.NumJoints]float64
	Center    pose.Vec2 // person box centre, px
	Scale     float64   // person box size / 200 px
	HasLabels bool      // false for the test split
	Image     string    // relative image path (real data) or synthetic id
}

// MPIIRecord is one MPII-style person: 2D only. Center and Scale are the
// crop box, as for Record; for a real MPII file that is not the file's
// own center and scale: datasets/mpii moves the box down and enlarges it
// on read, as the reference readers do, and undoes that on write.
type MPIIRecord struct {
	ID      int
	Image   string
	Joints  [pose.NumMPIIJoints]pose.Vec2
	Vis     [pose.NumMPIIJoints]float64
	Center  pose.Vec2
	Scale   float64      // crop box size / 200 px
	HeadBox [2]pose.Vec2 // [[x1,y1],[x2,y2]] px; zero when unknown
}

// CropSpec says how to cut (and augment) the square input crop around a
// person: the box of side Scale*200*ScaleAug px centred on Center, rotated
// by RotDeg, mirrored when Flip, resampled to Size x Size pixels.
type CropSpec struct {
	Size     int
	ScaleAug float64 // 1 = no scale augmentation
	RotDeg   float64
	Flip     bool
}

// Crop is an RGB input image and the affine map from original-image pixels
// to crop pixels: crop = A * [u v 1].
type Crop struct {
	Size int
	Pix  []uint8 // RGB, row-major, Size*Size*3
	A    [2][3]float64
}

// Dataset is a source of labelled samples and their images.
type Dataset interface {
	Name() string
	// Records returns the labels of a split (test records have none).
	Records(split Split) ([]Record, error)
	// MPII returns the MPII-style 2D people of a split (may be empty).
	MPII(split Split) ([]MPIIRecord, error)
	// Image renders or loads the crop of record i of split.
	Image(split Split, i int, spec CropSpec) (*Crop, error)
	// MPIIImage renders or loads the crop of MPII person i of split.
	MPIIImage(split Split, i int, spec CropSpec) (*Crop, error)
}
