// Package nn is the small language in which poselab's models are written
// once: a graph of layers (Linear, Conv2d, BatchNorm, ...) with losses,
// plus the Backend interface that turns such a graph into something that
// trains. The CPU backend (gorgonia) and the CUDA backend both compile the
// same Graph, so a model never knows where it runs.
package nn

import "fmt"

// Tensor is a dense float32 host tensor in row-major (C) order. The first
// dimension of a batch tensor is the batch.
type Tensor struct {
	Shape []int
	Data  []float32
}

// NewTensor allocates a zero tensor of the given shape.
func NewTensor(shape ...int) *Tensor {
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float32, Numel(shape))}
}

// Numel is the number of elements of a shape.
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Check returns an error when the data length does not match the shape.
func (t *Tensor) Check() error {
	if t == nil {
		return fmt.Errorf("nil tensor")
	}
	if len(t.Data) != Numel(t.Shape) {
		return fmt.Errorf("tensor of shape %v holds %d values, want %d", t.Shape, len(t.Data), Numel(t.Shape))
	}
	return nil
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
