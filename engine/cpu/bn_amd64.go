package cpu

import "golang.org/x/sys/cpu"

// The BatchNorm's element loops in AVX2, 8 floats at a time: Go does not
// vectorise, and these loops were about a seventh of the hourglass's
// training step. On one core of the development machine a BatchNorm-ReLU
// of 8 x 64 x 32 x 32 went from 1.04-1.07 ms to 0.17-0.20 ms forward and
// from 0.84-0.97 ms to 0.19-0.24 ms backward. They compute what the Go
// loops they replace compute, with the same float32 operations in the
// same order (the float64 sums add in another order, within rounding).
var haveAVX2 = cpu.X86.HasAVX2

//go:noescape
func normReLUAVX2(x, y []float32, m, s, gm, bt float32)

//go:noescape
func maskSumDotAVX2(y, dy, a, x []float32, m, s float32) (sum, dot float64)

//go:noescape
func bnDXAVX2(src, x, dx []float32, m, s, k1, mdy, mdyx float32)

//go:noescape
func sumAVX2(x []float32) float64

//go:noescape
func sqDevAVX2(x []float32, m float64) float64
