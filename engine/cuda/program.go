package cuda

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"poselab/engine/cuda/cu"
	"poselab/nn"
)

// ctrlBlock mirrors the kernels' struct Ctrl.
type ctrlBlock struct {
	Step uint64
	LR   float64
	T    float64
}

// program is a graph compiled for the GPU: one device arena laid out by the
// plan, cuDNN descriptors per convolution, pinned staging for inputs and,
// after the first TrainStep, the whole training step as a CUDA graph.
type program struct {
	d     *device
	g     *nn.Graph
	opt   nn.Options
	pl    *plan
	arena uint64
	ws    uint64
	wsLen uint64
	convs map[int]*convLayer

	stage    map[string]unsafe.Pointer // pinned host staging per input
	hostCtrl unsafe.Pointer            // pinned: ctrlBlock, then the loss (float64)

	// Background copies of the next training batch (stage.go): stageOn
	// is set at compile and cleared when the stager cannot be made
	// (stageErr says why); the stager is made on the first Stage call.
	// Stage reads both from other goroutines.
	stageOn  atomic.Bool
	stg      atomic.Pointer[stager]
	stageErr error

	adamStep   int
	useGraph   bool
	graphExec  uintptr
	graphErr   error
	closed     bool
	peak       int64
	compileLog []string
	wsNote     string             // how the convolution algorithms were chosen (pickAllAlgos)
	prof       map[string]float64 // seconds per op and direction, while profiling
	bnLegacy   bool               // POSELAB_CUDA_BN=legacy: one-block-per-channel BatchNorm and bias-gradient kernels
}

// profileStep runs one eager training step (no Adam) waiting for the GPU
// after every node, and returns seconds per op kind and direction.
func (p *program) profileStep(b nn.Batch) (map[string]float64, error) {
	if err := p.upload(b, p.allInputs()); err != nil {
		return nil, err
	}
	if err := p.setCtrl(0, 0, p.adamStep+1); err != nil {
		return nil, err
	}
	p.prof = map[string]float64{}
	defer func() { p.prof = nil }()
	if err := p.trainOps(false, false); err != nil {
		return nil, err
	}
	return p.prof, p.d.sync()
}

func (p *program) at(off int64) uint64 {
	if off < 0 {
		return 0
	}
	return p.arena + uint64(off)
}
func (p *program) y(id int) uint64  { return p.at(p.pl.Nodes[id].Y) }
func (p *program) dy(id int) uint64 { return p.at(p.pl.Nodes[id].DY) }
func (p *program) param(name string) uint64 {
	return p.arena + uint64(p.pl.Params) + uint64(p.pl.ParamOff[name])*4
}
func (p *program) grad(name string) uint64 {
	return p.arena + uint64(p.pl.Grads) + uint64(p.pl.ParamOff[name])*4
}
func (p *program) buffer(name string) uint64 {
	return p.arena + uint64(p.pl.Buffers) + uint64(p.pl.BufferOff[name])*4
}

func (p *program) usedBytes() int64 {
	u := p.pl.Total + int64(p.wsLen) + int64(p.d.blasWSBytes)
	if st := p.stg.Load(); st != nil {
		u += st.bytes
	}
	return u
}

func (p *program) release() {
	c := p.d.drv
	p.stageOn.Store(false) // Stage after Close: nothing to do
	if st := p.stg.Swap(nil); st != nil {
		st.close()
	}
	if p.graphExec != 0 {
		c.GraphExecDestroy(p.graphExec)
		p.graphExec = 0
	}
	for _, l := range p.convs {
		p.d.destroyConv(l)
	}
	p.convs = nil
	for _, h := range p.stage {
		c.MemFreeHost(h)
	}
	p.stage = nil
	if p.hostCtrl != nil {
		c.MemFreeHost(p.hostCtrl)
		p.hostCtrl = nil
	}
	if p.ws != 0 {
		c.MemFree(p.ws)
		p.ws = 0
	}
	if p.arena != 0 {
		c.MemFree(p.arena)
		p.arena = 0
	}
}

// upload copies the named batch inputs into their device buffers.
func (p *program) upload(b nn.Batch, names []string) error {
	c := p.d.drv
	for _, name := range names {
		id := p.g.Inputs[name]
		t, ok := b[name]
		if !ok || t == nil {
			return fmt.Errorf("cuda: batch has no input %q", name)
		}
		if err := t.Check(); err != nil {
			return fmt.Errorf("cuda: input %q: %v", name, err)
		}
		want := append([]int{p.pl.B}, p.g.Nodes[id].Shape...)
		if !nn.SameShape(t.Shape, want) {
			return fmt.Errorf("cuda: input %q has shape %v, want %v (the program is compiled for batch %d)", name, t.Shape, want, p.pl.B)
		}
		h := p.stage[name]
		parallelCopy(unsafe.Slice((*float32)(h), len(t.Data)), t.Data)
		if err := c.Check("upload "+name, c.MemcpyHtoDAsync(p.y(id), h, uint64(len(t.Data)*4), p.d.stream)); err != nil {
			return err
		}
	}
	return nil
}

