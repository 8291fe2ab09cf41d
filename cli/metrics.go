package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"poselab/datasets/mpii"
	"poselab/datasets/predfile"
	"poselab/pose"
)

func init() {
	Register(&Command{
		Name:    "metrics",
		Summary: "score a prediction file against ground truth (MPJPE, P-MPJPE, PCK, AUC; --2d: PCKh)",
		Run:     runMetrics,
	})
}

const metricsSynopsis = `metrics --pred P --gt G [--json] [--2d]

Scores predictions against ground truth.

3D (default): P and G are pose files in the same format family
(.csv submission layout Id,Hip_x,...,RWrist_z; .json list of
{"id","joints"}; .npz with pred [N,17,3] and ids [N]), coordinates in mm,
Human3.6M joint order; rows are matched by Id. Reports MPJPE, P-MPJPE,
N-MPJPE and per-joint MPJPE (mm), 3DPCK@150 mm and AUC (0..150 mm).

2D (--2d): G is an MPII annotation JSON (image, joints [16][2],
joints_vis, center, scale, and headbox [[x1,y1],[x2,y2]] where it has
them); P is a JSON list of {"image","joints" [16][2]} in the same order,
in the annotations' pixel coordinates (MPII's are 1-based, MATLAB's):
what 'poselab export' writes for a Stacked Hourglass run.
Reports PCKh@0.5 (%): the threshold is half of 0.6 x the head box's
diagonal, or, for a person without one (ETH's and mmpose's files have
none), half the upper neck to head top segment, as training validates.

Text shows 3DPCK, AUC and PCKh in percent; --json prints exactly one
JSON object on stdout, with them as fractions (0..1).`

