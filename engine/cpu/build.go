package cpu

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
	"poselab/nn"
)

// exprGraph is one gorgonia graph of the model, in training or in
// evaluation mode, with its machine and the values it reads and writes.
// Parameter nodes of both graphs are bound to the program's parameter
// tensors, so an update in place is seen by both.
type exprGraph struct {
	g       *G.ExprGraph
	vm      G.VM
	nodes   []*G.Node                // by nn node id
	inputs  map[string]*tensor.Dense // bound input values, [batch, shape...]
	masks   []*dropMask              // training only
	cost    *G.Node                  // nil when the graph has no losses
	grads   []*G.Node                // training only: d cost / d param, in p.names order
	inGrads map[string]*G.Node       // tests only: d cost / d input
	outputs map[string]*G.Node
	scratch *convScratch // shared by the graph's convolutions
}

// dropMask is a dropout layer's mask input, refilled for each step.
type dropMask struct {
	node int
	p    float64
	val  *tensor.Dense
	step int // step it holds (-1: none yet)
}

func batchShape(batch int, shape []int) tensor.Shape {
	return append(tensor.Shape{batch}, shape...)
}

// build translates the nn graph into a gorgonia graph. In training mode it
// adds the gradient nodes of every parameter the losses depend on (and of
// the inputs in wrtInputs, for the gradient tests).
func (p *program) build(train bool, wrtInputs []string) (eg *exprGraph, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cpu: building the graph: %v", r)
		}
	}()
	B, dt := p.opt.Batch, p.dt
	eg = &exprGraph{g: G.NewGraph(), nodes: make([]*G.Node, len(p.g.Nodes)), inputs: map[string]*tensor.Dense{}, outputs: map[string]*G.Node{},
		scratch: &convScratch{}}
	params := map[string]*G.Node{}
	param := func(name string) *G.Node {
		if n, ok := params[name]; ok {
			return n
		}
		v, ok := p.params[name]
		if !ok {
			panic(fmt.Sprintf("parameter %q is not declared", name))
		}
		n := G.NewTensor(eg.g, dt, v.Dims(), G.WithShape(v.Shape()...), G.WithValue(v), G.WithName(name))
		params[name] = n
		return n
	}
	inputNodes := map[string]*G.Node{}
	// A first layer's gradient for its input (an image, a pose) feeds
	// nothing unless a test asks for it.
	noDX := func(n *nn.Node) bool {
		x := p.g.Nodes[n.Inputs[0]]
		return x.Op == nn.OpInput && !slices.Contains(wrtInputs, x.Name)
	}
	fused := p.fusableReLUs(train)
	bnReLU := p.bnReLUs(fused) // BatchNorm id -> its ReLU's id
	intoBN := map[int]bool{}
	for _, r := range bnReLU {
		intoBN[r] = true
	}
	for _, n := range p.g.Nodes {
		var in []*G.Node
		for _, id := range n.Inputs {
			in = append(in, eg.nodes[id])
		}
		dims := len(n.Shape) + 1
		var out *G.Node
		switch n.Op {
		case nn.OpInput:
			v := tensor.New(tensor.Of(dt), tensor.WithShape(batchShape(B, n.Shape)...))
			eg.inputs[n.Name] = v
			out = G.NewTensor(eg.g, dt, dims, G.WithShape(v.Shape()...), G.WithValue(v), G.WithName("input:"+n.Name))
			inputNodes[n.Name] = out
		case nn.OpLinear:
			op := newLinear()
			op.noDX = noDX(n)
			out = apply(op, in[0], param(n.Name+".weight"), param(n.Name+".bias"))
		case nn.OpBatchNorm:
			st := p.bn[n.ID]
			_, relu := bnReLU[n.ID]
			name := "BatchNorm"
			if relu {
				name = "BatchNormReLU"
			}
			if train {
				out = apply(&bnTrainOp{opBase: newBase("%s(%s)", name, n.Name), st: st, dims: dims, relu: relu}, in[0], param(n.Name+".weight"), param(n.Name+".bias"))
			} else {
				out = apply(&bnEvalOp{opBase: newBase("%sEval(%s)", name, n.Name), st: st, dims: dims, relu: relu}, in[0], param(n.Name+".weight"), param(n.Name+".bias"))
			}
		case nn.OpReLU:
			if fused[n.ID] {
				out = in[0] // the dropout after it applies the ReLU
				break
			}
			if intoBN[n.ID] {
				out = in[0] // the BatchNorm before it applied the ReLU
				break
			}
			out = apply(newReLU(dims), in[0])
		case nn.OpDropout:
			if !train || n.P == 0 {
				out = in[0]
				break
			}
			if n.P < 0 || n.P >= 1 {
				panic(fmt.Sprintf("dropout probability %v outside [0,1)", n.P))
			}
			m := &dropMask{node: n.ID, p: n.P, step: -1, val: tensor.New(tensor.Of(dt), tensor.WithShape(batchShape(B, n.Shape)...))}
			eg.masks = append(eg.masks, m)
			mn := G.NewTensor(eg.g, dt, dims, G.WithShape(m.val.Shape()...), G.WithValue(m.val), G.WithName(fmt.Sprintf("dropmask%d", n.ID)))
			if fused[n.Inputs[0]] {
				out = apply(&reluMaskOp{opBase: newBase("ReLUDropout"), dims: dims}, in[0], mn)
			} else {
				out = apply(newMask(dims), in[0], mn)
			}
		case nn.OpAdd:
			out = apply(&addOp{opBase: newBase("Add"), dims: dims}, in[0], in[1])
		case nn.OpReshape:
			out = G.Must(G.Reshape(in[0], batchShape(B, n.Shape)))
		default:
			out, err = p.buildSpatial(n, in, param, eg.scratch, noDX(n))
			if err != nil {
				return nil, err
			}
		}
		eg.nodes[n.ID] = out
	}
	for name, id := range p.g.Outputs {
		eg.outputs[name] = eg.nodes[id]
	}
	for _, l := range p.g.Losses {
		pred := eg.nodes[l.Pred]
		args := []*G.Node{pred, inputNodes[l.Target]}
		if l.Mask != "" {
			args = append(args, inputNodes[l.Mask])
		}
		term := apply(newLoss(l, pred.Dims()), args...)
		if eg.cost == nil {
			eg.cost = term
		} else {
			eg.cost = G.Must(G.Add(eg.cost, term))
		}
	}
	if train && eg.cost != nil {
		// Only parameters the loss depends on get gradient nodes
		// (gorgonia refuses the others); the rest keep a nil entry and
		// are left alone by Adam, as PyTorch skips parameters without
		// gradients.
		used := p.lossParams()
		var wrt []*G.Node
		var slots []int
		eg.grads = make([]*G.Node, len(p.names))
		for i, name := range p.names {
			if used[name] {
				wrt = append(wrt, param(name))
				slots = append(slots, i)
			}
		}
		nParams := len(wrt)
		for _, name := range wrtInputs {
			wrt = append(wrt, inputNodes[name])
		}
		eg.inGrads = map[string]*G.Node{}
		if len(wrt) > 0 {
			grads, err := G.Grad(eg.cost, wrt...)
			if err != nil {
				return nil, fmt.Errorf("cpu: gradients: %w", err)
			}
			for k, i := range slots {
				eg.grads[i] = grads[k]
			}
			for i, name := range wrtInputs {
				eg.inGrads[name] = grads[nParams+i]
			}
		}
	}
	eg.vm = G.NewTapeMachine(eg.g)
	return eg, nil
}

