package procmem

import (
	"runtime"
	"testing"
)

func TestParse(t *testing.T) {
	if got := parseStatm([]byte("51234 7890 1234 10 0 3000 0\n"), 4096); got != 7890*4096 {
		t.Errorf("statm: %d", got)
	}
	if got := parseStatm([]byte("junk"), 4096); got != 0 {
		t.Errorf("bad statm: %d", got)
	}
	tot, avail := parseMeminfo([]byte("MemTotal:       16303456 kB\nMemFree:  100 kB\nMemAvailable:   12000000 kB\n"))
	if tot != 16303456<<10 || avail != 12000000<<10 {
		t.Errorf("meminfo: %d %d", tot, avail)
	}
}

// On Linux the process's RSS is real: more than its Go heap in use, less
// than the machine's memory.
func TestThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := RSS()
	tot, avail := RAM()
	if rss < int64(ms.HeapInuse) || tot <= rss || avail <= 0 || avail > tot {
		t.Fatalf("rss %d (heap %d), RAM %d, available %d", rss, ms.HeapInuse, tot, avail)
	}
}
