package cuda

import (
	"fmt"

	"poselab/engine/cuda/cu"
	"poselab/nn"
)

// convLayer holds the cuDNN descriptors of one Conv2d or ConvTranspose2d.
// Both are described by the geometry of a forward convolution cx -> cy
// with filter w: for Conv2d cx is the input and cy the output; for a
// transposed convolution it is the other way round (its forward pass is
// cuDNN's backward-data, its input gradient cuDNN's forward), so neither
// direction wastes work on inserted zeros.
type convLayer struct {
	cxD, cyD, wD uintptr
	// One convolution descriptor per primitive, so each can carry the math
	// type its chosen algorithm wants.
	fwdD, bwdDataD, bwdFilterD uintptr
	fwdAlgo, bwdDataAlgo       int32
	bwdFilterAlgo              int32
	fwdWS, bwdDataWS           uint64
	bwdFilterWS                uint64
	tf32                       bool // descriptors carry cuDNN's default math type (TF32 allowed)
	needFwd, needBwdData       bool
	needBwdFilter              bool
	// cands are each needed primitive's measured algorithms; pickAlgos
	// chooses among them once the plan knows what memory is free when.
	cands [3]primCands
	how   string // how the algorithms were chosen, for logs
	key   string // geometry, for the per-process algorithm cache
}

// algoCand is one usable algorithm of one primitive, as cuDNN measured
// it (or, when the search fails, as its heuristic ranks it).
type algoCand struct {
	algo     int32
	ms       float32 // measured time; 0 for a heuristic's guess
	ws       uint64  // workspace bytes
	mathType int32
}

// primCands are one primitive's candidates, fastest first. They are cached
// per convolution geometry: the same shapes recur many times in
// hourglasses and ResNets, and each cuDNN search costs milliseconds.
type primCands struct {
	how   string // "find" or "heuristic"
	list  []algoCand
	limit uint64 // the search workspace they were measured within
}

// The three cuDNN primitives of a convolution layer.
const (
	primFwd = iota
	primBwdData
	primBwdFilter
)

var primNames = [3]string{"forward", "backward-data", "backward-filter"}

// convGeometry returns (cx shape, cy shape, filter k, c) for node n whose
// input has shape in (per sample, [C,H,W]).
func convGeometry(n *nn.Node, in []int) (cx, cy [3]int, fk, fc int) {
	x := [3]int{in[0], in[1], in[2]}
	y := [3]int{n.Shape[0], n.Shape[1], n.Shape[2]}
	if n.Op == nn.OpConvT2d {
		// weight [Cin, Out, K, K] = filter of the forward conv Out -> Cin
		return y, x, in[0], n.Out
	}
	return x, y, n.Out, in[0]
}

func (d *device) newConvLayer(n *nn.Node, in []int, B int, tf32 bool) (*convLayer, error) {
	dn := d.dnn
	cx, cy, fk, fc := convGeometry(n, in)
	l := &convLayer{tf32: tf32, key: fmt.Sprintf("B%d cx%v cy%v f%dx%dx%d pad%d stride%d tf32 %v", B, cx, cy, fk, fc, n.K, n.Pad, n.Stride, tf32)}
	steps := []struct {
		what string
		f    func() int32
	}{
		{"create cx", func() int32 { return dn.CreateTensorDescriptor(&l.cxD) }},
		{"create cy", func() int32 { return dn.CreateTensorDescriptor(&l.cyD) }},
		{"create w", func() int32 { return dn.CreateFilterDescriptor(&l.wD) }},
		{"set cx", func() int32 {
			return dn.SetTensor4d(l.cxD, cu.DnnNCHW, cu.DnnFloat, int32(B), int32(cx[0]), int32(cx[1]), int32(cx[2]))
		}},
		{"set cy", func() int32 {
			return dn.SetTensor4d(l.cyD, cu.DnnNCHW, cu.DnnFloat, int32(B), int32(cy[0]), int32(cy[1]), int32(cy[2]))
		}},
		{"set w", func() int32 {
			return dn.SetFilter4d(l.wD, cu.DnnFloat, cu.DnnNCHW, int32(fk), int32(fc), int32(n.K), int32(n.K))
		}},
	}
	math := int32(cu.DnnFMAMath)
	if tf32 {
		math = cu.DnnDefaultMath
	}
	for _, cd := range []*uintptr{&l.fwdD, &l.bwdDataD, &l.bwdFilterD} {
		cd := cd
		steps = append(steps,
			struct {
				what string
				f    func() int32
			}{"create conv", func() int32 { return dn.CreateConvDescriptor(cd) }},
			struct {
				what string
				f    func() int32
			}{"set conv", func() int32 {
				return dn.SetConv2d(*cd, int32(n.Pad), int32(n.Pad), int32(n.Stride), int32(n.Stride), 1, 1, cu.DnnCrossCorr, cu.DnnFloat)
			}},
			struct {
				what string
				f    func() int32
			}{"set math type", func() int32 { return dn.SetConvMathType(*cd, math) }},
		)
	}
	for _, s := range steps {
		if err := dn.Check(fmt.Sprintf("%s %s: %s", n.Op, n.Name, s.what), s.f()); err != nil {
			d.destroyConv(l)
			return nil, err
		}
	}
	return l, nil
}

