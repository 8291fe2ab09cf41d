package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"poselab/datasets/predfile"
	"poselab/engine"
)

func init() {
	Register(&Command{Name: "export", Summary: "write a run's predictions (submission CSV, JSON or npz) or its weights for PyTorch", Run: runExport})
}

const exportSynopsis = `export --run ID [--split test] [--format csv|json|npz] [--out FILE] [--json]
       export --run ID --weights FILE.npz [--json]

Without --out the file goes where the workbench's export (e) puts it:
DIR/<run>/predictions_<split>.<format>, csv unless --format says.

Predicts a split with the run's best checkpoint (its last when it has no
best yet) and writes the 3D poses: mm, camera space, root-relative (the
root joint at 0), H36M joint order, Ids in split order. CSV is the
submission layout Id,Hip_x,Hip_y,Hip_z,...,RWrist_z. The command's line
names the checkpoint, its epoch and step (the files have no place for
it: JSON is a list of rows, npz the submission's arrays pred and ids).

A Stacked Hourglass (SH) run predicts 2D joints: it exports JSON only,
the layout metrics --2d scores (a list of {"image", "joints" [16][2]},
MPII joint order, pixels of the original image, 1-based as MPII's
files). FILE gets the split's MPII people, in their annotation file's
order (score it with metrics --2d --gt valid.json for val); the split's
Human3.6M records go to FILE_h36m.json beside it, or to FILE when the
split has no MPII people (test). Without --out: predictions_<split>.json.

--weights writes the network of that same checkpoint instead: an .npz of
float32 arrays (parameters and BatchNorm running statistics) keyed
exactly as the state_dict() of scripts/peer.py's model of the same
configuration (SB, SH, IR; the command prints the constructor), to load
with strict=True:

    import numpy as np, torch
    sd = {k: torch.from_numpy(v) for k, v in np.load(f).items()}
    model.load_state_dict(sd)

BatchNorm's num_batches_tracked counters are omitted: PyTorch fills them
in for a dict without version metadata, so strict loading still works
(checked with torch 1.13). Presets peer.py cannot build (its SH has a
64/128-channel stem, its IR is a width-64 torchvision ResNet with
256-channel deconvolutions) keep the peer's keys with this run's shapes,
and the command says so; the image
baseline, which peer.py lacks, keeps poselab's names (torchvision's
under "backbone.", the head "fc"). Pipelines are exported one run (stage)
at a time. Next to FILE.npz, FILE.json (the card) says how poselab feeds
the network and reads its output: the input's normalisation, the
output's units and joint order, and the task's own numbers (SB's input
and output mean/std, the baseline's target mean/std).`

