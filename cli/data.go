package cli

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"poselab/datasets"
	"poselab/datasets/synth"
	"poselab/engine"
	"poselab/internal/atomicfile"
	"poselab/pose"
)

func init() {
	Register(&Command{Name: "data", Summary: "look at a sample (show; synthetic or a --data folder) or export the synthetic data set (synth)", Run: runData})
}

const dataSynopsis = `data show [--data synth|DIR] [--split val] [--index I] [--mpii] [--size tiny] [--seed S] [--out sample.png]
       poselab data synth --out DIR --format eth|mmpose [--size tiny|small|seed] [--seed S] [--force]`

func runData(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintf(stderr, "Usage: poselab %s\n\nFlags: poselab data show --help, poselab data synth --help\n", dataSynopsis)
			return nil
		}
		return Usagef("want a subcommand: show or synth (see poselab data --help)")
	}
	switch args[0] {
	case "show":
		return runDataShow(args[1:], stdout, stderr)
	case "synth":
		return runDataSynth(args[1:], stdout, stderr)
	}
	return Usagef("unknown data subcommand %q (want show or synth)", args[0])
}

func openSynth(size string, seed uint64) (*synth.Dataset, error) {
	d, err := synth.New(synth.Size(size), seed)
	if err != nil {
		return nil, UsageError{err}
	}
	return d, nil
}

func runDataShow(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("data show", "data show [--data synth|DIR] [--split val] [--index I] [--mpii] [--size tiny] [--seed S] [--out sample.png]", stderr)
	data := fs.String("data", "synth", "data: synth or a data folder (as train's --data), to check how poselab reads it")
	split := fs.String("split", "val", "split: train, val or test")
	index := fs.Int("index", 0, "sample index within the split")
	mpii := fs.Bool("mpii", false, "show an MPII(-like) person instead of a Human3.6M(-like) sample")
	size := fs.String("size", "tiny", "synthetic data set size: tiny, small, seed")
	seed := fs.Uint64("seed", engine.SynthSeed, "synthetic data set seed")
	out := fs.String("out", "sample.png", "PNG to write (the crop with its skeleton)")
	cropSize := fs.Int("crop", 256, "crop size, px")
	flip := fs.Bool("flip", false, "mirror the crop (labels swap left and right)")
	rot := fs.Float64("rot", 0, "rotate the crop by this many degrees")
	cols := fs.Int("cols", 64, "width of the ASCII view, characters")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	// Checked before anything is rendered or written: a negative --cols
	// panicked in the ASCII view after the PNG was written, 0 or 1 printed
	// an empty view, and a NaN angle rendered a blank crop.
	if *cols < 2 || *cols > 1000 {
		return Usagef("--cols must be 2..1000 characters, got %d", *cols)
	}
	if math.IsNaN(*rot) || math.IsInf(*rot, 0) {
		return Usagef("--rot must be a finite number of degrees, got %v", *rot)
	}
	if *cropSize < 8 || *cropSize > 4096 {
		return Usagef("--crop must be 8..4096 px, got %d", *cropSize)
	}
	if st, err := os.Stat(*out); err == nil && st.IsDir() {
		return Usagef("--out %s is a folder: want a .png file", *out)
	}
	if !strings.EqualFold(filepath.Ext(*out), ".png") { // PNG bytes under x.jpg
		return Usagef("--out %s: the crop is written as PNG: want a .png file", *out)
	}
	sp, err := engine.ParseSplit(*split)
	if err != nil {
		return UsageError{err}
	}
	var d datasets.Dataset
	var sd *synth.Dataset // test labels, which a real data set does not have
	if *data == "synth" {
		if sd, err = openSynth(*size, *seed); err != nil {
			return err
		}
		d = sd
	} else {
		synthOnly := ""
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "size" || f.Name == "seed" {
				synthOnly = f.Name
			}
		})
		if synthOnly != "" {
			return Usagef("--%s is a setting of the synthetic data; --data %s is a folder", synthOnly, *data)
		}
		if _, d, err = checkFolder(flagPath("data", *data)); err != nil {
			return err
		}
	}
	spec := datasets.CropSpec{Size: *cropSize, Flip: *flip, RotDeg: *rot}
	var crop *datasets.Crop
	var joints pose.Pose2D
	var vis [pose.NumJoints]float64
	var title string
	if *mpii {
		recs, err := d.MPII(sp)
		if err != nil {
			return err
		}
		if *index < 0 || *index >= len(recs) {
			return Usagef("--index %d out of range: the %s split of %s has %d MPII people", *index, sp, d.Name(), len(recs))
		}
		r := recs[*index]
		if crop, err = d.MPIIImage(sp, *index, spec); err != nil {
			return err
		}
		joints2, mask := pose.MPIIToH36M(r.Joints, r.Vis)
		joints, vis = joints2, mask
		// The crop box's side, not a "scale": an MPII file's scale is this
		// box / 1.25 / 200 (datasets/mpii), and data synth writes that.
		kind := "MPII"
		if sd != nil {
			kind = "MPII-like"
		}
		title = fmt.Sprintf("%s %s #%d  %s  crop box %.0f px", kind, sp, *index, r.Image, r.Scale*200)
	} else {
		recs, err := d.Records(sp)
		if err != nil {
			return err
		}
		if *index < 0 || *index >= len(recs) {
			return Usagef("--index %d out of range: the %s split of %s has %d samples", *index, sp, d.Name(), len(recs))
		}
		r := recs[*index]
		if sp == datasets.Test && sd != nil {
			full, err := sd.TestLabels()
			if err != nil {
				return err
			}
			r = full[*index]
		}
		if crop, err = d.Image(sp, *index, spec); err != nil {
			return err
		}
		joints, vis = r.Joints2D, r.Vis
		title = fmt.Sprintf("%s #%d  %s %s  camera %s  frame %d  pelvis %.0f mm away", sp, *index, r.Subject, r.Action, r.Cam.ID, r.Frame, r.Joints3D[pose.Hip][2])
		if sd == nil {
			title += "  " + r.Image
			if !r.HasLabels {
				title += "  (no joint labels)"
			}
		}
	}
	// Labels into crop pixels; a flip swaps left and right.
	var cj pose.Pose2D
	var cv [pose.NumJoints]float64
	for j := range joints {
		src := j
		if spec.Flip {
			src = pose.FlipPartner[j]
		}
		cj[j] = datasets.Apply(crop.A, joints[src])
		cv[j] = vis[src]
	}
	img := synth.CropImage(crop)
	synth.DrawSkeleton(img, cj, cv)
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return err
	}
	if err := atomicfile.Write(*out, buf.Bytes()); err != nil {
		return err
	}
	fmt.Fprintln(stdout, title)
	rows := *cols / 2
	fmt.Fprint(stdout, synth.ASCII(crop, maskJoints(cj, cv), *cols, rows))
	fmt.Fprintf(stdout, "R right, L left, M midline joints; PNG (red right, blue left): %s\n", *out)
	return nil
}