// lossParams is the set of parameter names the losses depend on.
func (p *program) lossParams() map[string]bool {
	needed := map[int]bool{}
	var visit func(id int)
	visit = func(id int) {
		if needed[id] {
			return
		}
		needed[id] = true
		for _, in := range p.g.Nodes[id].Inputs {
			visit(in)
		}
	}
	for _, l := range p.g.Losses {
		visit(l.Pred)
	}
	used := map[string]bool{}
	for id := range needed {
		n := p.g.Nodes[id]
		switch n.Op {
		case nn.OpLinear, nn.OpConv2d, nn.OpConvT2d, nn.OpBatchNorm:
			used[n.Name+".weight"] = true
			used[n.Name+".bias"] = true
		}
	}
	return used
}

// fusableReLUs marks, in training mode, the ReLUs whose only consumer is a
// dropout layer (and which are no output or loss): that pair runs as one
// reluMaskOp.
func (p *program) fusableReLUs(train bool) map[int]bool {
	fused := map[int]bool{}
	if !train {
		return fused
	}
	uses := p.uses()
	for _, n := range p.g.Nodes {
		if n.Op == nn.OpDropout && n.P > 0 && p.g.Nodes[n.Inputs[0]].Op == nn.OpReLU && uses[n.Inputs[0]] == 1 {
			fused[n.Inputs[0]] = true
		}
	}
	return fused
}

