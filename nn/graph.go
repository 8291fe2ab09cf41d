package nn

import (
	"fmt"
	"math"
)

// Op names a layer kind of the model language. Every backend implements
// every Op, forward and backward, in training and in evaluation mode.
type Op string

// The layers models are written with. Shapes below are per sample (the
// batch dimension is implicit and comes first at run time).
const (
	OpInput        Op = "input"           // named input; [F] or [C,H,W] or any shape
	OpLinear       Op = "linear"          // [F] -> [Out]; params W [Out,F], b [Out]
	OpConv2d       Op = "conv2d"          // [C,H,W] -> [Out,H',W']; params W [Out,C,K,K], b [Out] if Bias
	OpConvT2d      Op = "convtranspose2d" // [C,H,W] -> [Out,H',W']; params W [C,Out,K,K], b [Out] if Bias (PyTorch layout)
	OpBatchNorm    Op = "batchnorm"       // [F] or [C,H,W]; params gamma, beta [C]; buffers mean, var [C]
	OpReLU         Op = "relu"
	OpDropout      Op = "dropout"       // inverted dropout with probability P; identity in eval
	OpMaxPool2d    Op = "maxpool2d"     // kernel K, stride S, padding Pad
	OpAvgPoolAll   Op = "globalavgpool" // [C,H,W] -> [C]
	OpUpsample2x   Op = "upsample2x"    // nearest, x2 in H and W
	OpAdd          Op = "add"           // elementwise sum of two equal shapes
	OpReshape      Op = "reshape"       // to Shape (same number of elements)
	OpSoftArgmax3D Op = "softargmax3d"  // [J*D,H,W] -> [J,3]: softmax over each joint's D*H*W volume, then expected (x,y,z) in voxel units
)

// Loss kinds.
type LossKind string

// Losses: the mean over all elements (batch included) of Weight * err,
// where err is |p-t| (L1) or (p-t)^2 (MSE) and the optional mask
// multiplies err elementwise.
const (
	L1  LossKind = "l1"
	MSE LossKind = "mse"
)

// Node is one layer application in a Graph.
type Node struct {
	ID     int
	Op     Op
	Name   string // parameter prefix (layers with params) or input name
	Inputs []int
	Shape  []int // output shape per sample

	Out    int     // Linear/Conv output features or channels
	K      int     // kernel size
	Stride int     // stride
	Pad    int     // padding
	Bias   bool    // conv bias
	P      float64 // dropout probability
	Eps    float64 // BatchNorm epsilon (1e-5)
	Mom    float64 // BatchNorm momentum (0.1, PyTorch convention)
	Joints int     // SoftArgmax3D joints
	Depth  int     // SoftArgmax3D depth bins
}

// Loss is one term of the training objective.
type Loss struct {
	Kind   LossKind
	Pred   int    // node id
	Target string // input name holding the target (same shape as Pred)
	Mask   string // optional input name, same shape as Pred, multiplies the error
	Weight float64
}

// ParamSpec describes one trainable parameter or buffer.
type ParamSpec struct {
	Name   string
	Shape  []int
	FanIn  int     // for PyTorch's default uniform(-1/sqrt(fanIn), 1/sqrt(fanIn)) init
	Init   string  // "uniform" (PyTorch default for Linear/Conv weights and biases), "normal", "ones", "zeros"
	Std    float64 // "normal": the standard deviation of N(0, Std^2)
	Buffer bool    // BatchNorm running statistics: saved, not trained
}

// Graph is a model: nodes in topological order, named inputs and outputs,
// parameters and losses. It is plain data, shared by all backends.
type Graph struct {
	Nodes   []*Node
	Inputs  map[string]int // input name -> node id
	Outputs map[string]int // output name -> node id
	Params  []ParamSpec
	Losses  []Loss
}

// Value is a handle to a node while a Graph is being built.
type Value struct {
	id    int
	Shape []int
}

// Builder writes a Graph. Methods panic on shape errors: a model definition
// with wrong shapes is a programming error, caught by its tests.
type Builder struct {
	g     *Graph
	names map[string]int // parameter name -> index in g.Params
}

