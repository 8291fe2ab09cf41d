package engine

import (
	"math"
	"testing"
)

func TestSortBestFirst(t *testing.T) {
	type run struct {
		id string
		v  float64
		px bool
	}
	runs := []run{{"none", math.NaN(), false}, {"px9", 9, true}, {"mm50", 50, false}, {"zero", 0, true},
		{"px3", 3, true}, {"mm40", 40, false}, {"mm40b", 40, false}}
	calls := 0
	SortBestFirst(runs, func(r run) (float64, bool) { calls++; return r.v, r.px })
	var got []string
	for _, r := range runs {
		got = append(got, r.id)
	}
	want := []string{"mm40", "mm40b", "mm50", "px3", "px9", "none", "zero"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v (mm, then px, then none, stable)", got, want)
		}
	}
	if calls != len(runs) {
		t.Errorf("best called %d times for %d runs; once each", calls, len(runs))
	}
}
