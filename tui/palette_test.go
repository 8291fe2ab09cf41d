package tui

import (
	"sync"
	"testing"
)

// `poselab serve` draws every session's workbench on its own goroutine:
// the palette's style cache is shared by them all, and the first use of an
// index (a new run's colour) writes it while other sessions read it. A
// plain map there is a fatal "concurrent map writes" that ends the server
// and every run in it.
func TestPaletteStyleConcurrentSessions(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				paletteStyle(1000 + g*5000 + i) // each a first use
				paletteStyle(i % 100)
			}
		}(g)
	}
	wg.Wait()
	if paletteStyle(colBad).GetForeground() == nil || paletteStyle(0).GetForeground() != paletteStyle(len(runPalette)).GetForeground() {
		t.Fatal("palette styles changed")
	}
}
