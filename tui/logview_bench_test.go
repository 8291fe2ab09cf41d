package tui

import (
	"fmt"
	"testing"
)

// BenchmarkRenderLog draws the Log view of a run whose log holds what the
// view keeps (logKeep lines of validations), as each frame does.
func BenchmarkRenderLog(b *testing.B) {
	f := fixture()
	long := make([]string, logKeep)
	for i := range long {
		long[i] = fmt.Sprintf("2025-03-14T09:00:00Z epoch %d (step %d): train loss 0.36984, val loss 0.29816, val MPJPE 81.84 mm, P-MPJPE 65.08 mm, 3DPCK@150 86.4 %%, AUC 53.0 %% (best)", i, 32*i)
	}
	f.logs["sb-demo"] = long
	v := &logView{}
	for b.Loop() {
		renderLog(v, f, "sb-demo", "/runs", 120, 35)
	}
}
