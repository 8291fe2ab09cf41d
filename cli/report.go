package cli

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"poselab/datasets"
	"poselab/engine"
	"poselab/pose"
)

// `poselab report`: the results table of the seed report (Table 1) for
// the runs of a runs directory: every pipeline's most recent finished
// chain, scored on a labelled split, side by side.

func init() {
	Register(&Command{Name: "report", Summary: "results table of pipelines A..G (MPJPE, P-MPJPE, 3DPCK, AUC, per joint)", Run: runReport})
}

// seedTable is the seed report's Table 1 (Human3.6M test set, MPJPE mm),
// printed next to our numbers for orientation.
var seedTable = map[string]struct {
	method string
	mpjpe  float64
}{
	"A": {"Baseline (x, y, z)", 149.81},
	"B": {"Baseline with data augmentation (x, y, z)", 132.02},
	"C": {"GT -> SB (x, y, z)", 71.68},
	"D": {"SH -> SB (x, y, z)", 72.54},
	"E": {"SH (x, y) -> SB (z)", 64.02},
	"F": {"IR (x, y, z)", 63.26},
	"G": {"IR (x, y) + SH -> SB (z)", 60.82},
}

// reportRow is one row of `--format json`.
type reportRow struct {
	Pipeline string    `json:"pipeline"`
	Method   string    `json:"method"`
	N        int       `json:"samples"`
	MPJPE    float64   `json:"mpjpe_mm"`
	PMPJPE   float64   `json:"p_mpjpe_mm"`
	NMPJPE   float64   `json:"n_mpjpe_mm"`
	PCK150   float64   `json:"pck150"`
	AUC      float64   `json:"auc"`
	PerJoint []float64 `json:"per_joint_mm"`
	Runs     []string  `json:"runs"`
	SeedMM   float64   `json:"seed_mpjpe_mm"`
}

type reportJSON struct {
	Split   string            `json:"split"`
	RunsDir string            `json:"runs_dir"`
	Rows    []reportRow       `json:"rows"`
	Missing map[string]string `json:"missing,omitempty"` // pipeline -> why it has no row
}

