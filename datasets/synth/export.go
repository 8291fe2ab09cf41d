package synth

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"codeberg.org/sbinet/npyio/npz"

	"poselab/datasets"
	"poselab/datasets/mpii"
	"poselab/datasets/synth/pywrite"
	"poselab/internal/atomicfile"
	"poselab/pose"
)

// Export formats.
const (
	FormatETH    = "eth"    // h36m/annot/{train,val,test}.pkl + mpii/annot/{train,valid}.json
	FormatMMPose = "mmpose" // h36m/annotation_body3d/fps50/h36m_*.npz + cameras.pkl + mpii/annotations/mpii_{train,val}.json
)

// ExportOptions control Export.
type ExportOptions struct {
	Format   string
	Workers  int       // image rendering goroutines (0: all cores)
	Progress io.Writer // progress lines (rate, ETA); nil: silent
	NoImages bool      // labels only
}

// ExportImageSize is the side of the exported JPEG crops: the person box
// (Center, Scale) resampled to 256 x 256 px, as in ETH's pre-processed
// Human3.6M. Labels stay in original-image pixels. For MPII people that
// box is the crop box, which the JSON holds as MPII's smaller center and
// scale (mpii.Marshal) and datasets/eth reads back as the same box.
const ExportImageSize = 256

// Export writes the data set into dir in a real data set's layout, so that
// the real loaders read it. Every file is written atomically.
func Export(d *Dataset, dir string, opt ExportOptions) error {
	if opt.Format != FormatETH && opt.Format != FormatMMPose {
		return fmt.Errorf("synth: unknown export format %q (want eth or mmpose)", opt.Format)
	}
	splits := []datasets.Split{datasets.Train, datasets.Val, datasets.Test}
	recs := map[datasets.Split][]datasets.Record{}
	for _, s := range splits {
		r, err := d.h36mSplit(s)
		if err != nil {
			return err
		}
		recs[s] = r.recs
	}
	mpiiSplits := []datasets.Split{datasets.Train, datasets.Val}
	mp := map[datasets.Split][]datasets.MPIIRecord{}
	for _, s := range mpiiSplits {
		r, err := d.MPII(s)
		if err != nil {
			return err
		}
		mp[s] = r
	}
	mpiiName := map[datasets.Split]string{datasets.Train: "train", datasets.Val: "valid"}
	h36mImages := filepath.Join(dir, "h36m", "images")
	mpiiImages := filepath.Join(dir, "mpii", "images")

	switch opt.Format {
	case FormatETH:
		for _, s := range splits {
			data, err := ethPickle(recs[s], s != datasets.Test)
			if err != nil {
				return err
			}
			if err := atomicfile.Write(filepath.Join(dir, "h36m", "annot", string(s)+".pkl"), data); err != nil {
				return err
			}
		}
		for _, s := range mpiiSplits {
			if err := writeMPIIJSON(filepath.Join(dir, "mpii", "annot", mpiiName[s]+".json"), mp[s]); err != nil {
				return err
			}
		}
	case FormatMMPose:
		base := filepath.Join(dir, "h36m", "annotation_body3d")
		for _, s := range splits {
			if err := writeMMPoseNPZ(filepath.Join(base, "fps50", "h36m_"+string(s)+".npz"), recs[s], s != datasets.Test); err != nil {
				return err
			}
		}
		data, err := mmposeCameras()
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(base, "cameras.pkl"), data); err != nil {
			return err
		}
		// mmpose names its MPII files mpii_train.json and mpii_val.json
		// (its configs' ann_file), not ETH's train/valid.
		mmName := map[datasets.Split]string{datasets.Train: "mpii_train.json", datasets.Val: "mpii_val.json"}
		for _, s := range mpiiSplits {
			if err := writeMPIIJSON(filepath.Join(dir, "mpii", "annotations", mmName[s]), mp[s]); err != nil {
				return err
			}
		}
	}
	if opt.NoImages {
		return nil
	}

	// Images: every H36M record, then every MPII person, rendered and
	// encoded in parallel.
	type job struct {
		split datasets.Split
		i     int
		mpii  bool
		path  string
	}
	var jobs []job
	for _, s := range splits {
		for i, r := range recs[s] {
			jobs = append(jobs, job{s, i, false, filepath.Join(h36mImages, filepath.FromSlash(r.Image))})
		}
	}
	for _, s := range mpiiSplits {
		for i, r := range mp[s] {
			jobs = append(jobs, job{s, i, true, filepath.Join(mpiiImages, filepath.FromSlash(r.Image))})
		}
	}
	idx := make([]int, len(jobs))
	for k := range idx {
		idx[k] = k
	}
	var mkdir sync.Mutex
	made := map[string]bool{}
	prog := newProgress(opt.Progress, "images", len(jobs))
	spec := datasets.CropSpec{Size: ExportImageSize}
	items := datasets.PrefetchFunc(context.Background(), idx, func(k, _ int) (*datasets.Crop, error) {
		j := jobs[k]
		var c *datasets.Crop
		var err error
		if j.mpii {
			c, err = d.MPIIImage(j.split, j.i, spec)
		} else {
			c, err = d.Image(j.split, j.i, spec)
		}
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, CropImage(c), &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		dirName := filepath.Dir(j.path)
		mkdir.Lock()
		if !made[dirName] {
			if err := os.MkdirAll(dirName, 0o755); err != nil {
				mkdir.Unlock()
				return nil, err
			}
			made[dirName] = true
		}
		mkdir.Unlock()
		return nil, atomicfile.WriteNoSync(j.path, buf.Bytes())
	}, opt.Workers, 0)
	var firstErr error
	for it := range items {
		if it.Err != nil && firstErr == nil {
			firstErr = fmt.Errorf("synth: image %s: %w", jobs[it.K].path, it.Err)
		}
		prog.step()
	}
	prog.done()
	return firstErr
}

