package cpu

import (
	"runtime"
	"sync"
)

// Element-wise kernels (BatchNorm, ReLU, dropout, Adam, mask drawing) run
// on all cores: with BLAS using every core for the matrix products, a
// single-threaded Go loop would otherwise leave the others idle for a
// third of a training step.

// minChunk is the least work (elements) worth a goroutine.
var minChunk = 16 << 10

// parallelFor calls fn on disjoint ranges covering [0, n), concurrently
// when n is large enough. work is the cost of one index in elements.
func parallelFor(n, work int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if w := n * work / minChunk; w < workers {
		workers = w
	}
	if workers > n {
		workers = n
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	step := (n + workers - 1) / workers
	for lo := step; lo < n; lo += step {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+step, n))
	}
	fn(0, min(step, n))
	wg.Wait()
}