// maskJoints moves invisible joints off the ASCII grid.
func maskJoints(j pose.Pose2D, vis [pose.NumJoints]float64) pose.Pose2D {
	for k := range j {
		if vis[k] == 0 {
			j[k] = pose.Vec2{-1, -1}
		}
	}
	return j
}

func runDataSynth(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("data synth", "data synth --out DIR --format eth|mmpose [--size tiny|small|seed] [--seed S] [--force]", stderr)
	out := fs.String("out", "", "folder to write")
	format := fs.String("format", "eth", "layout: eth (ETH Machine Perception pickles + MPII JSON) or mmpose (npz + cameras.pkl)")
	size := fs.String("size", "tiny", "data set size: tiny, small, seed")
	seed := fs.Uint64("seed", engine.SynthSeed, "data set seed")
	workers := fs.Int("workers", 0, "image rendering goroutines (0: all cores)")
	noImages := fs.Bool("no-images", false, "write the annotations only")
	force := fs.Bool("force", false, "write into a folder that is not empty (files of the same names are replaced)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return Usagef("--out is required")
	}
	if *format != synth.FormatETH && *format != synth.FormatMMPose {
		return Usagef("--format %q: want eth or mmpose", *format)
	}
	if st, err := os.Stat(*out); err == nil && !st.IsDir() {
		return Usagef("--out %s is a file, not a folder", *out)
	}
	if *workers < 0 {
		return Usagef("--workers must be 0 (all cores) or more, got %d", *workers)
	}
	// The export replaces h36m/annot/*.pkl, mpii/annot/*.json and images by
	// name: pointed at a real data folder it would overwrite its labels.
	if ents, err := os.ReadDir(*out); err == nil && len(ents) > 0 && !*force {
		return Usagef("--out %s is not empty (%d entries): choose a new folder, or --force to replace the files the export writes", *out, len(ents))
	}
	d, err := openSynth(*size, *seed)
	if err != nil {
		return err
	}
	c := d.Counts()
	fmt.Fprintf(stderr, "writing %s (%s layout): %d/%d/%d Human3.6M-like train/val/test samples, %d/%d MPII-like train/valid people\n",
		d.Name(), *format, c.Train, c.Val, c.Test, c.MPIITrain, c.MPIIVal)
	if err := synth.Export(d, *out, synth.ExportOptions{Format: *format, Workers: *workers, Progress: stderr, NoImages: *noImages}); err != nil {
		return err
	}
	abs, _ := filepath.Abs(*out)
	fmt.Fprintf(stdout, "wrote %s\n", abs)
	return nil
}