// parallelCopy copies large inputs into pinned memory on all cores (a
// 256 px image batch is tens of MB: one core takes milliseconds).
func parallelCopy(dst, src []float32) {
	const chunk = 1 << 20
	if len(src) <= chunk {
		copy(dst, src)
		return
	}
	var wg sync.WaitGroup
	for lo := 0; lo < len(src); lo += chunk {
		hi := min(lo+chunk, len(src))
		wg.Add(1)
		go func() {
			defer wg.Done()
			copy(dst[lo:hi], src[lo:hi])
		}()
	}
	wg.Wait()
}

// setCtrl writes the step, lr and Adam t into the device control block.
func (p *program) setCtrl(step int, lr float64, t int) error {
	cb := (*ctrlBlock)(p.hostCtrl)
	*cb = ctrlBlock{Step: uint64(step), LR: lr, T: float64(t)}
	return p.d.drv.Check("upload control block", p.d.drv.MemcpyHtoDAsync(p.at(p.pl.Ctrl), p.hostCtrl, uint64(unsafe.Sizeof(*cb)), p.d.stream))
}

// readLoss copies the loss to the host, waits for the stream and returns it.
func (p *program) readLoss() (float64, error) {
	c := p.d.drv
	dst := unsafe.Add(p.hostCtrl, 32)
	if err := c.Check("download loss", c.MemcpyDtoHAsync(dst, p.at(p.pl.LossOut), 8, p.d.stream)); err != nil {
		return 0, err
	}
	if err := p.d.sync(); err != nil {
		return 0, err
	}
	return *(*float64)(dst), nil
}

func (p *program) allInputs() []string {
	var names []string
	for _, n := range p.g.Nodes {
		if n.Op == nn.OpInput {
			names = append(names, n.Name)
		}
	}
	return names
}

func (p *program) setMath() error {
	mode := int32(cu.BlasDefaultMath)
	if p.opt.TF32 {
		mode = cu.BlasTF32Math
	}
	return p.d.blas.Check("cublasSetMathMode", p.d.blas.SetMathMode(p.d.cublas, mode))
}

// trainOps queues one whole training step (forward, loss, backward, Adam).
func (p *program) trainOps(update, adam bool) error {
	if err := p.forward(true, update); err != nil {
		return err
	}
	if err := p.zeroGrads(); err != nil {
		return err
	}
	if err := p.losses(true); err != nil {
		return err
	}
	if err := p.backward(); err != nil {
		return err
	}
	if !adam {
		return nil
	}
	a := p.opt.Adam
	return p.d.launch("adam", p.d.gridFor(p.pl.ParamFloats), 256, p.at(p.pl.Params), p.at(p.pl.Grads), p.at(p.pl.AdamM), p.at(p.pl.AdamV),
		i64(p.pl.ParamFloats), p.at(p.pl.Ctrl), f64(a.Beta1), f64(a.Beta2), f64(a.Eps), f64(a.WeightDecay))
}

// zeroGrads clears the gradient buffers no contribution overwrites.
func (p *program) zeroGrads() error {
	c, pl := p.d.drv, p.pl
	if pl.ZeroAll {
		return c.Check("zero gradients", c.MemsetD32Async(p.at(pl.GradStart), 0, uint64((pl.GradEnd-pl.GradStart)/4), p.d.stream))
	}
	for _, id := range pl.ZeroDY {
		if err := c.Check("zero gradient", c.MemsetD32Async(p.dy(id), 0, uint64(pl.Nodes[id].N), p.d.stream)); err != nil {
			return err
		}
	}
	return nil
}

// captureStep records the training step as a CUDA graph; on failure the
// program keeps running the same operations eagerly.
func (p *program) captureStep() error {
	c, s := p.d.drv, p.d.stream
	if err := c.Check("cuStreamBeginCapture", c.StreamBeginCapture(s, cu.CaptureModeRelaxed)); err != nil {
		return err
	}
	opErr := p.trainOps(true, true)
	var graph uintptr
	endErr := c.Check("cuStreamEndCapture", c.StreamEndCapture(s, &graph))
	if opErr != nil {
		if graph != 0 {
			c.GraphDestroy(graph)
		}
		return opErr
	}
	if endErr != nil {
		return endErr
	}
	defer c.GraphDestroy(graph)
	return c.Check("cuGraphInstantiate", c.GraphInstantiate(&p.graphExec, graph, 0))
}