func runReport(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("report", "report [--split val] [--format md|csv|json] [--runs-dir DIR] [--pipelines A,B,...] [--export-dir DIR]", stderr)
	split := fs.String("split", "val", "labelled split to score (train or val)")
	format := fs.String("format", "md", "output format: md, csv or json")
	runsDir := runsDirFlag(fs)
	only := fs.String("pipelines", "", "comma-separated pipelines to report (default: all registered)")
	exportDir := fs.String("export-dir", "", "also write each row's predictions (<P>-<split>.csv/.json/.npz) and the ground truth (gt-<split>.*; gt-<split>-<P>.* for a row scored on other data) there")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	sp, err := engine.ParseSplit(*split)
	if err != nil {
		return UsageError{err}
	}
	if sp == datasets.Test && *exportDir == "" {
		return Usagef("the test split has no labels to score: add --export-dir DIR to write its predictions (the submission files)")
	}
	formatSet := false
	fs.Visit(func(f *flag.Flag) { formatSet = formatSet || f.Name == "format" })
	if sp == datasets.Test && formatSet {
		// There is no table to format: it listed the files as text whatever --format said.
		return Usagef("--format formats the results table; --split test has none (it writes csv, json and npz files to --export-dir)")
	}
	switch *format {
	case "md", "csv", "json":
	default:
		return Usagef("unknown format %q (md, csv, json)", *format)
	}
	if st, err := os.Stat(*runsDir); err != nil || !st.IsDir() {
		return Usagef("runs directory %q does not exist", *runsDir)
	}
	names := engine.PipelineNames()
	if *only != "" {
		names = nil
		for _, n := range strings.Split(*only, ",") {
			n = strings.TrimSpace(n)
			if _, err := engine.LookupPipeline(n); err != nil {
				return UsageError{err}
			}
			names = append(names, n)
		}
	}
	e, err := engine.Open(engine.Options{RunsDir: *runsDir})
	if err != nil {
		return err
	}
	defer e.Close()
	if sp == datasets.Test {
		return exportTest(e, *exportDir, names, stdout, stderr)
	}
	out := reportJSON{Split: string(sp), RunsDir: *runsDir, Missing: map[string]string{}}
	var results []engine.PipelineResult
	unscorable := false // a finished chain that could not be scored
	for _, n := range names {
		res, err := e.PipelineResult(n, sp)
		if err != nil {
			unscorable = unscorable || !errors.Is(err, engine.ErrNoFinishedRuns)
			why := strings.TrimPrefix(err.Error(), "pipeline "+n+": ")
			out.Missing[n] = why
			if *format == "csv" {
				// md lists it under its table and json under "missing":
				// on a terminal it was said twice.
				fmt.Fprintf(stderr, "pipeline %s: no row: %s\n", n, why)
			}
			continue
		}
		results = append(results, res)
		out.Rows = append(out.Rows, rowOf(res))
	}
	if len(out.Rows) == 0 {
		if *format != "csv" { // csv said them above
			// No table to list them under: without this md and json
			// hid why (a finished chain whose outputs are gone read as
			// "run: poselab pipeline run A").
			for _, n := range names {
				if why, ok := out.Missing[n]; ok {
					fmt.Fprintf(stderr, "pipeline %s: no row: %s\n", n, why)
				}
			}
		}
		if unscorable {
			// A finished chain that cannot be scored (its data folder
			// moved, its outputs gone): the line below denied it was
			// there and said to run a pipeline.
			return fmt.Errorf("no pipeline's finished chain in %s could be scored (why above)", *runsDir)
		}
		return fmt.Errorf("no pipeline has a finished chain of runs in %s (run: poselab pipeline run A --preset tiny)", *runsDir)
	}
	if *exportDir != "" {
		if err := exportRows(*exportDir, sp, results, stderr); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "predictions and ground truth written to %s\n", *exportDir)
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "csv":
		return writeReportCSV(stdout, out.Rows)
	}
	writeReportMD(stdout, out)
	return nil
}

func rowOf(r engine.PipelineResult) reportRow {
	s := seedTable[r.Pipeline]
	return reportRow{Pipeline: r.Pipeline, Method: s.method, N: r.Report.N, MPJPE: r.Report.MPJPE, PMPJPE: r.Report.PMPJPE,
		NMPJPE: r.Report.NMPJPE, PCK150: r.Report.PCK150, AUC: r.Report.AUC,
		PerJoint: append([]float64(nil), r.Report.PerJoint[:]...), Runs: r.Runs, SeedMM: s.mpjpe}
}

