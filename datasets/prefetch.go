package datasets

import (
	"context"
	"runtime"
	"sync"
)

// Item is one prefetched crop: K is its position in the requested order,
// Index the sample index it was made from.
type Item struct {
	K     int
	Index int
	Crop  *Crop
	Err   error
}

// PrefetchFunc makes crops produce(k, index) for the given indices on workers
// goroutines, at most depth ahead of the consumer, and delivers them on the
// returned channel in the order of indices. The channel closes after the
// last item or when ctx is cancelled. Each crop depends only on its index,
// so the results do not depend on the number of workers.
func PrefetchFunc(ctx context.Context, indices []int, produce func(k, index int) (*Crop, error), workers, depth int) <-chan Item {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if depth < workers {
		depth = 2 * workers
	}
	out := make(chan Item, depth)
	slots := make(chan chan Item, depth) // result slots in request order
	jobs := make(chan int)
	var wg sync.WaitGroup
	results := make([]chan Item, len(indices))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				c, err := produce(k, indices[k])
				results[k] <- Item{K: k, Index: indices[k], Crop: c, Err: err}
			}
		}()
	}
	// Dispatcher: a slot is reserved before its job starts, so at most
	// depth crops are in flight or waiting.
	go func() {
		defer close(jobs)
		defer close(slots)
		for k := range indices {
			results[k] = make(chan Item, 1)
			select {
			case slots <- results[k]:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- k:
			case <-ctx.Done():
				return
			}
		}
	}()
	// Collector: hands results over in order.
	go func() {
		defer close(out)
		defer wg.Wait()
		for slot := range slots {
			var it Item
			select {
			case it = <-slot:
			case <-ctx.Done():
				go drain(slots)
				return
			}
			select {
			case out <- it:
			case <-ctx.Done():
				go drain(slots)
				return
			}
		}
	}()
	return out
}

func drain(slots chan chan Item) {
	for range slots {
	}
}

// Prefetch serves the crops of records indices of split from any data set,
// each cut as spec(k) says (k: position in indices), in order.
func Prefetch(ctx context.Context, ds Dataset, split Split, indices []int, spec func(k int) CropSpec, workers, depth int) <-chan Item {
	return PrefetchFunc(ctx, indices, func(k, i int) (*Crop, error) { return ds.Image(split, i, spec(k)) }, workers, depth)
}

// PrefetchMPII is Prefetch for a data set's MPII-like people.
func PrefetchMPII(ctx context.Context, ds Dataset, split Split, indices []int, spec func(k int) CropSpec, workers, depth int) <-chan Item {
	return PrefetchFunc(ctx, indices, func(k, i int) (*Crop, error) { return ds.MPIIImage(split, i, spec(k)) }, workers, depth)
}