func (p *program) trainStep(b nn.Batch, step int, lr float64) (float64, error) {
	if err := p.ready(step); err != nil {
		return 0, err
	}
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return 0, fmt.Errorf("cuda: learning rate %v", lr)
	}
	if err := p.setMath(); err != nil {
		return 0, err
	}
	done, err := p.inputs(b)
	defer done()
	if err != nil {
		return 0, err
	}
	if err := p.setCtrl(step, lr, p.adamStep+1); err != nil {
		return 0, err
	}
	if p.useGraph && p.graphExec == 0 && p.graphErr == nil {
		// One eager forward and backward first (no Adam, no running
		// statistics: the state is unchanged) lets cuBLAS and cuDNN do their
		// lazy set-up outside the capture, where it could invalidate it.
		if err := p.trainOps(false, false); err != nil {
			return 0, err
		}
		if err := p.captureStep(); err != nil {
			p.graphErr = err
			p.graphExec = 0
			p.d.drv.StreamSynchronize(p.d.stream) // clear a broken capture's state
		}
	}
	if p.graphExec != 0 {
		if err := p.d.drv.Check("cuGraphLaunch", p.d.drv.GraphLaunch(p.graphExec, p.d.stream)); err != nil {
			return 0, err
		}
	} else if err := p.trainOps(true, true); err != nil {
		return 0, err
	}
	loss, err := p.readLoss()
	if err != nil {
		return 0, err
	}
	p.adamStep++
	return loss, nil
}

// inputs puts a training batch into the graph's input buffers: from a
// staging slot when the batch was staged, else by uploading it. The step
// calls done when it ends: a slot is given back only after the compute
// stream, which copies out of it, has been synchronised (a no-op wait
// after readLoss; on an error path it is what makes reuse safe).
func (p *program) inputs(b nn.Batch) (done func(), err error) {
	done = func() {}
	st := p.stg.Load()
	var sl *stageSlot
	if st != nil {
		sl = st.take(b)
	}
	if sl == nil {
		return done, p.upload(b, p.allInputs())
	}
	return func() { st.release(sl, p.d.sync()) }, st.use(sl, p)
}

func (p *program) ready(step int) error {
	if p.closed {
		return fmt.Errorf("cuda: program is closed")
	}
	if len(p.g.Losses) == 0 {
		return fmt.Errorf("cuda: the graph has no loss to train")
	}
	if step < 0 {
		return fmt.Errorf("cuda: negative step %d", step)
	}
	return nil
}

func (p *program) gradients(b nn.Batch, step int) (float64, map[string]*nn.Tensor, error) {
	if err := p.ready(step); err != nil {
		return 0, nil, err
	}
	if err := p.setMath(); err != nil {
		return 0, nil, err
	}
	if err := p.upload(b, p.allInputs()); err != nil {
		return 0, nil, err
	}
	if err := p.setCtrl(step, 0, p.adamStep+1); err != nil {
		return 0, nil, err
	}
	if err := p.trainOps(false, false); err != nil {
		return 0, nil, err
	}
	loss, err := p.readLoss()
	if err != nil {
		return 0, nil, err
	}
	grads := map[string]*nn.Tensor{}
	for _, ps := range p.g.Params {
		if ps.Buffer {
			continue
		}
		t := nn.NewTensor(ps.Shape...)
		if err := p.download(t.Data, p.grad(ps.Name)); err != nil {
			return 0, nil, err
		}
		grads[ps.Name] = t
	}
	return loss, grads, nil
}

func (p *program) download(dst []float32, src uint64) error {
	if len(dst) == 0 {
		return nil
	}
	return p.d.drv.Check("download", p.d.drv.MemcpyDtoH(unsafe.Pointer(&dst[0]), src, uint64(len(dst)*4)))
}