func seedCell(x float64) string {
	if x == 0 || math.IsNaN(x) {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

func writeReportMD(w io.Writer, r reportJSON) {
	fmt.Fprintf(w, "Results on the %s split (%s); the seed's numbers are its Human3.6M test set.\n\n", r.Split, r.RunsDir)
	fmt.Fprintln(w, "| Pipeline | Method | N | MPJPE (mm) | P-MPJPE (mm) | 3DPCK@150 | AUC | seed MPJPE (mm) | runs |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---|")
	for _, x := range r.Rows {
		fmt.Fprintf(w, "| %s | %s | %d | %.2f | %.2f | %s | %s | %s | %s |\n", x.Pipeline, x.Method, x.N, x.MPJPE, x.PMPJPE,
			pct(x.PCK150), pct(x.AUC), seedCell(x.SeedMM), strings.Join(x.Runs, ", "))
	}
	fmt.Fprintln(w, "\nPer-joint MPJPE (mm):")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| Pipeline | %s |\n", strings.Join(pose.JointNames[:], " | "))
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("---:|", pose.NumJoints))
	for _, x := range r.Rows {
		cells := make([]string, len(x.PerJoint))
		for j, v := range x.PerJoint {
			cells[j] = fmt.Sprintf("%.1f", v)
		}
		fmt.Fprintf(w, "| %s | %s |\n", x.Pipeline, strings.Join(cells, " | "))
	}
	if len(r.Missing) > 0 {
		fmt.Fprintln(w)
		for _, n := range engine.PipelineNames() {
			if why, ok := r.Missing[n]; ok {
				fmt.Fprintf(w, "- %s: no row (%s)\n", n, why)
			}
		}
	}
}

func writeReportCSV(w io.Writer, rows []reportRow) error {
	cw := csv.NewWriter(w)
	head := []string{"pipeline", "method", "samples", "mpjpe_mm", "p_mpjpe_mm", "pck150", "auc"}
	for _, n := range pose.JointNames {
		head = append(head, n+"_mm")
	}
	head = append(head, "seed_mpjpe_mm", "runs")
	cw.Write(head)
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
	for _, x := range rows {
		rec := []string{x.Pipeline, x.Method, strconv.Itoa(x.N), f(x.MPJPE), f(x.PMPJPE), f(x.PCK150), f(x.AUC)}
		for _, v := range x.PerJoint {
			rec = append(rec, f(v))
		}
		rec = append(rec, f(x.SeedMM), strings.Join(x.Runs, " "))
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// exportRows writes every row's predictions and the split's ground truth
// in all three prediction formats. Rows may come from chains trained on
// different data (another preset's synthetic size, another folder): the
// first row's ground truth is gt-<split>.*, and a row whose records differ
// from it gets its own, gt-<split>-<P>.*, so that every export scores
// against the labels its row was scored on.
func exportRows(dir string, sp datasets.Split, results []engine.PipelineResult, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export directory: %w", err)
	}
	gtName := make([]string, len(results))
	first := datasets.Digest(results[0].Records)
	for i, r := range results {
		gtName[i] = "gt-" + string(sp)
		if i > 0 && datasets.Digest(r.Records) != first {
			gtName[i] += "-" + r.Pipeline
			fmt.Fprintf(stderr, "pipeline %s was scored on other data than %s: its ground truth is %s.*\n", r.Pipeline, results[0].Pipeline, gtName[i])
		}
	}
	var errs []error
	for _, ext := range []string{"csv", "json", "npz"} {
		for i, r := range results {
			errs = append(errs, engine.ExportPredictions(filepath.Join(dir, fmt.Sprintf("%s-%s.%s", r.Pipeline, sp, ext)), r.Preds))
			if i == 0 || gtName[i] != gtName[0] {
				errs = append(errs, engine.ExportGroundTruth(filepath.Join(dir, gtName[i]+"."+ext), r.Records))
			}
		}
	}
	return errors.Join(errs...)
}

// exportTest writes every pipeline's test predictions (the submission
// files) without scoring them: the test split has no labels.
func exportTest(e *engine.Engine, dir string, names []string, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export directory: %w", err)
	}
	wrote := 0
	for _, n := range names {
		preds, chain, _, err := e.PipelinePredictions(n, datasets.Test)
		if err != nil {
			// The engine's error names the pipeline already.
			fmt.Fprintf(stderr, "pipeline %s: not exported: %s\n", n, strings.TrimPrefix(err.Error(), "pipeline "+n+": "))
			continue
		}
		for _, ext := range []string{"csv", "json", "npz"} {
			path := filepath.Join(dir, fmt.Sprintf("%s-test.%s", n, ext))
			if err := engine.ExportPredictions(path, preds); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\t%d samples\t%s\t(run %s)\n", n, len(preds), path, chain[len(chain)-1].Spec.ID)
		}
		wrote++
	}
	if wrote == 0 {
		return fmt.Errorf("no pipeline could predict the test split")
	}
	return nil
}