// uses counts each node's consumers; an output or a loss's prediction
// counts twice more, so that a node anything outside the graph reads is
// never fused away.
func (p *program) uses() map[int]int {
	uses := map[int]int{}
	for _, n := range p.g.Nodes {
		for _, id := range n.Inputs {
			uses[id]++
		}
	}
	for _, id := range p.g.Outputs {
		uses[id] += 2
	}
	for _, l := range p.g.Losses {
		uses[l.Pred] += 2
	}
	return uses
}

// bnReLUs maps each BatchNorm whose only consumer is a ReLU (and which is
// no output or loss) to that ReLU, unless a dropout takes the ReLU: the
// pair runs as one Op, which applies the ReLU to each plane while it is in
// cache and masks the gradient in the BatchNorm's first backward pass,
// saving the ReLU's passes over memory (every BatchNorm of the hourglass,
// most of a ResNet's).
func (p *program) bnReLUs(dropFused map[int]bool) map[int]int {
	uses := p.uses()
	r := map[int]int{}
	for _, n := range p.g.Nodes {
		if n.Op != nn.OpReLU || dropFused[n.ID] {
			continue
		}
		if in := n.Inputs[0]; p.g.Nodes[in].Op == nn.OpBatchNorm && uses[in] == 1 {
			r[in] = n.ID
		}
	}
	return r
}

// buildSpatial adds the image layers ([C,H,W] per sample).
func (p *program) buildSpatial(n *nn.Node, in []*G.Node, param func(string) *G.Node, scratch *convScratch, noDX bool) (*G.Node, error) {
	inShape := p.g.Nodes[n.Inputs[0]].Shape
	switch n.Op {
	case nn.OpConv2d, nn.OpConvT2d:
		c, h, w := inShape[0], inShape[1], inShape[2]
		g := convGeom{c: c, h: h, w: w, k: n.K, s: n.Stride, pad: n.Pad, ho: n.Shape[1], wo: n.Shape[2], cout: n.Out}
		if n.Op == nn.OpConvT2d {
			g = convGeom{c: n.Out, h: n.Shape[1], w: n.Shape[2], k: n.K, s: n.Stride, pad: n.Pad, ho: h, wo: w, cout: c, transposed: true}
		}
		if g.s < 1 || g.k < 1 || g.pad < 0 {
			return nil, fmt.Errorf("cpu: %s %q: kernel %d stride %d padding %d", n.Op, n.Name, g.k, g.s, g.pad)
		}
		args := []*G.Node{in[0], param(n.Name + ".weight")}
		if n.Bias {
			args = append(args, param(n.Name+".bias"))
		}
		op := newConv(g, n.Bias, inShape, n.Shape, scratch)
		op.noDX = noDX
		return apply(op, args...), nil
	case nn.OpMaxPool2d:
		if n.Stride < 1 || n.K < 1 || n.Pad < 0 || 2*n.Pad > n.K {
			return nil, fmt.Errorf("cpu: max pool kernel %d stride %d padding %d", n.K, n.Stride, n.Pad)
		}
		return apply(&maxPoolOp{opBase: newBase("MaxPool2d(k%d s%d p%d)", n.K, n.Stride, n.Pad), k: n.K, s: n.Stride, pad: n.Pad, outShp: n.Shape}, in[0]), nil
	case nn.OpUpsample2x:
		return apply(&upsampleOp{opBase: newBase("Upsample2x")}, in[0]), nil
	case nn.OpAvgPoolAll:
		return apply(&avgPoolAllOp{opBase: newBase("GlobalAvgPool")}, in[0]), nil
	case nn.OpSoftArgmax3D:
		return apply(&softArgmaxOp{opBase: newBase("SoftArgmax3D(%dx%d)", n.Joints, n.Depth), joints: n.Joints, depth: n.Depth}, in[0]), nil
	}
	return nil, fmt.Errorf("cpu: op %q is not implemented", n.Op)
}