// convBufs are the device buffers the three primitives read and write
// (0 where a primitive is not needed).
type convBufs struct {
	cx, cy, w, dcx, dcy, dw uint64
}

// measureAlgos lists each needed primitive's usable algorithms, fastest
// first: cuDNN's measured search (like PyTorch's cudnn.benchmark) within
// the search workspace, else its heuristic's ranking.
func (d *device) measureAlgos(l *convLayer, b convBufs, ws uint64, wsBytes uint64) error {
	dn, h := d.dnn, d.cudnn
	const req = 16
	perf := make([]cu.AlgoPerf, req)
	var got int32
	// cd is the primitive's convolution descriptor: in the heuristic
	// fallback each candidate's workspace is asked under the candidate's
	// own math type (TF32 runs mix tensor-op and FMA algorithms, and
	// pickAlgos sets the chosen one's), then the descriptor's is restored.
	measure := func(prim int, cd uintptr, find func() int32, heur func() int32, wsq func(algo int32, sz *uint64) int32) error {
		what := primNames[prim]
		ck := what + " " + l.key
		if c, ok := d.algoCache[ck]; ok && c.limit == wsBytes {
			l.cands[prim] = c
			return nil
		}
		got = 0
		st := find()
		c := primCands{how: "find", limit: wsBytes}
		if st != 0 || got == 0 {
			c.how = "heuristic"
			got = 0
			if err := dn.Check(what+" heuristic", heur()); err != nil {
				return err
			}
		}
		for _, p := range perf[:got] {
			if p.Status != 0 {
				continue
			}
			sz, ms := p.Memory, p.Time
			if c.how == "heuristic" {
				if l.tf32 && dn.SetConvMathType(cd, p.MathType) != 0 {
					continue
				}
				st := wsq(p.Algo, &sz)
				if l.tf32 {
					if err := dn.Check(what+" math type", dn.SetConvMathType(cd, cu.DnnDefaultMath)); err != nil {
						return err
					}
				}
				if st != 0 {
					continue
				}
				ms = 0
			}
			if sz > wsBytes {
				continue
			}
			c.list = append(c.list, algoCand{algo: p.Algo, ms: ms, ws: sz, mathType: p.MathType})
		}
		if len(c.list) == 0 {
			return fmt.Errorf("cudnn: %s: no usable algorithm within %d MiB workspace (find status %d)", what, wsBytes>>20, st)
		}
		if d.algoCache == nil {
			d.algoCache = map[string]primCands{}
		}
		d.algoCache[ck] = c
		l.cands[prim] = c
		return nil
	}
	if l.needFwd {
		if err := measure(primFwd, l.fwdD,
			func() int32 {
				return dn.FindFwd(h, l.cxD, b.cx, l.wD, b.w, l.fwdD, l.cyD, b.cy, req, &got, &perf[0], ws, wsBytes)
			},
			func() int32 { return dn.GetFwdV7(h, l.cxD, l.wD, l.fwdD, l.cyD, req, &got, &perf[0]) },
			func(a int32, sz *uint64) int32 { return dn.FwdWS(h, l.cxD, l.wD, l.fwdD, l.cyD, a, sz) }); err != nil {
			return err
		}
	}
	if l.needBwdData {
		if err := measure(primBwdData, l.bwdDataD,
			func() int32 {
				return dn.FindBwdData(h, l.wD, b.w, l.cyD, b.dcy, l.bwdDataD, l.cxD, b.dcx, req, &got, &perf[0], ws, wsBytes)
			},
			func() int32 { return dn.GetBwdDataV7(h, l.wD, l.cyD, l.bwdDataD, l.cxD, req, &got, &perf[0]) },
			func(a int32, sz *uint64) int32 { return dn.BwdDataWS(h, l.wD, l.cyD, l.bwdDataD, l.cxD, a, sz) }); err != nil {
			return err
		}
	}
	if l.needBwdFilter {
		if err := measure(primBwdFilter, l.bwdFilterD,
			func() int32 {
				return dn.FindBwdFilter(h, l.cxD, b.cx, l.cyD, b.dcy, l.bwdFilterD, l.wD, b.dw, req, &got, &perf[0], ws, wsBytes)
			},
			func() int32 { return dn.GetBwdFilterV7(h, l.cxD, l.cyD, l.bwdFilterD, l.wD, req, &got, &perf[0]) },
			func(a int32, sz *uint64) int32 { return dn.BwdFilterWS(h, l.cxD, l.cyD, l.bwdFilterD, l.wD, a, sz) }); err != nil {
			return err
		}
	}
	return nil
}

