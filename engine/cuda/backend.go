// Package cuda is poselab's NVIDIA GPU backend: it compiles an nn.Graph
// into device buffers, cuBLAS matrix products, cuDNN convolutions and
// NVRTC-compiled kernels, and replays each training step as one CUDA
// graph. The libraries are loaded at run time (package cu), so the binary
// needs no cgo and runs everywhere; without a GPU New returns an error.
package cuda

import (
	"fmt"
	"strconv"
	"strings"

	"poselab/nn"
)

type backend struct{ d *device }

// New opens the first GPU. Without the NVIDIA driver, a GPU or one of the
// CUDA libraries it returns an error that names what is missing and where
// it was looked for.
func New() (nn.Backend, error) {
	d, err := getDevice()
	if err != nil {
		return nil, err
	}
	return &backend{d: d}, nil
}

func (b *backend) Name() string   { return "cuda" }
func (b *backend) Device() string { return b.d.name }

// Utilization is the GPU's utilisation in percent (NVML), for resource events.
func (b *backend) Utilization() (float64, error) { return Utilization() }

// Versions describes the GPU and the library versions in use.
func Versions(be nn.Backend) string {
	if b, ok := be.(*backend); ok {
		return b.d.versions()
	}
	return ""
}

// Details is the device report of `poselab devices`: the GPU, the
// libraries, which kernels run, whether TF32 is available and the memory
// free now.
func (b *backend) Details() string {
	d := b.d
	var free, total uint64
	d.do(func() error { d.drv.MemGetInfo(&free, &total); return nil })
	kernels := "multi-block BatchNorm and soft-argmax kernels"
	if d.multiblockErr != nil {
		kernels = fmt.Sprintf("one-block-per-channel BatchNorm and soft-argmax kernels (the multi-block ones did not compile: %v)", d.multiblockErr)
	}
	tf32 := "TF32 available (--tf32; off by default)"
	if !hasTF32(d.arch) {
		tf32 = "no TF32 (needs sm_80 or newer)"
	}
	return fmt.Sprintf("%s\n%s; %s\nmemory %.1f GiB free of %.1f GiB", d.versions(), kernels, tf32,
		float64(free)/(1<<30), float64(total)/(1<<30))
}

// hasTF32 reports whether a device of arch ("sm_90", "sm_100") has TF32
// tensor cores (compute capability 8.0 or newer). The number is compared,
// not the string: "sm_100" sorts before "sm_80".
func hasTF32(arch string) bool {
	cc, err := strconv.Atoi(strings.TrimPrefix(arch, "sm_"))
	return err == nil && cc >= 80
}

