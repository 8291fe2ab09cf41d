package engine

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"poselab/datasets"
)

// StagesFunc turns a pipeline into the chain of runs it trains. base holds
// what the user chose (data, device, seed, runs' names); each returned
// Spec sets at least Model and Preset (the engine fills preset defaults).
//
// Stages refer to each other by position: a stage's After and From entries
// may be "@0", "@1", ... (an earlier stage of the same pipeline); the engine
// replaces them with real run IDs when it submits the chain. A stage with
// After="@k" starts when stage k finishes and fails if stage k fails.
type StagesFunc func(preset string, base Spec) []Spec

// CombineFunc builds a pipeline's final predictions of one split from the
// outputs of its stages (in stage order) when it is more than its last
// stage's outputs, e.g. E: x,y from SH and z from SB. recs are the split's
// records (cameras, root depth) for back-projection.
type CombineFunc func(split datasets.Split, stages []RunOutputs, recs []datasets.Record) ([]Prediction, error)

// Pipeline is a registered pipeline.
type Pipeline struct {
	Name    string
	Stages  StagesFunc
	Combine CombineFunc // nil: the last stage's outputs are the pipeline's
}

var (
	pipesMu sync.RWMutex
	pipes   = map[string]*Pipeline{}
)

// RegisterPipeline adds a pipeline ("C".."G"); call it from an init
// function (engine/pipeline_c.go, ...).
func RegisterPipeline(name string, stages StagesFunc) {
	pipesMu.Lock()
	defer pipesMu.Unlock()
	if _, dup := pipes[name]; dup {
		panic("engine: duplicate pipeline " + name)
	}
	pipes[name] = &Pipeline{Name: name, Stages: stages}
}

// RegisterCombine attaches a combine step to a registered pipeline. The
// results table (results.go) applies it to the stages' outputs of the
// pipeline's latest finished chain.
func RegisterCombine(name string, c CombineFunc) {
	pipesMu.Lock()
	defer pipesMu.Unlock()
	p, ok := pipes[name]
	if !ok {
		panic("engine: RegisterCombine before RegisterPipeline " + name)
	}
	p.Combine = c
}

// LookupPipeline returns a registered pipeline.
func LookupPipeline(name string) (*Pipeline, error) {
	pipesMu.RLock()
	defer pipesMu.RUnlock()
	p, ok := pipes[name]
	if !ok {
		var names []string
		for n := range pipes {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("unknown pipeline %q (known: %s)", name, strings.Join(names, ", "))
	}
	return p, nil
}

// resolveStageRef maps "@k" to ids[k]; other strings are run IDs already.
func resolveStageRef(ref string, ids []string) (string, error) {
	if !strings.HasPrefix(ref, "@") {
		return ref, nil
	}
	k, err := strconv.Atoi(ref[1:])
	if err != nil || k < 0 || k >= len(ids) {
		return "", fmt.Errorf("pipeline: stage reference %q names no earlier stage", ref)
	}
	return ids[k], nil
}

func init() {
	// C: ground-truth 2D -> Simple Baseline (x, y, z).
	RegisterPipeline("C", func(preset string, base Spec) []Spec {
		s := base
		s.Model, s.Preset, s.Pipeline = "sb", preset, "C:sb"
		return []Spec{s}
	})
}