func runMetrics(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("metrics", metricsSynopsis, stderr)
	predPath := fs.String("pred", "", "prediction file (.csv, .json or .npz; --2d: .json)")
	gtPath := fs.String("gt", "", "ground-truth file (same formats; --2d: MPII annotation JSON)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	twoD := fs.Bool("2d", false, "score 2D predictions the MPII way (PCKh@0.5)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *predPath == "" || *gtPath == "" {
		return Usagef("both --pred and --gt are required (see --help)")
	}
	if *twoD {
		return metrics2D(*predPath, *gtPath, *asJSON, stdout)
	}
	return metrics3D(*predPath, *gtPath, *asJSON, stdout)
}

// Metrics3DJSON is the --json output of the 3D scorer.
type Metrics3DJSON struct {
	N          int       `json:"n"`
	MPJPE      float64   `json:"mpjpe_mm"`
	PMPJPE     float64   `json:"p_mpjpe_mm"`
	NMPJPE     float64   `json:"n_mpjpe_mm"`
	PCK150     float64   `json:"pck150"`
	AUC        float64   `json:"auc"`
	PerJointMM []float64 `json:"per_joint_mm"`
}

func metrics3D(predPath, gtPath string, asJSON bool, stdout io.Writer) error {
	pred, err := predfile.Read(predPath)
	if err != nil {
		return UsageError{err}
	}
	gt, err := predfile.Read(gtPath)
	if err != nil {
		return UsageError{err}
	}
	pp, gp, err := matchByID(pred, gt, predPath, gtPath)
	if err != nil {
		return UsageError{err}
	}
	if len(gp) == 0 {
		return Usagef("%s: no samples to score", gtPath)
	}
	r := pose.Evaluate(pp, gp, nil)
	if asJSON {
		out := Metrics3DJSON{N: r.N, MPJPE: r.MPJPE, PMPJPE: r.PMPJPE, NMPJPE: r.NMPJPE,
			PCK150: r.PCK150, AUC: r.AUC, PerJointMM: r.PerJoint[:]}
		return writeJSON(stdout, out)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d samples (%s vs %s)\n\n", r.N, predPath, gtPath)
	fmt.Fprintf(&b, "  MPJPE       %8.2f mm\n", r.MPJPE)
	fmt.Fprintf(&b, "  P-MPJPE     %8.2f mm\n", r.PMPJPE)
	fmt.Fprintf(&b, "  N-MPJPE     %8.2f mm\n", r.NMPJPE)
	fmt.Fprintf(&b, "  3DPCK@150   %8.1f %%\n", 100*r.PCK150)
	fmt.Fprintf(&b, "  AUC         %8.1f %%\n\n", 100*r.AUC)
	fmt.Fprintf(&b, "  %-10s %9s\n", "joint", "MPJPE mm")
	for j, e := range r.PerJoint {
		fmt.Fprintf(&b, "  %-10s %9.2f\n", pose.JointNames[j], e)
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// matchByID pairs predictions with ground truth by Id, in ground-truth
// order; a missing or extra Id is an error naming file and row.
func matchByID(pred, gt []predfile.Row, predPath, gtPath string) ([]pose.Pose3D, []pose.Pose3D, error) {
	idx := predfile.ByID(pred)
	pp := make([]pose.Pose3D, len(gt))
	gp := make([]pose.Pose3D, len(gt))
	inGT := make(map[int]bool, len(gt))
	for i, g := range gt {
		k, ok := idx[g.ID]
		if !ok {
			return nil, nil, fmt.Errorf("%s: no prediction for Id %d (ground truth %s, %s)", predPath, g.ID, gtPath, rowLabel(gtPath, i))
		}
		pp[i], gp[i] = pred[k].Joints, g.Joints
		inGT[g.ID] = true
	}
	for i, p := range pred {
		if !inGT[p.ID] {
			return nil, nil, fmt.Errorf("%s: %s: Id %d is not in the ground truth %s", predPath, rowLabel(predPath, i), p.ID, gtPath)
		}
	}
	return pp, gp, nil
}

// rowLabel names sample i of a prediction file the way its reader's errors
// do: the line number in a CSV (header = row 1), the 0-based entry
// otherwise.
func rowLabel(path string, i int) string {
	if f, _ := predfile.FormatOf(path); f == predfile.CSV {
		return fmt.Sprintf("row %d", i+2)
	}
	return fmt.Sprintf("entry %d", i)
}

// Metrics2DJSON is the --json output of the 2D (PCKh) scorer; PCKh is a
// fraction (0..1) like the 3D scorer's pck150 and auc.
type Metrics2DJSON struct {
	N              int        `json:"n"`
	PCKh50         float64    `json:"pckh50"`
	PerJointPCKh50 []*float64 `json:"per_joint_pckh50"` // null where no joint was visible
	HeadSegment    int        `json:"head_segment"`     // people without a head box, scaled by their head segment
	Unscored       int        `json:"unscored"`         // people with neither, left out
}

func metrics2D(predPath, gtPath string, asJSON bool, stdout io.Writer) error {
	gt, err := mpii.Load(gtPath)
	if err != nil {
		return UsageError{err}
	}
	pred, err := mpii.LoadPredictions(predPath)
	if err != nil {
		return UsageError{err}
	}
	if len(pred) != len(gt) {
		return Usagef("%s: %d predictions, but %s has %d people (same order expected)", predPath, len(pred), gtPath, len(gt))
	}
	// ETH's and mmpose's MPII files have no head boxes: as in training's
	// validation, PCKh then takes the head segment (upper neck to head
	// top, docs/metrics.md). It refused such files, the README's own
	// valid.json among them.
	var pj [][pose.NumMPIIJoints]pose.Vec2
	var persons []pose.MPIIPerson
	bySegment, unscored := 0, 0
	for i, p := range pred {
		if p.Image != gt[i].Image {
			return Usagef("%s: entry %d is image %q, but %s person %d is %q (same order expected)", predPath, i, p.Image, gtPath, i, gt[i].Image)
		}
		for j, xy := range p.Joints {
			if math.IsNaN(xy[0]) || math.IsNaN(xy[1]) || math.IsInf(xy[0], 0) || math.IsInf(xy[1], 0) {
				return Usagef("%s: entry %d joint %d is not finite", predPath, i, j)
			}
		}
		g, ok := mpii.ScoredPerson(&gt[i])
		if !ok {
			unscored++
			continue
		}
		if !mpii.HasHeadBox(gt[i]) {
			bySegment++
		}
		pj, persons = append(pj, p.Joints), append(persons, g)
	}
	if len(gt) == 0 {
		return Usagef("%s: no people to score", gtPath)
	}
	if len(persons) == 0 {
		return Usagef("%s: no person has a head box, or a visible upper neck and head top, to scale PCKh by", gtPath)
	}
	r := pose.PCKh(pj, persons, 0.5)
	if math.IsNaN(r.Summary) { // the table printed "NaN %" with exit 0
		return Usagef("%s: no visible joints to score", gtPath)
	}
	if asJSON {
		out := Metrics2DJSON{N: r.N, PCKh50: r.Summary, HeadSegment: bySegment, Unscored: unscored}
		for j := range r.PerJoint {
			if math.IsNaN(r.PerJoint[j]) {
				out.PerJointPCKh50 = append(out.PerJointPCKh50, nil)
				continue
			}
			v := r.PerJoint[j]
			out.PerJointPCKh50 = append(out.PerJointPCKh50, &v)
		}
		return writeJSON(stdout, out)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d people (%s vs %s)\n", r.N, predPath, gtPath)
	if bySegment > 0 {
		fmt.Fprintf(&b, "  %d without a head box: PCKh scaled by the head segment (upper neck to head top)\n", bySegment)
	}
	if unscored > 0 {
		fmt.Fprintf(&b, "  %d left out: no head box and no visible upper neck and head top\n", unscored)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  PCKh@0.5    %6.2f %% (visible joints, pelvis and thorax excluded)\n\n", 100*r.Summary)
	fmt.Fprintf(&b, "  %-11s %8s %8s\n", "joint", "PCKh %", "visible")
	for j, v := range r.PerJoint {
		if math.IsNaN(v) { // no visible instance of the joint (null in --json)
			fmt.Fprintf(&b, "  %-11s %8s %8d\n", pose.MPIIJointNames[j], "-", r.Visible[j])
			continue
		}
		fmt.Fprintf(&b, "  %-11s %8.2f %8d\n", pose.MPIIJointNames[j], 100*v, r.Visible[j])
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