// NewBuilder starts an empty graph.
func NewBuilder() *Builder {
	return &Builder{g: &Graph{Inputs: map[string]int{}, Outputs: map[string]int{}}, names: map[string]int{}}
}

func (b *Builder) add(n *Node) *Value {
	n.ID = len(b.g.Nodes)
	b.g.Nodes = append(b.g.Nodes, n)
	return &Value{id: n.ID, Shape: n.Shape}
}

func (b *Builder) param(name string, shape []int, fanIn int, init string, buffer bool) {
	if _, dup := b.names[name]; dup {
		panic(fmt.Sprintf("nn: duplicate parameter %q", name))
	}
	b.names[name] = len(b.g.Params)
	b.g.Params = append(b.g.Params, ParamSpec{Name: name, Shape: shape, FanIn: fanIn, Init: init, Buffer: buffer})
}

// The layers start from PyTorch's default init. A model whose reference
// implementation initialises a layer differently (torchvision's ResNet,
// Simple Baselines' deconvolution head) says so with the Init methods
// below, after declaring the layer.

// spec returns the declared trainable parameter `name`.
func (b *Builder) spec(name string) *ParamSpec {
	i, ok := b.names[name]
	if !ok || b.g.Params[i].Buffer {
		panic(fmt.Sprintf("nn: no trainable parameter %q to initialise", name))
	}
	return &b.g.Params[i]
}

// InitNormal draws parameter `name` from N(0, std^2).
func (b *Builder) InitNormal(name string, std float64) {
	if !(std > 0) {
		panic(fmt.Sprintf("nn: %s: normal init needs a positive std, got %g", name, std))
	}
	p := b.spec(name)
	p.Init, p.Std = "normal", std
}

// InitZeros starts parameter `name` at 0.
func (b *Builder) InitZeros(name string) {
	p := b.spec(name)
	p.Init, p.Std = "zeros", 0
}

// InitKaimingNormal draws weight `name` from N(0, 2/fan) (He et al.,
// PyTorch's kaiming_normal_ with nonlinearity='relu'), fan being fan_out
// when fanOut is set, else fan_in. The fans are PyTorch's: for a weight of
// shape [A, B, K, K] (or [A, B]) fan_in is B*K*K and fan_out A*K*K, which
// for a ConvTranspose2d weight [in, out, K, K] counts out as fan_in, as
// PyTorch does.
func (b *Builder) InitKaimingNormal(name string, fanOut bool) {
	p := b.spec(name)
	if len(p.Shape) < 2 {
		panic(fmt.Sprintf("nn: %s: Kaiming init needs a weight of 2 or more dimensions, got %v", name, p.Shape))
	}
	fan := p.Shape[1] * Numel(p.Shape[2:])
	if fanOut {
		fan = p.Shape[0] * Numel(p.Shape[2:])
	}
	b.InitNormal(name, math.Sqrt(2/float64(fan)))
}

// Input declares a named per-sample input (data, targets and masks alike).
func (b *Builder) Input(name string, shape ...int) *Value {
	if _, dup := b.g.Inputs[name]; dup {
		panic(fmt.Sprintf("nn: duplicate input %q", name))
	}
	v := b.add(&Node{Op: OpInput, Name: name, Shape: append([]int(nil), shape...)})
	b.g.Inputs[name] = v.id
	return v
}

// Linear is y = x W^T + b with W [out, in] (PyTorch layout and init).
func (b *Builder) Linear(name string, x *Value, out int) *Value {
	if len(x.Shape) != 1 {
		panic(fmt.Sprintf("nn: Linear %s wants [F], got %v", name, x.Shape))
	}
	in := x.Shape[0]
	b.param(name+".weight", []int{out, in}, in, "uniform", false)
	b.param(name+".bias", []int{out}, in, "uniform", false)
	return b.add(&Node{Op: OpLinear, Name: name, Inputs: []int{x.id}, Shape: []int{out}, Out: out})
}

