package cpu

import (
	"testing"

	"poselab/nn"
)

// predict1 compiles a one-layer graph (float32, batch 1), sets its
// parameters and returns the output for input x.
func predict1(t *testing.T, build func(b *nn.Builder, x *nn.Value) *nn.Value, inShape []int, params map[string][]float64, x ...float32) *nn.Tensor {
	t.Helper()
	b := nn.NewBuilder()
	y := build(b, b.Input("x", inShape...))
	b.Output("y", y)
	p, err := New().Compile(b.Build(), nn.Options{Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range params {
		setParam(t, p.(*program), name, v...)
	}
	out, err := p.Predict(nn.Batch{"x": tensorOf(append([]int{1}, inShape...), x...)})
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]int{1}, y.Shape...); !nn.SameShape(out["y"].Shape, want) {
		t.Fatalf("output shape %v, want %v", out["y"].Shape, want)
	}
	return out["y"]
}

func TestConv2dForward(t *testing.T) {
	img := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	y := predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.Conv2d("c", x, 1, 2, 1, 0, true) },
		[]int{1, 3, 3}, map[string][]float64{"c.weight": {1, 1, 1, 1}, "c.bias": {0.5}}, img...)
	assertData(t, "conv k2 s1", y, 12.5, 16.5, 24.5, 28.5)
	// Stride 2, padding 1: windows at (-1,-1), (-1,1), (1,-1), (1,1).
	y = predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.Conv2d("c", x, 1, 2, 2, 1, false) },
		[]int{1, 3, 3}, map[string][]float64{"c.weight": {1, 1, 1, 1}}, img...)
	assertData(t, "conv k2 s2 p1", y, 1, 5, 11, 28)
	// Two input channels, weight [Out=1, C=2, 1, 1].
	y = predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.Conv2d("c", x, 1, 1, 1, 0, false) },
		[]int{2, 1, 2}, map[string][]float64{"c.weight": {2, -1}}, 1, 2, 10, 20)
	assertData(t, "conv 1x1", y, -8, -16)
}

func TestConvTranspose2dForward(t *testing.T) {
	x := []float32{1, 2, 3, 4}
	// k2 s2: each input pixel stamps the kernel at (2i, 2j).
	y := predict1(t, func(b *nn.Builder, v *nn.Value) *nn.Value { return b.ConvTranspose2d("t", v, 1, 2, 2, 0, false) },
		[]int{1, 2, 2}, map[string][]float64{"t.weight": {1, 0, 0, 1}}, x...)
	assertData(t, "convT k2 s2", y,
		1, 0, 2, 0,
		0, 1, 0, 2,
		3, 0, 4, 0,
		0, 3, 0, 4)
	// k2 s1: overlapping stamps add up; plus bias.
	y = predict1(t, func(b *nn.Builder, v *nn.Value) *nn.Value { return b.ConvTranspose2d("t", v, 1, 2, 1, 0, true) },
		[]int{1, 2, 2}, map[string][]float64{"t.weight": {1, 1, 1, 1}, "t.bias": {1}}, x...)
	assertData(t, "convT k2 s1", y, 2, 4, 3, 5, 11, 7, 4, 8, 5)
	// k3 s2 p1 (output 3x3): padding crops the full 5x5 result's border.
	y = predict1(t, func(b *nn.Builder, v *nn.Value) *nn.Value { return b.ConvTranspose2d("t", v, 1, 3, 2, 1, false) },
		[]int{1, 2, 2}, map[string][]float64{"t.weight": {1, 1, 1, 1, 1, 1, 1, 1, 1}}, x...)
	// Full 5x5: rows 0-2 get 1's stamp, cols 0-2; 2's at cols 2-4; etc.
	// Cropped to [1:4, 1:4].
	assertData(t, "convT k3 s2 p1", y, 1, 3, 2, 4, 10, 6, 3, 7, 4)
	// Channels: weight [C=2, Out=1, 1, 1].
	y = predict1(t, func(b *nn.Builder, v *nn.Value) *nn.Value { return b.ConvTranspose2d("t", v, 1, 1, 1, 0, false) },
		[]int{2, 1, 1}, map[string][]float64{"t.weight": {3, -1}}, 2, 5)
	assertData(t, "convT 1x1", y, 1)
}

func TestMaxPoolForward(t *testing.T) {
	img := []float32{
		1, 5, 2, 0,
		3, 4, 8, 1,
		0, 9, 6, 7,
		2, 1, 3, 4}
	y := predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.MaxPool2d(x, 2, 2, 0) }, []int{1, 4, 4}, nil, img...)
	assertData(t, "maxpool k2 s2", y, 5, 8, 9, 7)
	y = predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.MaxPool2d(x, 3, 2, 1) }, []int{1, 4, 4}, nil, img...)
	assertData(t, "maxpool k3 s2 p1", y, 5, 8, 9, 9)
	neg := make([]float32, 4)
	for i := range neg {
		neg[i] = -float32(i + 1)
	}
	y = predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.MaxPool2d(x, 2, 1, 1) }, []int{1, 2, 2}, nil, neg...)
	// Padding never wins, even against negative values.
	assertData(t, "maxpool of negatives", y, -1, -1, -2, -1, -1, -2, -3, -3, -4)
}

func TestUpsampleAndAvgPool(t *testing.T) {
	y := predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.Upsample2x(x) }, []int{1, 2, 2}, nil, 1, 2, 3, 4)
	assertData(t, "upsample", y, 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4)
	y = predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.GlobalAvgPool(x) }, []int{2, 2, 2}, nil, 1, 2, 3, 4, 10, 20, 30, 40)
	assertData(t, "global average", y, 2.5, 25)
}

func TestSoftArgmax3DForward(t *testing.T) {
	const j, d, h, w = 2, 3, 4, 5
	vol := make([]float32, j*d*h*w)
	// Joint 0: one hot voxel at z=1, y=2, x=3. Joint 1: uniform.
	vol[(1*h+2)*w+3] = 60
	y := predict1(t, func(b *nn.Builder, x *nn.Value) *nn.Value { return b.SoftArgmax3D(x, j, d) }, []int{j * d, h, w}, nil, vol...)
	assertData(t, "soft-argmax", y, 3, 2, 1, 2, 1.5, 1)
}