// Compile lays out the graph's buffers for opt.Batch samples, chooses the
// convolution algorithms and loads nn.InitState(g, opt.Seed).
func (b *backend) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	var p *program
	err := b.d.do(func() error {
		var err error
		p, err = b.compile(g, opt)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &handle{p: p}, nil
}

// handle is the nn.Program the engine sees: every method runs on the GPU
// goroutine, except Stage, which hands the copy to the program's copy
// worker and so runs alongside a training step.
type handle struct{ p *program }

var _ nn.Stager = (*handle)(nil)

// Stage copies b to the GPU in the background, for a later TrainStep(b)
// (see stage.go). POSELAB_CUDA_STAGE=0 turns it off; so does a failure to
// set it up (Info says why), and then TrainStep uploads as before.
func (h *handle) Stage(b nn.Batch) {
	p := h.p
	st := p.stg.Load()
	if st == nil {
		if !p.stageOn.Load() {
			return
		}
		// The first Stage makes the worker and the slots on the GPU
		// goroutine (it waits for a step that runs).
		err := p.d.do(func() error {
			if p.closed || p.stg.Load() != nil || !p.stageOn.Load() {
				return nil
			}
			st, err := newStager(p)
			if err != nil {
				return err
			}
			p.stg.Store(st)
			if u := p.usedBytes(); u > p.peak {
				p.peak = u
			}
			return nil
		})
		if err != nil { // not retried: Info tells why
			p.stageOn.Store(false)
			p.d.do(func() error { p.stageErr = err; return nil })
		}
		if st = p.stg.Load(); st == nil {
			return
		}
	}
	st.stage(b)
}

func (h *handle) TrainStep(b nn.Batch, step int, lr float64) (loss float64, err error) {
	err = h.p.d.do(func() error {
		loss, err = h.p.trainStep(b, step, lr)
		return err
	})
	return
}

func (h *handle) Gradients(b nn.Batch, step int) (loss float64, grads map[string]*nn.Tensor, err error) {
	err = h.p.d.do(func() error {
		loss, grads, err = h.p.gradients(b, step)
		return err
	})
	return
}

func (h *handle) Predict(b nn.Batch) (out map[string]*nn.Tensor, err error) {
	err = h.p.d.do(func() error {
		out, err = h.p.predict(b)
		return err
	})
	return
}

func (h *handle) Loss(b nn.Batch) (loss float64, err error) {
	err = h.p.d.do(func() error {
		loss, err = h.p.evalLoss(b)
		return err
	})
	return
}

func (h *handle) State() (s *nn.State, err error) {
	err = h.p.d.do(func() error {
		if h.p.closed {
			return fmt.Errorf("cuda: program is closed")
		}
		s, err = h.p.state()
		return err
	})
	return
}

func (h *handle) SetState(s *nn.State) error {
	return h.p.d.do(func() error {
		if h.p.closed {
			return fmt.Errorf("cuda: program is closed")
		}
		return h.p.setState(s)
	})
}

func (h *handle) Memory() (m nn.MemoryStats) {
	h.p.d.do(func() error {
		if !h.p.closed {
			m = h.p.memory()
		}
		return nil
	})
	return
}

func (h *handle) Close() error {
	return h.p.d.do(func() error {
		if h.p.closed {
			return nil
		}
		h.p.closed = true
		err := h.p.d.sync()
		h.p.release()
		return err
	})
}

// Info reports how a program runs: its summary (see Describe) and the
// convolution algorithms chosen, a line each.
func Info(pr nn.Program) string {
	h, ok := pr.(*handle)
	if !ok {
		return ""
	}
	var sb strings.Builder
	h.p.d.do(func() error {
		sb.WriteString(h.p.summary())
		for _, l := range h.p.compileLog {
			sb.WriteString(l + "\n")
		}
		return nil
	})
	return sb.String()
}

// Describe is the run log's line on how the program runs: graph or eager
// steps, input staging, BatchNorm kernels, memory layout (nn.Describer).
func (h *handle) Describe() string {
	var s string
	h.p.d.do(func() error { s = h.p.summary(); return nil })
	return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ")
}

// summary is Info's first lines (on the GPU goroutine).
func (p *program) summary() string {
	var sb strings.Builder
	switch {
	case p.graphExec != 0:
		sb.WriteString("training step: CUDA graph\n")
	case p.graphErr != nil:
		fmt.Fprintf(&sb, "training step: eager (graph capture failed: %v)\n", p.graphErr)
	default:
		sb.WriteString("training step: eager\n")
	}
	switch st := p.stg.Load(); {
	case st != nil:
		sb.WriteString(st.status() + "\n")
	case p.stageErr != nil:
		fmt.Fprintf(&sb, "input staging: off (%v)\n", p.stageErr)
	case !p.stageOn.Load():
		sb.WriteString("input staging: off\n")
	default:
		sb.WriteString("input staging: on, from the first staged batch\n")
	}
	switch {
	case p.d.multiblockErr != nil:
		fmt.Fprintf(&sb, "BatchNorm and soft-argmax: one block per channel or volume (the multi-block kernels did not compile: %v)\n", p.d.multiblockErr)
	case p.bnLegacy:
		sb.WriteString("BatchNorm and soft-argmax: one block per channel or volume (POSELAB_CUDA_BN=legacy)\n")
	default:
		sb.WriteString("BatchNorm and soft-argmax: multi-block\n")
	}
	fmt.Fprintf(&sb, "memory: %s reuse, arena %.2f GiB\n", p.pl.Reuse, float64(p.pl.Total)/(1<<30))
	fmt.Fprintf(&sb, "fused: %d BatchNorm+ReLU, %d Add+ReLU, %d convolution biases into their BatchNorm or Add\n",
		len(p.pl.FusedReLU), len(p.pl.AddReLU), len(p.pl.BiasInto))
	if p.wsNote != "" {
		sb.WriteString(p.wsNote + "\n")
	}
	return sb.String()
}
