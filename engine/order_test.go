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

// One rule tells a 2D run (px) for the workbench and the CLI: the newest
// scored epoch, or where none was scored the model's registration.
func TestValIn2D(t *testing.T) {
	px := EpochInfo{Pixel: 12}
	mm := EpochInfo{MPJPE: 50, PerJoint: make([]float64, 17)}
	none := EpochInfo{}
	for _, c := range []struct {
		model string
		eps   []EpochInfo
		want  bool
	}{
		{"sh", nil, false},
		{"sh", []EpochInfo{px}, true},
		{"sh", []EpochInfo{px, none}, true}, // the newest scored one
		{"sb", []EpochInfo{mm, none}, false},
		{"sh", []EpochInfo{none}, true}, // never scored: SH registers Pixels
		{"sb", []EpochInfo{none}, false},
	} {
		if got := ValIn2D(c.model, c.eps); got != c.want {
			t.Errorf("%s %+v: %v, want %v", c.model, c.eps, got, c.want)
		}
	}
}