// pickAlgos chooses each needed primitive's algorithm: the fastest whose
// workspace is within that primitive's limit (see wsLimits), else the one
// with the smallest workspace. It sets the math type each choice wants
// (TF32 runs only), records the choice in l.how and returns how many
// primitives were held back from their fastest algorithm and the time
// that costs by cuDNN's measurements.
func (d *device) pickAlgos(l *convLayer, limit [3]uint64, tf32 bool) (prims, held int, extraMS float64, err error) {
	l.how = ""
	for prim, need := range [3]bool{l.needFwd, l.needBwdData, l.needBwdFilter} {
		if !need {
			continue
		}
		c := l.cands[prim]
		k := pickCand(c.list, limit[prim])
		a := c.list[k]
		if tf32 {
			cd := [3]uintptr{l.fwdD, l.bwdDataD, l.bwdFilterD}[prim]
			if err := d.dnn.Check(primNames[prim]+" math type", d.dnn.SetConvMathType(cd, a.mathType)); err != nil {
				return 0, 0, 0, err
			}
		}
		prims++
		switch prim {
		case primFwd:
			l.fwdAlgo, l.fwdWS = a.algo, a.ws
		case primBwdData:
			l.bwdDataAlgo, l.bwdDataWS = a.algo, a.ws
		default:
			l.bwdFilterAlgo, l.bwdFilterWS = a.algo, a.ws
		}
		l.how += fmt.Sprintf(" %s:%s algo %d %.3f ms ws %d", primNames[prim], c.how, a.algo, a.ms, a.ws)
		if k > 0 {
			f := c.list[0]
			l.how += fmt.Sprintf(" (fastest: algo %d %.3f ms ws %d, over the %d-byte limit)", f.algo, f.ms, f.ws, limit[prim])
			held++
			extraMS += float64(a.ms - f.ms)
		}
	}
	return prims, held, extraMS, nil
}

// pickCand is the index of the fastest candidate (they come fastest first)
// whose workspace is at most limit, or of the smallest workspace when none
// fits.
func pickCand(list []algoCand, limit uint64) int {
	best := 0
	for k, a := range list {
		if a.ws <= limit {
			return k
		}
		if a.ws < list[best].ws {
			best = k
		}
	}
	return best
}

// destroyConv frees the descriptors l holds; those never created (0, when
// newConvLayer failed part way) are skipped.
func (d *device) destroyConv(l *convLayer) {
	dn := d.dnn
	for _, h := range []uintptr{l.cxD, l.cyD} {
		if h != 0 {
			dn.DestroyTensorDesc(h)
		}
	}
	if l.wD != 0 {
		dn.DestroyFilterDesc(l.wD)
	}
	for _, h := range []uintptr{l.fwdD, l.bwdDataD, l.bwdFilterD} {
		if h != 0 {
			dn.DestroyConvDesc(h)
		}
	}
}

var (
	one  = float32(1)
	zero = float32(0)
)

// convForwardPrim runs cuDNN forward cx -> cy (cy = beta*cy + conv).
func (d *device) convForwardPrim(l *convLayer, cx, w, cy uint64, ws uint64, beta *float32) error {
	return d.dnn.Check("convolution forward", d.dnn.Forward(d.cudnn, &one, l.cxD, cx, l.wD, w, l.fwdD, l.fwdAlgo, ws, l.fwdWS, beta, l.cyD, cy))
}

// convBackwardDataPrim runs cuDNN backward-data cy -> cx.
func (d *device) convBackwardDataPrim(l *convLayer, w, cy, cx uint64, ws uint64, beta *float32) error {
	return d.dnn.Check("convolution backward data", d.dnn.BackwardData(d.cudnn, &one, l.wD, w, l.cyD, cy, l.bwdDataD, l.bwdDataAlgo, ws, l.bwdDataWS, beta, l.cxD, cx))
}

// convBackwardFilterPrim runs cuDNN backward-filter (cx, cy) -> w.
func (d *device) convBackwardFilterPrim(l *convLayer, cx, cy, dw uint64, ws uint64) error {
	return d.dnn.Check("convolution backward filter", d.dnn.BackwardFilter(d.cudnn, &one, l.cxD, cx, l.cyD, cy, l.bwdFilterD, l.bwdFilterAlgo, ws, l.bwdFilterWS, &zero, l.wD, dw))
}
