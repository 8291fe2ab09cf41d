package engine

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"poselab/checkpoints"
	"poselab/models"
	"poselab/pose"
)

// WeightsCard is the JSON written next to a weights export (FILE.json for
// FILE.npz): where the arrays came from and how poselab feeds the network
// and reads its output, with the task's own numbers (SB's input and output
// normalisation, the image baseline's target normalisation), so that the
// network can be used outside poselab.
type WeightsCard struct {
	Format     string   `json:"format"` // "poselab-weights/1"
	Run        string   `json:"run"`
	Model      string   `json:"model"`
	Preset     string   `json:"preset"`
	Checkpoint string   `json:"checkpoint"`
	Step       int      `json:"step"`
	Keys       string   `json:"keys"` // "pytorch-peer": peer.py's state_dict() keys; "poselab": poselab's names
	Peer       string   `json:"peer,omitempty"`
	NoPeer     string   `json:"no_peer,omitempty"`
	Joints     []string `json:"joints"` // the output's joint order
	Input      string   `json:"input"`
	Output     string   `json:"output"`
	// Config holds the numbers Input and Output refer to (crop size,
	// depth bins and range).
	Config    map[string]float64   `json:"config,omitempty"`
	TaskState map[string][]float32 `json:"task_state,omitempty"`
}

// WeightsCardPath is the card's path for a weights file (FILE.json for
// FILE.npz).
func WeightsCardPath(weights string) string {
	return strings.TrimSuffix(weights, filepath.Ext(weights)) + ".json"
}

// imageNetInput is how the IR and baseline tasks normalise a crop.
const imageNetInput = `[N, 3, S, S] RGB crop of S = config.input px around the person: each channel's 0..255 value / 255, ` +
	`minus the ImageNet mean (0.485, 0.456, 0.406), divided by the ImageNet std (0.229, 0.224, 0.225)`

// newWeightsCard describes the export of run id's checkpoint c.
func newWeightsCard(id string, spec Spec, wi WeightsInfo, c *checkpoints.Checkpoint) (*WeightsCard, error) {
	card := &WeightsCard{Format: "poselab-weights/1", Run: id, Model: spec.Model, Preset: spec.Preset,
		Checkpoint: wi.From.Path, Step: wi.From.Step, Keys: "poselab", Peer: wi.Peer, NoPeer: wi.NoPeer,
		Joints: pose.JointNames[:], Config: map[string]float64{}, TaskState: map[string][]float32{}}
	if wi.TorchNames {
		card.Keys = "pytorch-peer"
	}
	for k, v := range c.Task {
		card.TaskState[k] = v.Data
	}
	switch spec.Model {
	case "sb":
		card.Input = "[N, 34]: the 17 joints' 2D positions in image pixels (x then y per joint, in joints order), " +
			"minus task_state.in_mean, divided by task_state.in_std"
		card.Output = "[N, 51]: times task_state.out_std plus task_state.out_mean gives the 17 joints' 3D positions " +
			"(x, y, z per joint) in mm, camera space; poselab then subtracts the Hip's from every joint (root-relative)"
	case "sh":
		cfg, err := shConfig(spec.Preset)
		if err != nil {
			return nil, err
		}
		card.Config["input"], card.Config["heatmap"] = float64(cfg.Input), float64(cfg.HeatmapSize())
		card.Joints = card.Joints[:cfg.Joints]
		card.Input = "[N, 3, S, S] RGB crop of S = config.input px around the person: each channel's 0..255 value / 255, minus 0.5"
		card.Output = "one heatmap tensor per stack, [N, J, H, H] with H = config.heatmap (crop px / 4); the last stack's is " +
			"the prediction. poselab averages it with the last stack's heatmaps of the horizontally mirrored crop (crop x -> S - x), mirrored " +
			"back with left and right joints swapped (the flip test: column i takes the mirrored map's column H - i, not " +
			"H - 1 - i as numpy's flip would give; column 0 keeps its own value), then puts a joint at its heatmap's maximum, shifted " +
			"a quarter pixel towards the higher neighbour in x and in y, times 4 for crop pixels"
	case "ir":
		cfg, err := models.IRPreset(spec.Preset)
		if err != nil {
			return nil, err
		}
		card.Config["input"], card.Config["depth_bins"], card.Config["depth_range_mm"] = float64(cfg.Input), float64(cfg.Depth), cfg.DepthRangeMM
		card.Joints = card.Joints[:cfg.Joints]
		card.Input = imageNetInput
		card.Output = "[N, J, 3] expected voxel coordinates: x, y in heatmap px (crop px / 4), z in depth bins; depth " +
			"in mm = (z + 0.5) / config.depth_bins * 2 * config.depth_range_mm - config.depth_range_mm, from which " +
			"poselab subtracts the Hip's depth, then lifts x, y with the camera and the root's true depth"
	case "baseline":
		cfg, err := models.BaselinePreset(spec.Preset)
		if err != nil {
			return nil, err
		}
		card.Config["input"] = float64(cfg.Input)
		card.Input = imageNetInput
		card.Output = "[N, 51]: times task_state.std plus task_state.mean gives the 17 joints' 3D positions (x, y, z per " +
			"joint) in mm, camera space; poselab then subtracts the Hip's from every joint (root-relative)"
	default:
		return nil, fmt.Errorf("model %q has no weights card", spec.Model)
	}
	if len(card.Config) == 0 {
		card.Config = nil
	}
	if len(card.TaskState) == 0 {
		card.TaskState = nil
	}
	return card, nil
}

// encodeCard is the card as indented JSON.
func encodeCard(card *WeightsCard) ([]byte, error) {
	b, err := json.MarshalIndent(card, "", "  ")
	return append(b, '\n'), err
}