// convOut is the output size of a window of k moved with stride s over n
// padded by p. A window larger than the padded input is a shape error, as
// in PyTorch: Go's division truncates toward zero, so (n+2p-k)/s + 1 would
// otherwise come out as 1 for -s < n+2p-k < 0.
func convOut(n, k, s, p int) int {
	if k < 1 || s < 1 || p < 0 || n+2*p < k {
		panic(fmt.Sprintf("nn: window %d stride %d padding %d does not fit an input of %d", k, s, p, n))
	}
	return (n+2*p-k)/s + 1
}

// Conv2d is a 2D convolution, NCHW, square kernel.
func (b *Builder) Conv2d(name string, x *Value, out, k, stride, pad int, bias bool) *Value {
	if len(x.Shape) != 3 {
		panic(fmt.Sprintf("nn: Conv2d %s wants [C,H,W], got %v", name, x.Shape))
	}
	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	fan := c * k * k
	b.param(name+".weight", []int{out, c, k, k}, fan, "uniform", false)
	if bias {
		b.param(name+".bias", []int{out}, fan, "uniform", false)
	}
	return b.add(&Node{Op: OpConv2d, Name: name, Inputs: []int{x.id}, Out: out, K: k, Stride: stride, Pad: pad, Bias: bias,
		Shape: []int{out, convOut(h, k, stride, pad), convOut(w, k, stride, pad)}})
}

// ConvTranspose2d is PyTorch's transposed convolution (weight [C, Out, K, K]).
// Output size (H-1)*stride - 2*pad + K.
func (b *Builder) ConvTranspose2d(name string, x *Value, out, k, stride, pad int, bias bool) *Value {
	if len(x.Shape) != 3 {
		panic(fmt.Sprintf("nn: ConvTranspose2d %s wants [C,H,W], got %v", name, x.Shape))
	}
	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	if ho, wo := (h-1)*stride-2*pad+k, (w-1)*stride-2*pad+k; k < 1 || stride < 1 || pad < 0 || ho < 1 || wo < 1 {
		panic(fmt.Sprintf("nn: ConvTranspose2d %s: kernel %d stride %d padding %d give an empty output from %v", name, k, stride, pad, x.Shape))
	}
	fan := out * k * k // PyTorch computes fan_in from weight.size(1)*K*K for transposed convs
	b.param(name+".weight", []int{c, out, k, k}, fan, "uniform", false)
	if bias {
		b.param(name+".bias", []int{out}, fan, "uniform", false)
	}
	return b.add(&Node{Op: OpConvT2d, Name: name, Inputs: []int{x.id}, Out: out, K: k, Stride: stride, Pad: pad, Bias: bias,
		Shape: []int{out, (h-1)*stride - 2*pad + k, (w-1)*stride - 2*pad + k}})
}

// BatchNorm normalises over the batch (and H, W for [C,H,W] inputs).
func (b *Builder) BatchNorm(name string, x *Value) *Value {
	c := x.Shape[0]
	b.param(name+".weight", []int{c}, 0, "ones", false)
	b.param(name+".bias", []int{c}, 0, "zeros", false)
	b.param(name+".running_mean", []int{c}, 0, "zeros", true)
	b.param(name+".running_var", []int{c}, 0, "ones", true)
	return b.add(&Node{Op: OpBatchNorm, Name: name, Inputs: []int{x.id}, Shape: x.Shape, Eps: 1e-5, Mom: 0.1})
}

// ReLU is max(x, 0).
func (b *Builder) ReLU(x *Value) *Value {
	return b.add(&Node{Op: OpReLU, Inputs: []int{x.id}, Shape: x.Shape})
}

// Dropout zeroes elements with probability p in training and scales the
// rest by 1/(1-p); identity in evaluation.
func (b *Builder) Dropout(x *Value, p float64) *Value {
	return b.add(&Node{Op: OpDropout, Inputs: []int{x.id}, Shape: x.Shape, P: p})
}

