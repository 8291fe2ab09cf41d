package synth

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"poselab/datasets"
)

// BenchmarkRender256 renders 256x256 training crops (with augmentation) on
// all cores; the figure of interest is crops/s.
func BenchmarkRender256(b *testing.B) {
	d, err := New(Tiny, 1)
	if err != nil {
		b.Fatal(err)
	}
	recs, err := d.Records(datasets.Train)
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(1)
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1)) % len(recs)
			spec := datasets.CropSpec{Size: 256, ScaleAug: 0.9 + 0.2*float64(i%3)/2, RotDeg: float64(i%7-3) * 5, Flip: i%2 == 1}
			if _, err := d.Image(datasets.Train, i, spec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "crops/s")
	// On a shared machine wall time undercounts; CPU time per crop says
	// what all cores of an idle machine would reach: cores / cpu-ms.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/crop")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "cores")
}

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
