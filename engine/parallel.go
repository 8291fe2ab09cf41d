package engine

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// forEachSample runs f(0..n-1) on all cores and returns the error of the
// lowest failing index. Image tasks render and cut their crops with it:
// each sample depends only on (seed, step, index), so the batch is the
// same bytes whatever the schedule, and a GPU is not left waiting on one
// core's rendering.
func forEachSample(n int, f func(k int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for k := 0; k < n; k++ {
			if err := f(k); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				errs[k] = f(k)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
