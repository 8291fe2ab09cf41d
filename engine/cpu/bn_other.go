//go:build !amd64

package cpu

// Elsewhere the Go loops run (see bn_amd64.go).
const haveAVX2 = false

func normReLUAVX2(x, y []float32, m, s, gm, bt float32)                     { panic("no AVX2") }
func maskSumDotAVX2(y, dy, a, x []float32, m, s float32) (sum, dot float64) { panic("no AVX2") }
func bnDXAVX2(src, x, dx []float32, m, s, k1, mdy, mdyx float32)            { panic("no AVX2") }
func sumAVX2(x []float32) float64                                           { panic("no AVX2") }
func sqDevAVX2(x []float32, m float64) float64                              { panic("no AVX2") }