func runExport(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("export", exportSynopsis, stderr)
	id := fs.String("run", "", "run ID")
	split := fs.String("split", "test", "split: train, val or test")
	format := fs.String("format", "", "csv, json or npz (default: from --out's extension)")
	out := fs.String("out", "", "output file (default: DIR/<run>/predictions_<split>.<format>, as the workbench's e)")
	weights := fs.String("weights", "", "write the network's weights to this .npz instead of predictions")
	asJSON := fs.Bool("json", false, "print one JSON object: what was written (run, split, format, path; SH: files; weights: path, card, checkpoint, step, tensors, values, peer)")
	runsDir := runsDirFlag(fs)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *weights != "" {
		if !strings.EqualFold(filepath.Ext(*weights), ".npz") {
			return Usagef("--weights %s: want a .npz file", *weights)
		}
		if *out != "" || *format != "" || splitGiven(fs) {
			return Usagef("--weights writes the network, --out (with --format, --split) predictions: one at a time")
		}
		if *id == "" {
			return Usagef("--run is required (see --help)")
		}
		return exportWeights(*runsDir, *id, *weights, stdout, *asJSON)
	}
	if *id == "" {
		return Usagef("--run is required (see --help)")
	}
	if _, err := engine.ParseSplit(*split); err != nil {
		return UsageError{err}
	}
	switch *format {
	case "", "csv", "json", "npz":
	default:
		return Usagef("--format must be csv, json or npz, got %q", *format)
	}
	e, err := openRun(*runsDir, *id)
	if err != nil {
		return err
	}
	defer e.Close()
	info, _ := e.Run(*id)
	twoD := engine.Exports2D(info.Spec.Model)
	if twoD && *format != "" && *format != "json" {
		return Usagef("--format %s: run %s predicts 2D joints (model %s), written as json (the MPII prediction layout metrics --2d reads)", *format, *id, info.Spec.Model)
	}
	if *out == "" {
		// As the workbench's export form left empty: into the run's
		// folder, predictions_<split>.<format> (csv unless --format says;
		// json for a 2D model, the only format it has).
		if *format == "" {
			*format = "csv"
			if twoD {
				*format = "json"
			}
		}
		*out = engine.ExportPath(filepath.Join(*runsDir, *id), *split, *format)
	}
	// The engine checks these too, but only after loading the run, and its
	// errors exit 1 like a failed prediction: they are input errors (2).
	if st, err := os.Stat(*out); err == nil && st.IsDir() {
		return Usagef("--out %s is a folder: want a .csv, .json or .npz file", *out)
	}
	ext, err := predfile.FormatOf(*out)
	if err != nil {
		return UsageError{err}
	}
	if *format != "" && string(ext) != *format {
		return Usagef("--format %s but --out %s ends in %q", *format, *out, filepath.Ext(*out))
	}
	if twoD && ext != predfile.JSON {
		return Usagef("--out %s: run %s predicts 2D joints (model %s), written as json (the MPII prediction layout metrics --2d reads)", *out, *id, info.Spec.Model)
	}
	xi, err := e.ExportPredictions(*id, *split, *format, *out)
	if err != nil {
		return exportError(err, e, *id, *split, splitGiven(fs))
	}
	from := xi.From
	if *asJSON {
		m := map[string]any{"run": *id, "split": *split, "format": string(ext), "path": *out,
			"checkpoint": from.Path, "epoch": from.Epoch, "step": from.Step}
		if twoD { // which file holds what: metrics --2d scores the MPII people's
			var files []map[string]any
			for _, f := range xi.Files {
				files = append(files, map[string]any{"path": f.Path, "what": f.What, "n": f.N})
			}
			m["files"] = files
		}
		b, _ := json.Marshal(m)
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	if twoD {
		for _, f := range xi.Files {
			fmt.Fprintf(stdout, "wrote %s: 2D predictions of %d %s (%s split of run %s, from %s)\n", f.Path, f.N, f.What, *split, *id, from.Label())
		}
		return nil
	}
	// Which checkpoint predicted: the best, not the newest of a run still
	// training (eval and --weights say so too).
	fmt.Fprintf(stdout, "wrote %s (%s split of run %s, from %s)\n", *out, *split, *id, from.Label())
	return nil
}

func exportWeights(runsDir, id, path string, stdout io.Writer, asJSON bool) error {
	e, err := openRun(runsDir, id)
	if err != nil {
		return err
	}
	defer e.Close()
	wi, err := e.ExportWeights(id, path)
	if err != nil {
		return err
	}
	if asJSON {
		b, _ := json.Marshal(map[string]any{"run": id, "path": path, "card": wi.Card, "checkpoint": wi.From.Path, "epoch": wi.From.Epoch, "step": wi.From.Step,
			"tensors": wi.Tensors, "values": wi.Values, "torch_names": wi.TorchNames, "peer": wi.Peer, "no_peer": wi.NoPeer})
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors, %d values of run %s (from %s)\n", path, wi.Tensors, wi.Values, id, wi.From.Label())
	fmt.Fprintf(stdout, "wrote %s: how to feed the network and read its output (normalisation, units, joint order)\n", wi.Card)
	if wi.Peer != "" {
		fmt.Fprintf(stdout, "PyTorch: load_state_dict into scripts/peer.py's %s\n", wi.Peer)
	} else {
		fmt.Fprintf(stdout, "note: %s\n", wi.NoPeer)
	}
	return nil
}

// splitGiven reports whether the command line set --split: export's
// default is test (the submission), the workbench's form's val.
func splitGiven(fs *flag.FlagSet) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "split" })
	return given
}

// exportError says what to do with a split the run has no inputs for. A
// first `poselab export --run RUN` of an SB run on ground-truth 2D (the
// README's first run, the demo's) asks for the default test split, whose
// 2D the data holds back: "no inputs for it" named neither why nor the
// way out.
func exportError(err error, e *engine.Engine, id, split string, splitGiven bool) error {
	if !errors.Is(err, engine.ErrNoInputs) {
		return err
	}
	r, _ := e.Run(id)
	var hints []string
	if split == "test" && r.Spec.Model == "sb" && len(r.Spec.From) == 0 {
		hints = append(hints, "an SB run reads ground-truth 2D, which the test split holds back; SB trained --from an SH run predicts it")
	}
	if !splitGiven {
		hints = append(hints, fmt.Sprintf("--split is %s unless given: --split val for the validation split", split))
	}
	if len(hints) == 0 {
		return err
	}
	return fmt.Errorf("%w: %s", err, strings.Join(hints, "; "))
}
