package cpu

import (
	"fmt"
	"runtime"

	"gorgonia.org/tensor"
	"poselab/internal/procmem"
	"poselab/nn"
)

// program is a compiled model. Parameters, BatchNorm buffers and Adam
// moments live here once, as tensors of the program's float type; both
// gorgonia graphs read the parameters and buffers in place.
type program struct {
	g     *nn.Graph
	opt   nn.Options
	dt    tensor.Dtype
	names []string // trainable parameters in graph order

	params, buffers map[string]*tensor.Dense
	adamM, adamV    map[string]*tensor.Dense
	adamStep        int
	bn              map[int]*bnShared // by nn node id
	bnUpdate        bool

	train, eval *exprGraph
	peak        int64
	closed      bool

	// override replaces float64 inputs by exact values (gradient tests
	// perturb inputs by less than float32 can hold).
	override map[string][]float64
}

func compile(g *nn.Graph, opt nn.Options, dt tensor.Dtype, wrtInputs []string) (*program, error) {
	setupBLAS()
	if g == nil || len(g.Nodes) == 0 {
		return nil, fmt.Errorf("cpu: empty graph")
	}
	if opt.Batch < 1 {
		return nil, fmt.Errorf("cpu: batch size %d, want at least 1", opt.Batch)
	}
	if opt.Adam == (nn.Adam{}) {
		opt.Adam = nn.DefaultAdam
	}
	p := &program{g: g, opt: opt, dt: dt,
		params: map[string]*tensor.Dense{}, buffers: map[string]*tensor.Dense{},
		adamM: map[string]*tensor.Dense{}, adamV: map[string]*tensor.Dense{}, bn: map[int]*bnShared{}}
	for _, ps := range g.Params {
		t := tensor.New(tensor.Of(dt), tensor.WithShape(ps.Shape...))
		if ps.Buffer {
			p.buffers[ps.Name] = t
			continue
		}
		p.names = append(p.names, ps.Name)
		p.params[ps.Name] = t
		p.adamM[ps.Name] = tensor.New(tensor.Of(dt), tensor.WithShape(ps.Shape...))
		p.adamV[ps.Name] = tensor.New(tensor.Of(dt), tensor.WithShape(ps.Shape...))
	}
	for _, n := range g.Nodes {
		if n.Op != nn.OpBatchNorm {
			continue
		}
		m, v := p.buffers[n.Name+".running_mean"], p.buffers[n.Name+".running_var"]
		if m == nil || v == nil {
			return nil, fmt.Errorf("cpu: BatchNorm %q has no running statistics", n.Name)
		}
		eps, mom := n.Eps, n.Mom
		if eps == 0 {
			eps = 1e-5
		}
		p.bn[n.ID] = &bnShared{mean: m, vari: v, eps: eps, mom: mom, update: &p.bnUpdate}
	}
	if err := p.SetState(nn.InitState(g, opt.Seed)); err != nil {
		return nil, err
	}
	var err error
	if p.train, err = p.build(true, wrtInputs); err != nil {
		return nil, err
	}
	if p.eval, err = p.build(false, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// load copies the named batch tensors into a graph's inputs, checking
// their shapes.
func (p *program) load(eg *exprGraph, b nn.Batch, names []string) error {
	for _, name := range names {
		dst := eg.inputs[name]
		t, ok := b[name]
		if !ok || t == nil {
			return fmt.Errorf("cpu: batch has no input %q", name)
		}
		if err := t.Check(); err != nil {
			return fmt.Errorf("cpu: input %q: %v", name, err)
		}
		if !nn.SameShape(t.Shape, dst.Shape()) {
			return fmt.Errorf("cpu: input %q has shape %v, want %v", name, t.Shape, []int(dst.Shape()))
		}
		if ov, ok := p.override[name]; ok {
			copy(sl[float64](dst), ov)
			continue
		}
		switch d := dst.Data().(type) {
		case []float32:
			copy(d, t.Data)
		case []float64:
			for i, v := range t.Data {
				d[i] = float64(v)
			}
		}
	}
	return nil
}

func (p *program) allInputs() []string {
	names := make([]string, 0, len(p.g.Inputs))
	for _, n := range p.g.Nodes {
		if n.Op == nn.OpInput {
			names = append(names, n.Name)
		}
	}
	return names
}

// fillMasks draws every dropout mask of a step from nn.DropoutKeep.
func (p *program) fillMasks(step int) {
	for _, m := range p.train.masks {
		if m.step == step {
			continue
		}
		scale := 1 / (1 - m.p)
		switch d := m.val.Data().(type) {
		case []float32:
			fillMask(d, p.opt.Seed, step, m.node, m.p, float32(scale))
		case []float64:
			fillMask(d, p.opt.Seed, step, m.node, m.p, scale)
		}
		m.step = step
	}
}

// forwardBackward runs the training graph on a batch.
func (p *program) forwardBackward(b nn.Batch, step int, updateStats bool) (float64, error) {
	if p.closed {
		return 0, fmt.Errorf("cpu: program is closed")
	}
	if p.train.cost == nil {
		return 0, fmt.Errorf("cpu: the graph has no loss to train")
	}
	if step < 0 {
		return 0, fmt.Errorf("cpu: negative step %d", step)
	}
	if err := p.load(p.train, b, p.allInputs()); err != nil {
		return 0, err
	}
	p.fillMasks(step)
	p.bnUpdate = updateStats
	defer p.train.vm.Reset()
	if err := p.train.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("cpu: training step: %w", err)
	}
	return scalar(p.train.cost.Value()), nil
}

// TrainStep runs forward, backward and one Adam step.
func (p *program) TrainStep(b nn.Batch, step int, lr float64) (float64, error) {
	loss, err := p.forwardBackward(b, step, true)
	if err != nil {
		return 0, err
	}
	p.adamStep++
	for i, name := range p.names {
		if p.train.grads[i] == nil {
			continue // the loss does not depend on it
		}
		w, g := p.params[name], p.train.grads[i].Value()
		n := w.Shape().TotalSize()
		switch w.Dtype() {
		case tensor.Float32:
			wd, g, m, v := sl[float32](w), sl[float32](g), sl[float32](p.adamM[name]), sl[float32](p.adamV[name])
			parallelFor(n, 4, func(lo, hi int) {
				adamUpdate(wd[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], p.opt.Adam, lr, p.adamStep)
			})
		case tensor.Float64:
			wd, g, m, v := sl[float64](w), sl[float64](g), sl[float64](p.adamM[name]), sl[float64](p.adamV[name])
			parallelFor(n, 4, func(lo, hi int) {
				adamUpdate(wd[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], p.opt.Adam, lr, p.adamStep)
			})
		}
	}
	return loss, nil
}

// Gradients runs forward and backward in training mode and leaves
// parameters, buffers and Adam untouched.
func (p *program) Gradients(b nn.Batch, step int) (float64, map[string]*nn.Tensor, error) {
	loss, err := p.forwardBackward(b, step, false)
	if err != nil {
		return 0, nil, err
	}
	grads := make(map[string]*nn.Tensor, len(p.names))
	for i, name := range p.names {
		if p.train.grads[i] == nil {
			grads[name] = nn.NewTensor(p.params[name].Shape()...)
			continue
		}
		grads[name] = toNN(p.train.grads[i].Value().(*tensor.Dense))
	}
	return loss, grads, nil
}

// evalRun runs the evaluation graph on the named inputs.
func (p *program) evalRun(b nn.Batch, names []string) error {
	if p.closed {
		return fmt.Errorf("cpu: program is closed")
	}
	if err := p.load(p.eval, b, names); err != nil {
		return err
	}
	if err := p.eval.vm.RunAll(); err != nil {
		return fmt.Errorf("cpu: evaluation: %w", err)
	}
	return nil
}

// Predict runs the evaluation graph and returns its outputs.
func (p *program) Predict(b nn.Batch) (map[string]*nn.Tensor, error) {
	defer p.eval.vm.Reset()
	if err := p.evalRun(b, p.g.DataInputs()); err != nil {
		return nil, err
	}
	out := make(map[string]*nn.Tensor, len(p.eval.outputs))
	for name, n := range p.eval.outputs {
		out[name] = toNN(n.Value().(*tensor.Dense))
	}
	return out, nil
}

// Loss is the objective in evaluation mode.
func (p *program) Loss(b nn.Batch) (float64, error) {
	if p.eval.cost == nil {
		return 0, fmt.Errorf("cpu: the graph has no loss")
	}
	defer p.eval.vm.Reset()
	if err := p.evalRun(b, p.allInputs()); err != nil {
		return 0, err
	}
	return scalar(p.eval.cost.Value()), nil
}

// toNN copies a tensor into a float32 nn.Tensor.
func toNN(t *tensor.Dense) *nn.Tensor {
	r := nn.NewTensor(t.Shape()...)
	switch d := t.Data().(type) {
	case []float32:
		copy(r.Data, d)
	case []float64:
		for i, v := range d {
			r.Data[i] = float32(v)
		}
	}
	return r
}

// checkNN reports whether src can be loaded into t: present, the right
// shape, finite values.
func checkNN(t *tensor.Dense, src *nn.Tensor, what string) error {
	if src == nil {
		return fmt.Errorf("cpu: state has no %s", what)
	}
	if err := src.Check(); err != nil {
		return fmt.Errorf("cpu: state %s: %v", what, err)
	}
	if !nn.SameShape(src.Shape, t.Shape()) {
		return fmt.Errorf("cpu: state %s has shape %v, want %v", what, src.Shape, []int(t.Shape()))
	}
	for _, v := range src.Data {
		if v-v != 0 { // NaN or ±Inf
			return fmt.Errorf("cpu: state %s holds %v", what, v)
		}
	}
	return nil
}

// fromNN copies a checked nn.Tensor into t.
func fromNN(t *tensor.Dense, src *nn.Tensor) {
	switch d := t.Data().(type) {
	case []float32:
		copy(d, src.Data)
	case []float64:
		for i, v := range src.Data {
			d[i] = float64(v)
		}
	}
}

// State copies out parameters, buffers and Adam's moments.
func (p *program) State() (*nn.State, error) {
	s := &nn.State{Params: map[string]*nn.Tensor{}, Buffers: map[string]*nn.Tensor{},
		AdamM: map[string]*nn.Tensor{}, AdamV: map[string]*nn.Tensor{}, AdamStep: p.adamStep}
	for name, t := range p.params {
		s.Params[name] = toNN(t)
		s.AdamM[name] = toNN(p.adamM[name])
		s.AdamV[name] = toNN(p.adamV[name])
	}
	for name, t := range p.buffers {
		s.Buffers[name] = toNN(t)
	}
	return s, nil
}

// SetState loads a state; nothing changes unless all of it is valid.
func (p *program) SetState(s *nn.State) error {
	if s == nil {
		return fmt.Errorf("cpu: nil state")
	}
	if s.AdamStep < 0 {
		return fmt.Errorf("cpu: state has Adam step %d", s.AdamStep)
	}
	type job struct {
		dst  *tensor.Dense
		src  *nn.Tensor
		what string
	}
	var jobs []job
	for name, t := range p.params {
		jobs = append(jobs, job{t, s.Params[name], "parameter " + name},
			job{p.adamM[name], s.AdamM[name], "Adam m of " + name}, job{p.adamV[name], s.AdamV[name], "Adam v of " + name})
	}
	for name, t := range p.buffers {
		jobs = append(jobs, job{t, s.Buffers[name], "buffer " + name})
	}
	// Check everything first: a bad state changes nothing.
	for _, j := range jobs {
		if err := checkNN(j.dst, j.src, j.what); err != nil {
			return err
		}
	}
	for _, j := range jobs {
		fromNN(j.dst, j.src)
	}
	p.adamStep = s.AdamStep
	return nil
}

// Memory reports the process's resident memory of the machine's RAM (the
// CPU backend has no device memory). It was the Go heap in use of the
// runtime's reserve (Sys), which read as nearly full ("37 MiB / 78 MiB")
// on any machine. Where /proc is not there: the runtime's reserve, of an
// unknown total.
func (p *program) Memory() nn.MemoryStats {
	used := procmem.RSS()
	total, _ := procmem.RAM()
	if used == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		used = int64(ms.Sys)
	}
	if used > p.peak {
		p.peak = used
	}
	return nn.MemoryStats{Used: used, Peak: p.peak, Total: total, Host: true}
}

// Close releases the machines; the program is unusable afterwards.
func (p *program) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	p.train.vm.Close()
	p.eval.vm.Close()
	return nil
}