// ethPickle builds ETH's annotation pickle: camera number 1..4 -> records.
func ethPickle(recs []datasets.Record, labels bool) ([]byte, error) {
	byCam := [4]pywrite.List{}
	for _, r := range recs {
		e := &pywrite.Dict{}
		e.Set("image", r.Image)
		e.Set("center_x", r.Center[0])
		e.Set("center_y", r.Center[1])
		e.Set("width", r.Scale*200)
		e.Set("height", r.Scale*200)
		pelvis := r.Joints3D[pose.Hip]
		if labels {
			j3 := make([]float64, 0, pose.NumJoints*3)
			vis := make([]float64, 0, pose.NumJoints*3)
			for j := range r.Joints2D {
				j3 = append(j3, r.Joints2D[j][0], r.Joints2D[j][1], r.Joints3D[j][2]-pelvis[2])
				vis = append(vis, r.Vis[j], r.Vis[j], r.Vis[j])
			}
			e.Set("joints_3d", &pywrite.Array{Shape: []int{pose.NumJoints, 3}, Data: j3})
			e.Set("joints_3d_vis", &pywrite.Array{Shape: []int{pose.NumJoints, 3}, Data: vis})
		}
		e.Set("pelvis", &pywrite.Array{Shape: []int{3}, Data: pelvis[:]})
		e.Set("fl", &pywrite.Array{Shape: []int{2}, Data: []float64{r.Cam.Fx, r.Cam.Fy}})
		e.Set("c_p", &pywrite.Array{Shape: []int{2}, Data: []float64{r.Cam.Cx, r.Cam.Cy}})
		c := &pywrite.Dict{}
		c.Set("R", &pywrite.Array{Shape: []int{3, 3}, Data: flat33(r.Cam.R)})
		c.Set("T", &pywrite.Array{Shape: []int{3}, Data: r.Cam.T[:]})
		c.Set("fx", r.Cam.Fx)
		c.Set("fy", r.Cam.Fy)
		c.Set("cx", r.Cam.Cx)
		c.Set("cy", r.Cam.Cy)
		c.Set("k", &pywrite.Array{Shape: []int{3}, Data: r.Cam.K[:]})
		c.Set("p", &pywrite.Array{Shape: []int{2}, Data: r.Cam.P[:]})
		c.Set("name", r.Cam.ID)
		e.Set("camera", &pywrite.Object{Module: "lib.utils.cameras", Name: "Camera", State: c})
		byCam[r.CamIndex] = append(byCam[r.CamIndex], e)
	}
	top := &pywrite.Dict{}
	for c := range byCam {
		top.Set(c+1, byCam[c])
	}
	return pywrite.Marshal(top)
}

func flat33(m [3][3]float64) []float64 {
	return []float64{m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2], m[2][0], m[2][1], m[2][2]}
}

// writeMPIIJSON writes MPII people in the real files' 1-based
// coordinates (mpii.Marshal), which mmpose and Simple Baselines shift by
// -1 on read as they do for the real annotations.
func writeMPIIJSON(path string, recs []datasets.MPIIRecord) error {
	data, err := mpii.Marshal(recs)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data)
}

