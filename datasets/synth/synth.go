// Package synth is poselab's embedded default data set: a synthetic,
// Human3.6M-like set of people whose poses come from real motion capture
// (CMU clips retargeted to per-subject bone lengths), seen by the four real
// Human3.6M cameras, plus an MPII-like 2D portion. Labels are generated in
// milliseconds; images are rendered on demand, directly into the requested
// crop, deterministically from the seed and the sample index.
//
// Determinism: every sample draws from its own PCG stream (seed, split,
// index), nothing iterates a map or depends on goroutine order, and no
// routine that picks its code by CPU feature (math.Exp's FMA path) is on
// the way, so one build gives the same bytes on every machine. Builds that
// let the compiler fuse multiply-adds (GOAMD64=v3, arm64) round some
// results differently and therefore give different bytes.
package synth

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"poselab/datasets"
	"poselab/pose"
)

// Size names a preset size of the data set.
type Size string

// Preset sizes: tiny for CPU tests and tiny presets, small about a tenth of
// the seed, seed the sizes of the seed report.
const (
	Tiny  Size = "tiny"
	Small Size = "small"
	Seed  Size = "seed"
)

// Counts are the number of samples per split (H36M-like counts are
// multiples of 4: four synchronised views of every frame).
type Counts struct {
	Train, Val, Test   int // H36M-like
	MPIITrain, MPIIVal int // MPII-like
}

var sizeCounts = map[Size]Counts{
	Tiny:  {Train: 2048, Val: 512, Test: 512, MPIITrain: 1024, MPIIVal: 256},
	Small: {Train: 4096, Val: 816, Test: 864, MPIITrain: 2224, MPIIVal: 296},
	Seed:  {Train: 40896, Val: 8140, Test: 8608, MPIITrain: 22246, MPIIVal: 2958},
}

// SizeCounts returns the split sizes of a preset.
func SizeCounts(s Size) (Counts, error) {
	c, ok := sizeCounts[s]
	if !ok {
		return Counts{}, fmt.Errorf("synth: unknown size %q (want tiny, small or seed)", s)
	}
	return c, nil
}

// Dataset is the synthetic data set. It implements datasets.Dataset and is
// safe for concurrent use.
type Dataset struct {
	size   Size
	seed   uint64
	counts Counts
	clips  []*clip
	pools  [][]framePool
	bodies map[string]*body // per subject; read-only after New
	rooms  map[string]*room // per subject's capture session

	mu    sync.Mutex
	h36m  map[datasets.Split]*h36mSplit
	mpiis map[datasets.Split]*mpiiSplit
}

var _ datasets.Dataset = (*Dataset)(nil)

// New builds the data set description (clips, subjects, rooms); records are
// generated on first use of each split.
func New(size Size, seed uint64) (*Dataset, error) {
	counts, err := SizeCounts(size)
	if err != nil {
		return nil, err
	}
	clips, err := loadClips()
	if err != nil {
		return nil, err
	}
	pools, err := buildPools(clips)
	if err != nil {
		return nil, err
	}
	d := &Dataset{
		size: size, seed: seed, counts: counts, clips: clips, pools: pools,
		bodies: map[string]*body{}, rooms: map[string]*room{},
		h36m: map[datasets.Split]*h36mSplit{}, mpiis: map[datasets.Split]*mpiiSplit{},
	}
	all := append(append(append([]string{}, trainSubjects...), valSubjects...), testSubjects...)
	for i, s := range all {
		r := d.rng(streamSubject, 0, uint64(i))
		b := newBody(r)
		d.bodies[s] = &b
		rm := newLabRoom(r)
		d.rooms[s] = &rm
	}
	return d, nil
}

// Name identifies the data set, its size and seed.
func (d *Dataset) Name() string { return fmt.Sprintf("synth-%s-seed%d", d.size, d.seed) }

// Counts returns the split sizes.
func (d *Dataset) Counts() Counts { return d.counts }

// SubjectBones returns the bone lengths (mm, bone ending at each joint) of
// a subject, the same in all its frames.
func (d *Dataset) SubjectBones(subject string) ([pose.NumJoints]float64, bool) {
	b, ok := d.bodies[subject]
	if !ok {
		return [pose.NumJoints]float64{}, false
	}
	return b.bones, true
}

// Random streams: every sample draws from its own PCG stream, keyed by
// what it is for, its split and its index, so samples do not depend on
// each other, on generation order or on goroutines.
const (
	streamSubject = iota + 1
	streamH36M
	streamMPII
	streamRender
)

func splitID(s datasets.Split) uint64 {
	switch s {
	case datasets.Train:
		return 1
	case datasets.Val:
		return 2
	case datasets.Test:
		return 3
	}
	return 0
}

// mix is SplitMix64's finaliser: a well spread 64-bit hash.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (d *Dataset) streamKey(kind, split, index uint64) uint64 {
	return mix(mix(mix(d.seed)^kind) ^ split<<32 ^ index)
}

func (d *Dataset) rng(kind, split, index uint64) *rand.Rand {
	k := d.streamKey(kind, split, index)
	return rand.New(rand.NewPCG(k, mix(k)))
}
