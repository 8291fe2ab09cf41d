package datasets

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Crops arrive in request order whatever order the workers finish in, at
// most depth ahead of the consumer, and errors travel with their item.
func TestPrefetchFuncOrderDepthAndErrors(t *testing.T) {
	idx := []int{7, 3, 9, 0, 4, 4, 12, 1, 8, 2, 6, 5}
	var inFlight, most atomic.Int32
	produce := func(k, i int) (*Crop, error) {
		n := inFlight.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Duration((i*7)%5) * time.Millisecond) // finish out of order
		inFlight.Add(-1)
		if i == 12 {
			return nil, errors.New("bad sample")
		}
		return &Crop{Size: i}, nil
	}
	k := 0
	for it := range PrefetchFunc(context.Background(), idx, produce, 4, 4) {
		if it.K != k || it.Index != idx[k] {
			t.Fatalf("item %d: got K %d index %d", k, it.K, it.Index)
		}
		if idx[k] == 12 {
			if it.Err == nil {
				t.Fatal("error lost")
			}
		} else if it.Err != nil || it.Crop.Size != idx[k] {
			t.Fatalf("item %d: %v %v", k, it.Err, it.Crop)
		}
		time.Sleep(time.Millisecond) // a slow consumer
		k++
	}
	if k != len(idx) {
		t.Fatalf("%d items, want %d", k, len(idx))
	}
	if most.Load() > 4 {
		t.Fatalf("%d crops in flight with 4 workers", most.Load())
	}
}

func TestPrefetchFuncEmptyAndCancel(t *testing.T) {
	n := 0
	for range PrefetchFunc(context.Background(), nil, func(k, i int) (*Crop, error) { return nil, nil }, 2, 2) {
		n++
	}
	if n != 0 {
		t.Fatal("items from no indices")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	idx := make([]int, 1000)
	for range PrefetchFunc(ctx, idx, func(k, i int) (*Crop, error) { return &Crop{}, nil }, 2, 2) {
		n++
	}
	if n > 4 {
		t.Fatalf("%d items after cancel", n)
	}
}
