package engine

import (
	"fmt"
	"math"
	"strings"

	"poselab/models"
	"poselab/nn"
)

// The matching rules of Spec.Init, in one place.
//
// A source names its tensors in one of three ways, all of which poselab
// users meet: poselab's own parameter names (a run's checkpoint, the
// image baseline's weights export), the PyTorch peer's state_dict() keys
// (`poselab export --weights`, or a peer.py model trained in PyTorch;
// models.TorchName), and torchvision's ResNet keys for the models with a
// ResNet backbone (ImageNet weights: poselab names that backbone
// "backbone." + torchvision's name). The scheme that names the most of
// the model's tensors is used for all of them, never a mix: torchvision's
// classifier is called fc, and so is the image baseline's head, which a
// key-by-key lookup would try to fill with a 1000-way classifier.
//
// Under that scheme every parameter and BatchNorm running statistic whose
// key the source holds is loaded; its shape must be the model's (an
// error otherwise: a silently skipped layer would train from scratch
// unnoticed). What the source lacks keeps its fresh init (a new head on a
// pretrained backbone); what the model does not use is ignored and
// counted (torchvision's fc, BatchNorm's num_batches_tracked counters).
// Only weights and statistics come over: Adam's moments, the schedule,
// the step and the task's own state (SB's normalisation statistics) start
// fresh, as this is an initialisation, not a resume.
type initScheme struct {
	name string
	key  func(model, name string) (string, bool)
}

var initSchemes = []initScheme{
	{"poselab", func(_, name string) (string, bool) { return name, true }},
	{"pytorch peer", func(model, name string) (string, bool) {
		if !models.HasTorchPeer(model) {
			return "", false
		}
		k, err := models.TorchName(model, name)
		return k, err == nil
	}},
	{"torchvision", func(_, name string) (string, bool) {
		k, ok := strings.CutPrefix(name, "backbone.")
		return k, ok
	}},
}

// InitLogPrefix starts the log line that says what Spec.Init loaded.
const InitLogPrefix = "init from "

// initResult is a matched source: the tensors to load by poselab name,
// and what the log line says.
type initResult struct {
	scheme                string
	tensors               map[string]*nn.Tensor
	loaded, kept, ignored []string // poselab names; poselab names; source keys
}

// matchInit matches src against graph g of model kind model and converts
// the matched tensors.
func matchInit(model string, g *nn.Graph, src *initSource) (*initResult, error) {
	best, bestN := initSchemes[0], -1
	for _, sc := range initSchemes {
		n := 0
		for _, p := range g.Params {
			if k, ok := sc.key(model, p.Name); ok {
				if _, has := src.tensors[k]; has {
					n++
				}
			}
		}
		if n > bestN {
			best, bestN = sc, n
		}
	}
	if bestN == 0 {
		return nil, fmt.Errorf("init %s matches none of model %s's %d tensors; its keys look like %s, the model's like %s",
			src.label, model, len(g.Params), someKeys(src.keys, 4), someKeys(modelKeys(model, g), 4))
	}
	res := &initResult{scheme: best.name, tensors: map[string]*nn.Tensor{}}
	used := map[string]bool{}
	for _, p := range g.Params {
		k, ok := best.key(model, p.Name)
		st, has := src.tensors[k]
		if !ok || !has {
			res.kept = append(res.kept, p.Name)
			continue
		}
		used[k] = true
		what := p.Name
		if k != p.Name {
			what = fmt.Sprintf("%s (%s in the source)", p.Name, k)
		}
		if !nn.SameShape(st.shape, p.Shape) {
			return nil, fmt.Errorf("init %s: %s has shape %v in the source, the model %v", src.label, what, st.shape, p.Shape)
		}
		vals, err := st.values()
		if err != nil {
			return nil, fmt.Errorf("init %s: %s: %w", src.label, what, err)
		}
		if len(vals) != nn.Numel(p.Shape) {
			return nil, fmt.Errorf("init %s: %s holds %d values for shape %v", src.label, what, len(vals), p.Shape)
		}
		for _, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("init %s: %s holds NaN or infinite values", src.label, what)
			}
		}
		t := nn.NewTensor(p.Shape...)
		copy(t.Data, vals)
		res.tensors[p.Name] = t
		res.loaded = append(res.loaded, p.Name)
	}
	for _, k := range src.keys {
		if !used[k] {
			res.ignored = append(res.ignored, k)
		}
	}
	return res, nil
}

// apply puts the loaded tensors into a freshly initialised state.
func (r *initResult) apply(g *nn.Graph, st *nn.State) {
	for _, p := range g.Params {
		t, ok := r.tensors[p.Name]
		if !ok {
			continue
		}
		if p.Buffer {
			st.Buffers[p.Name] = t
		} else {
			st.Params[p.Name] = t
		}
	}
}

// summary is the log line: "init from SRC: 102 tensors loaded
// (backbone.*), 8 kept their init (deconv.*, final.*), 22 ignored
// (fc.weight, fc.bias, 20 num_batches_tracked)".
func (r *initResult) summary(label string) string {
	part := func(n int, what string, names []string) string {
		if n == 0 {
			return fmt.Sprintf("0 %s", what)
		}
		return fmt.Sprintf("%d %s (%s)", n, what, groupNames(names))
	}
	scheme := ""
	if r.scheme != "poselab" {
		scheme = " (" + r.scheme + " keys)"
	}
	return fmt.Sprintf("%s%s%s: %s, %s, %s", InitLogPrefix, label, scheme,
		part(len(r.loaded), "tensors loaded", r.loaded), part(len(r.kept), "kept their init", r.kept),
		part(len(r.ignored), "ignored", r.ignored))
}

// groupNames keeps a list of tensor names short: up to three are named,
// more are grouped by their first component ("backbone.*"), a group of
// one named in full; BatchNorm's counters are counted apart.
func groupNames(names []string) string {
	var rest []string
	counters := 0
	for _, n := range names {
		if n == "num_batches_tracked" || strings.HasSuffix(n, ".num_batches_tracked") {
			counters++
		} else {
			rest = append(rest, n)
		}
	}
	var parts []string
	if len(rest) <= 3 {
		parts = rest
	} else {
		var order []string
		groups := map[string][]string{}
		for _, n := range rest {
			head, _, _ := strings.Cut(n, ".")
			if groups[head] == nil {
				order = append(order, head)
			}
			groups[head] = append(groups[head], n)
		}
		for _, h := range order {
			if len(groups[h]) == 1 {
				parts = append(parts, groups[h][0])
			} else {
				parts = append(parts, h+".*")
			}
		}
		if len(parts) > 6 {
			parts = append(parts[:6], fmt.Sprintf("%d more groups", len(parts)-6))
		}
	}
	if counters > 0 {
		parts = append(parts, fmt.Sprintf("%d num_batches_tracked", counters))
	}
	return strings.Join(parts, ", ")
}

// modelKeys are the model's names under its kind's export keys.
func modelKeys(model string, g *nn.Graph) []string {
	out := make([]string, 0, len(g.Params))
	for _, p := range g.Params {
		name := p.Name
		if models.HasTorchPeer(model) {
			if k, err := models.TorchName(model, p.Name); err == nil {
				name = k
			}
		}
		out = append(out, name)
	}
	return out
}

// someKeys names the first n of keys ("a, b, c, ... (40 in all)").
func someKeys(keys []string, n int) string {
	if len(keys) == 0 {
		return "(none: no tensors)"
	}
	if len(keys) <= n {
		return strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s, ... (%d in all)", strings.Join(keys[:n], ", "), len(keys))
}