// MaxPool2d is max pooling with a square window.
func (b *Builder) MaxPool2d(x *Value, k, stride, pad int) *Value {
	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	return b.add(&Node{Op: OpMaxPool2d, Inputs: []int{x.id}, K: k, Stride: stride, Pad: pad,
		Shape: []int{c, convOut(h, k, stride, pad), convOut(w, k, stride, pad)}})
}

// GlobalAvgPool averages each channel over H and W.
func (b *Builder) GlobalAvgPool(x *Value) *Value {
	return b.add(&Node{Op: OpAvgPoolAll, Inputs: []int{x.id}, Shape: []int{x.Shape[0]}})
}

// Upsample2x is nearest-neighbour upsampling by 2.
func (b *Builder) Upsample2x(x *Value) *Value {
	c, h, w := x.Shape[0], x.Shape[1], x.Shape[2]
	return b.add(&Node{Op: OpUpsample2x, Inputs: []int{x.id}, Shape: []int{c, 2 * h, 2 * w}})
}

// Add sums two values of the same shape.
func (b *Builder) Add(x, y *Value) *Value {
	if !SameShape(x.Shape, y.Shape) {
		panic(fmt.Sprintf("nn: Add of %v and %v", x.Shape, y.Shape))
	}
	return b.add(&Node{Op: OpAdd, Inputs: []int{x.id, y.id}, Shape: x.Shape})
}

// Reshape changes the per-sample shape.
func (b *Builder) Reshape(x *Value, shape ...int) *Value {
	if Numel(shape) != Numel(x.Shape) {
		panic(fmt.Sprintf("nn: Reshape %v to %v", x.Shape, shape))
	}
	return b.add(&Node{Op: OpReshape, Inputs: []int{x.id}, Shape: append([]int(nil), shape...)})
}

// SoftArgmax3D turns [joints*depth, H, W] volumetric heatmaps into [joints, 3]
// expected coordinates (x in 0..W-1, y in 0..H-1, z in 0..depth-1).
func (b *Builder) SoftArgmax3D(x *Value, joints, depth int) *Value {
	if len(x.Shape) != 3 || x.Shape[0] != joints*depth {
		panic(fmt.Sprintf("nn: SoftArgmax3D wants [%d,H,W], got %v", joints*depth, x.Shape))
	}
	return b.add(&Node{Op: OpSoftArgmax3D, Inputs: []int{x.id}, Joints: joints, Depth: depth, Shape: []int{joints, 3}})
}

// Output names a value that Predict returns.
func (b *Builder) Output(name string, x *Value) { b.g.Outputs[name] = x.id }

// Loss adds a weighted loss term comparing x with the named target input
// (and an optional named mask input; "" for none).
func (b *Builder) Loss(kind LossKind, x *Value, target, mask string, weight float64) {
	for _, name := range []string{target, mask} {
		if name == "" {
			continue
		}
		id, ok := b.g.Inputs[name]
		if !ok {
			panic(fmt.Sprintf("nn: loss input %q is not declared", name))
		}
		if !SameShape(b.g.Nodes[id].Shape, x.Shape) {
			panic(fmt.Sprintf("nn: loss input %q has shape %v, prediction %v", name, b.g.Nodes[id].Shape, x.Shape))
		}
	}
	b.g.Losses = append(b.g.Losses, Loss{Kind: kind, Pred: x.id, Target: target, Mask: mask, Weight: weight})
}

// Build returns the finished graph.
func (b *Builder) Build() *Graph { return b.g }

// DataInputs lists the inputs that Predict needs (those not used only as
// loss targets or masks), in declaration order.
func (g *Graph) DataInputs() []string {
	lossOnly := map[string]bool{}
	for _, l := range g.Losses {
		lossOnly[l.Target] = true
		if l.Mask != "" {
			lossOnly[l.Mask] = true
		}
	}
	var out []string
	for _, n := range g.Nodes {
		if n.Op == OpInput && !lossOnly[n.Name] {
			out = append(out, n.Name)
		}
	}
	return out
}