func (p *program) predict(b nn.Batch) (map[string]*nn.Tensor, error) {
	if p.closed {
		return nil, fmt.Errorf("cuda: program is closed")
	}
	if err := p.setMath(); err != nil {
		return nil, err
	}
	if err := p.upload(b, p.g.DataInputs()); err != nil {
		return nil, err
	}
	if err := p.forward(false, false); err != nil {
		return nil, err
	}
	if err := p.d.sync(); err != nil {
		return nil, err
	}
	out := map[string]*nn.Tensor{}
	for name, id := range p.g.Outputs {
		t := nn.NewTensor(append([]int{p.pl.B}, p.g.Nodes[id].Shape...)...)
		if err := p.download(t.Data, p.y(id)); err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

func (p *program) evalLoss(b nn.Batch) (float64, error) {
	if p.closed {
		return 0, fmt.Errorf("cuda: program is closed")
	}
	if len(p.g.Losses) == 0 {
		return 0, fmt.Errorf("cuda: the graph has no loss")
	}
	if err := p.setMath(); err != nil {
		return 0, err
	}
	if err := p.upload(b, p.allInputs()); err != nil {
		return 0, err
	}
	if err := p.forward(false, false); err != nil {
		return 0, err
	}
	if err := p.losses(false); err != nil {
		return 0, err
	}
	return p.readLoss()
}

// state downloads parameters, buffers and Adam moments.
func (p *program) state() (*nn.State, error) {
	if err := p.d.sync(); err != nil {
		return nil, err
	}
	s := &nn.State{Params: map[string]*nn.Tensor{}, Buffers: map[string]*nn.Tensor{}, AdamM: map[string]*nn.Tensor{},
		AdamV: map[string]*nn.Tensor{}, AdamStep: p.adamStep}
	for _, ps := range p.g.Params {
		if ps.Buffer {
			t := nn.NewTensor(ps.Shape...)
			if err := p.download(t.Data, p.buffer(ps.Name)); err != nil {
				return nil, err
			}
			s.Buffers[ps.Name] = t
			continue
		}
		off := uint64(p.pl.ParamOff[ps.Name]) * 4
		for _, dst := range []struct {
			m    map[string]*nn.Tensor
			base int64
		}{{s.Params, p.pl.Params}, {s.AdamM, p.pl.AdamM}, {s.AdamV, p.pl.AdamV}} {
			t := nn.NewTensor(ps.Shape...)
			if err := p.download(t.Data, p.arena+uint64(dst.base)+off); err != nil {
				return nil, err
			}
			dst.m[ps.Name] = t
		}
	}
	return s, nil
}

// setState validates the whole state first, then uploads it.
func (p *program) setState(s *nn.State) error {
	if s == nil {
		return fmt.Errorf("cuda: nil state")
	}
	if s.AdamStep < 0 {
		return fmt.Errorf("cuda: state has Adam step %d", s.AdamStep)
	}
	type job struct {
		t   *nn.Tensor
		dst uint64
	}
	var jobs []job
	check := func(t *nn.Tensor, shape []int, what string) error {
		if t == nil {
			return fmt.Errorf("cuda: state has no %s", what)
		}
		if err := t.Check(); err != nil {
			return fmt.Errorf("cuda: state %s: %v", what, err)
		}
		if !nn.SameShape(t.Shape, shape) {
			return fmt.Errorf("cuda: state %s has shape %v, want %v", what, t.Shape, shape)
		}
		for _, v := range t.Data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("cuda: state %s holds %v", what, v)
			}
		}
		return nil
	}
	for _, ps := range p.g.Params {
		if ps.Buffer {
			t := s.Buffers[ps.Name]
			if err := check(t, ps.Shape, "buffer "+ps.Name); err != nil {
				return err
			}
			jobs = append(jobs, job{t, p.buffer(ps.Name)})
			continue
		}
		off := uint64(p.pl.ParamOff[ps.Name]) * 4
		for _, src := range []struct {
			m    map[string]*nn.Tensor
			base int64
			what string
		}{{s.Params, p.pl.Params, "parameter "}, {s.AdamM, p.pl.AdamM, "Adam m of "}, {s.AdamV, p.pl.AdamV, "Adam v of "}} {
			t := src.m[ps.Name]
			if err := check(t, ps.Shape, src.what+ps.Name); err != nil {
				return err
			}
			jobs = append(jobs, job{t, p.arena + uint64(src.base) + off})
		}
	}
	if err := p.d.sync(); err != nil {
		return err
	}
	for _, j := range jobs {
		if len(j.t.Data) == 0 {
			continue
		}
		if err := p.d.drv.Check("upload state", p.d.drv.MemcpyHtoDAsync(j.dst, unsafe.Pointer(&j.t.Data[0]), uint64(len(j.t.Data)*4), p.d.stream)); err != nil {
			return err
		}
	}
	if err := p.d.sync(); err != nil {
		return err
	}
	p.adamStep = s.AdamStep
	return nil
}

func (p *program) memory() nn.MemoryStats {
	var free, total uint64
	p.d.drv.MemGetInfo(&free, &total)
	used := p.usedBytes()
	if used > p.peak {
		p.peak = used
	}
	return nn.MemoryStats{Used: used, Peak: p.peak, Total: int64(total)}
}