// writeMMPoseNPZ writes mmpose's Human3.6M annotation arrays: imgname,
// center, scale and, with labels, part (2D px + visibility) and S (camera
// coordinates in metres + visibility).
func writeMMPoseNPZ(path string, recs []datasets.Record, labels bool) error {
	n := len(recs)
	names := make([]string, n)
	center := make([][2]float64, n)
	scl := make([]float64, n)
	part := make([][pose.NumJoints][3]float64, n)
	s3 := make([][pose.NumJoints][4]float64, n)
	for i, r := range recs {
		names[i], center[i], scl[i] = r.Image, r.Center, r.Scale
		for j := range r.Joints2D {
			part[i][j] = [3]float64{r.Joints2D[j][0], r.Joints2D[j][1], r.Vis[j]}
			s3[i][j] = [4]float64{r.Joints3D[j][0] / 1000, r.Joints3D[j][1] / 1000, r.Joints3D[j][2] / 1000, r.Vis[j]}
		}
	}
	var buf bytes.Buffer
	w := npz.NewWriter(&buf)
	write := func(name string, v any) error {
		if err := w.Write(name+".npy", v); err != nil { // numpy.savez names entries x.npy
			return fmt.Errorf("synth: %s: %w", path, err)
		}
		return nil
	}
	if err := write("imgname", names); err != nil {
		return err
	}
	if err := write("center", center); err != nil {
		return err
	}
	if err := write("scale", scl); err != nil {
		return err
	}
	if labels {
		if err := write("part", part); err != nil {
			return err
		}
		if err := write("S", s3); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes())
}

// mmposeCameras is mmpose's cameras.pkl: (subject, camera id) -> R
// (camera to world), T (camera centre, m, 3x1), c, f (2x1), k (3x1),
// p (2x1, cameras.h5 order: reversed from VideoPose3D's), w, h, name, id.
func mmposeCameras() ([]byte, error) {
	top := &pywrite.Dict{}
	for _, s := range append(append(append([]string{}, trainSubjects...), valSubjects...), testSubjects...) {
		for ci, c := range h36mCameras[s] {
			e := &pywrite.Dict{}
			var rt [3][3]float64
			for i := 0; i < 3; i++ {
				for j := 0; j < 3; j++ {
					rt[i][j] = c.R[j][i]
				}
			}
			e.Set("R", &pywrite.Array{Shape: []int{3, 3}, Data: flat33(rt)})
			e.Set("T", &pywrite.Array{Shape: []int{3, 1}, Data: []float64{c.T[0] / 1000, c.T[1] / 1000, c.T[2] / 1000}})
			e.Set("c", &pywrite.Array{Shape: []int{2, 1}, Data: []float64{c.Cx, c.Cy}})
			e.Set("f", &pywrite.Array{Shape: []int{2, 1}, Data: []float64{c.Fx, c.Fy}})
			e.Set("k", &pywrite.Array{Shape: []int{3, 1}, Data: c.K[:]})
			e.Set("p", &pywrite.Array{Shape: []int{2, 1}, Data: []float64{c.P[1], c.P[0]}})
			e.Set("w", c.W)
			e.Set("h", c.H)
			e.Set("name", fmt.Sprintf("camera%d", ci+1))
			e.Set("id", c.ID)
			top.Set(pywrite.Tuple{s, c.ID}, e)
		}
	}
	return pywrite.Marshal(top)
}

// progress prints "what n/total, rate/s, ETA": on a terminal one line
// rewritten twice a second, elsewhere (logs) a line every 5 s.
type progress struct {
	w      io.Writer
	tty    bool
	what   string
	n, tot int
	start  time.Time
	last   time.Time
}

func newProgress(w io.Writer, what string, total int) *progress {
	now := time.Now()
	p := &progress{w: w, what: what, tot: total, start: now, last: now}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) step() {
	p.n++
	every := 5 * time.Second
	if p.tty {
		every = 500 * time.Millisecond
	}
	if p.w == nil || time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	el := time.Since(p.start).Seconds()
	rate := float64(p.n) / el
	eta := time.Duration(float64(p.tot-p.n)/rate) * time.Second
	if p.tty {
		fmt.Fprintf(p.w, "\r%s %d/%d  %.0f/s  ETA %v   ", p.what, p.n, p.tot, rate, eta.Round(time.Second))
	} else {
		fmt.Fprintf(p.w, "%s %d/%d  %.0f/s  ETA %v\n", p.what, p.n, p.tot, rate, eta.Round(time.Second))
	}
}

func (p *progress) done() {
	if p.w == nil {
		return
	}
	el := time.Since(p.start)
	cr := ""
	if p.tty {
		cr = "\r"
	}
	fmt.Fprintf(p.w, "%s%s %d/%d  %.0f/s  in %v          \n", cr, p.what, p.n, p.tot, float64(p.n)/el.Seconds(), el.Round(time.Millisecond))
}
