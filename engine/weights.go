package engine

import (
	"fmt"
	"path/filepath"
	"strings"

	"poselab/internal/atomicfile"
	"poselab/internal/npzfile"
	"poselab/models"
	"poselab/nn"
)

// WeightsInfo describes a weights export.
type WeightsInfo struct {
	From    CkptRef // the checkpoint the weights came from
	Tensors int
	Values  int
	// TorchNames: the keys are the PyTorch peer's state_dict() keys
	// (models.TorchName); false for kinds the peer lacks (the image
	// baseline), whose keys are poselab's own parameter names.
	TorchNames bool
	// Peer is the scripts/peer.py constructor whose load_state_dict takes
	// the file; empty when the peer cannot build this configuration, and
	// NoPeer says why.
	Peer, NoPeer string
	// Card is the JSON written next to the weights (WeightsCard).
	Card string
}

// weightNets rebuild a run's network from its spec alone (no data): the
// graph whose parameter names and shapes the run's checkpoints hold (the
// export checks them against it), and the peer.py constructor of the same
// configuration (nil: the peer has no such model). They resolve presets
// as the tasks' New functions do; a divergence fails Checkpoint.Matches.
var weightNets = map[string]func(Spec) (*nn.Graph, func() (string, error), error){
	"sb": func(s Spec) (*nn.Graph, func() (string, error), error) {
		cfg, ok := sbNets[s.Preset]
		if !ok {
			return nil, nil, fmt.Errorf("sb: unknown preset %q", s.Preset)
		}
		return models.SB(cfg), cfg.PeerCall, nil
	},
	"sh": func(s Spec) (*nn.Graph, func() (string, error), error) {
		cfg, err := shConfig(s.Preset)
		if err != nil {
			return nil, nil, err
		}
		g, err := models.BuildSH(cfg)
		return g, cfg.PeerCall, err
	},
	"ir": func(s Spec) (*nn.Graph, func() (string, error), error) {
		cfg, err := models.IRPreset(s.Preset)
		if err != nil {
			return nil, nil, err
		}
		g, err := models.IR(cfg)
		return g, cfg.PeerCall, err
	},
	"baseline": func(s Spec) (*nn.Graph, func() (string, error), error) {
		cfg, err := models.BaselinePreset(s.Preset)
		if err != nil {
			return nil, nil, err
		}
		g, err := models.Baseline(cfg, nn.L1) // the loss has no parameters
		return g, nil, err
	},
}

// noPeerBaseline is why the image baseline keeps poselab's names.
const noPeerBaseline = `scripts/peer.py has no image baseline: the keys are poselab's own names ` +
	`(torchvision's ResNet names under "backbone.", the head "fc")`

// ExportWeights writes the network of a run's best checkpoint (its last
// when it has no best yet) to path as an .npz of float32 arrays keyed as
// the PyTorch peer's state_dict() (see EncodeWeights), and its card beside
// it (WeightsCard). The two are written together (atomicfile.WriteAll): on
// any error the existing files are left as they were.
func (e *Engine) ExportWeights(id, path string) (WeightsInfo, error) {
	var wi WeightsInfo
	if strings.ToLower(filepath.Ext(path)) != ".npz" {
		return wi, fmt.Errorf("weights file %s: want a .npz file", path)
	}
	info, ok := e.Run(id)
	if !ok {
		return wi, fmt.Errorf("no run %q", id)
	}
	spec := info.Spec
	build, ok := weightNets[spec.Model]
	if !ok {
		return wi, fmt.Errorf("run %s: model %q has no weights export", id, spec.Model)
	}
	ckpt, c, err := e.loadBestCkpt(id)
	if err != nil {
		return wi, err
	}
	g, peer, err := build(spec)
	if err != nil {
		return wi, fmt.Errorf("run %s: %w", id, err)
	}
	if err := c.Matches(spec.Model, configHash(spec), g); err != nil {
		return wi, fmt.Errorf("%s: %w", ckpt, err)
	}
	b, n, vals, err := EncodeWeights(spec.Model, g, c.State)
	if err != nil {
		return wi, fmt.Errorf("run %s: %w", id, err)
	}
	wi = WeightsInfo{From: ckptRef(ckpt, c), Tensors: n, Values: vals, TorchNames: models.HasTorchPeer(spec.Model)}
	switch {
	case peer == nil:
		wi.NoPeer = noPeerBaseline
	default:
		if wi.Peer, err = peer(); err != nil {
			wi.NoPeer = err.Error()
		}
	}
	card, err := newWeightsCard(id, spec, wi, c)
	if err != nil {
		return WeightsInfo{}, fmt.Errorf("run %s: %w", id, err)
	}
	cb, err := encodeCard(card)
	if err != nil {
		return WeightsInfo{}, err
	}
	wi.Card = WeightsCardPath(path)
	if err := atomicfile.WriteAll([]string{path, wi.Card}, [][]byte{b, cb}); err != nil {
		return WeightsInfo{}, err
	}
	return wi, nil
}

// EncodeWeights encodes the parameters and BatchNorm running statistics of
// g from s as an .npz, in graph order. For model kinds the PyTorch peer
// defines (sb, sh, ir) the keys are its state_dict() keys
// (models.TorchName); other kinds keep poselab's names. BatchNorm's
// num_batches_tracked buffers are left out: load_state_dict(strict=True)
// fills a missing one with 0 when the dict carries no version metadata,
// as a dict built from np.load does (checked with torch 1.13 by the cli
// tests), and with momentum 0.1 PyTorch never reads it.
func EncodeWeights(model string, g *nn.Graph, s *nn.State) (data []byte, tensors, values int, err error) {
	torch := models.HasTorchPeer(model)
	arrays := make([]npzfile.Array, 0, len(g.Params))
	for _, p := range g.Params {
		t := s.Params[p.Name]
		if p.Buffer {
			t = s.Buffers[p.Name]
		}
		if t == nil {
			return nil, 0, 0, fmt.Errorf("state lacks %s", p.Name)
		}
		if !nn.SameShape(t.Shape, p.Shape) {
			return nil, 0, 0, fmt.Errorf("%s has shape %v, the model %v", p.Name, t.Shape, p.Shape)
		}
		name := p.Name
		if torch {
			if name, err = models.TorchName(model, p.Name); err != nil {
				return nil, 0, 0, err
			}
		}
		arrays = append(arrays, npzfile.Array{Name: name, Shape: t.Shape, Data: t.Data})
		values += len(t.Data)
	}
	data, err = npzfile.NPZ(arrays)
	return data, len(arrays), values, err
}
