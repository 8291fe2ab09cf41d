// Package cpu is poselab's CPU backend: it compiles an nn.Graph into
// gorgonia expression graphs (one for training, one for evaluation, sharing
// the parameters) whose layers are this package's own Ops, and trains them
// with a fused Adam. Matrix products go to OpenBLAS when the system has it
// (loaded without cgo), else to gonum.
package cpu

import (
	"fmt"
	"runtime"

	_ "go4.org/unsafe/assume-no-moving-gc" // gorgonia refuses to start without it
	"gorgonia.org/tensor"
	"poselab/internal/procmem"
	"poselab/nn"
)

// Backend compiles graphs for the CPU in one float type.
type Backend struct {
	dt tensor.Dtype
}

// New returns the float32 CPU backend (the one training uses).
func New() nn.Backend { return &Backend{dt: tensor.Float32} }

// NewWithDType returns a CPU backend computing in float64 or float32;
// float64 is for gradient checks against finite differences.
func NewWithDType(dt tensor.Dtype) nn.Backend {
	if dt != tensor.Float64 {
		dt = tensor.Float32
	}
	return &Backend{dt: dt}
}

// Name is "cpu".
func (b *Backend) Name() string { return "cpu" }

// Device names the cores and the BLAS in use, e.g. "CPU (2 cores, OpenBLAS)".
func (b *Backend) Device() string {
	setupBLAS()
	return fmt.Sprintf("CPU (%d cores, %s)", runtime.NumCPU(), blasName)
}

// Details is the device report of `poselab devices`.
func (b *Backend) Details() string {
	setupBLAS()
	s := fmt.Sprintf("%d cores (GOMAXPROCS %d), float32; matrix products: %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), blasName)
	if blasName != "OpenBLAS" {
		s += " (install libopenblas for about 5x faster training)"
	}
	// A CPU run's memory is the machine's: its resource line shows the
	// process's RSS of this total.
	if total, avail := procmem.RAM(); total > 0 {
		s += fmt.Sprintf("\nmemory: %s RAM, %s available", gib(total), gib(avail))
	}
	return s
}

func gib(n int64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }

// Compile builds the training and evaluation graphs of g for batches of
// opt.Batch samples, with weights initialised by nn.InitState(g, opt.Seed).
func (b *Backend) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	return compile(g, opt, b.dt, nil)
}
