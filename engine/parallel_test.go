package engine

import (
	"fmt"
	"sync/atomic"
	"testing"
)

func TestForEachSampleVisitsEveryIndexOnceAndReportsTheFirstError(t *testing.T) {
	const n = 1000
	var seen [n]atomic.Int32
	if err := forEachSample(n, func(k int) error { seen[k].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for k := range seen {
		if c := seen[k].Load(); c != 1 {
			t.Fatalf("index %d visited %d times", k, c)
		}
	}
	err := forEachSample(n, func(k int) error {
		if k == 700 || k == 300 {
			return fmt.Errorf("bad %d", k)
		}
		return nil
	})
	if err == nil || err.Error() != "bad 300" {
		t.Fatalf("err = %v, want the lowest failing index's error", err)
	}
	if err := forEachSample(0, func(int) error { return fmt.Errorf("called") }); err != nil {
		t.Fatal("f called for n = 0")
	}
}
