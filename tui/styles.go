package tui

import (
	"sync"

	"charm.land/lipgloss/v2"
)

// Colours are ANSI-256 indices: the Bubble Tea renderer downsamples them to
// the terminal's (or SSH client's) colour profile, and drops them entirely
// under NO_COLOR, so nothing here checks the terminal itself. Everything a
// colour says is also said in text (legends, numbers, state words).

// runPalette gives each run a stable colour by first appearance.
var runPalette = []string{"39", "208", "76", "170", "220", "45", "203", "141"}

// Palette indices beyond the run colours (see paletteStyle).
const (
	colAxis = 100 + iota
	colDim
	colMarker
	colFuture
	colGood
	colWarn
	colBad
	colLeft
	colRight
	colMid
	colLeftGT
	colRightGT
	colMidGT
	colRaw // raw (unsmoothed) loss under the smoothed curve
)

var paletteColors = map[int]string{
	colAxis:    "244",
	colDim:     "240",
	colMarker:  "231",
	colFuture:  "244",
	colGood:    "71",
	colWarn:    "178",
	colBad:     "167",
	colLeft:    "39",
	colRight:   "203",
	colMid:     "231",
	colLeftGT:  "24",
	colRightGT: "88",
	colMidGT:   "245",
	colRaw:     "238",
}

// paletteCache holds the styles made so far (int -> lipgloss.Style). It
// is shared by every workbench in the process, and `poselab serve` draws
// each session's on its own goroutine: a plain map written at a new run's
// first colour while another session reads it is a fatal error.
var paletteCache sync.Map

// paletteStyle maps a palette index (run colour or one of the col*
// constants) to a style.
func paletteStyle(i int) lipgloss.Style {
	if s, ok := paletteCache.Load(i); ok {
		return s.(lipgloss.Style)
	}
	var c string
	if i >= 0 && i < 100 {
		c = runPalette[i%len(runPalette)]
	} else {
		c = paletteColors[i]
	}
	s := lipgloss.NewStyle().Foreground(lipgloss.Color(c))
	paletteCache.Store(i, s)
	return s
}

// Text styles used across panes.
var (
	stTitle    = lipgloss.NewStyle().Bold(true)
	stHeader   = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("252")).Background(lipgloss.Color("236"))
	stDim      = lipgloss.NewStyle().Foreground(lipgloss.Color("244"))
	stFaint    = lipgloss.NewStyle().Foreground(lipgloss.Color("240"))
	stSelected = lipgloss.NewStyle().Reverse(true)
	stTabOn    = lipgloss.NewStyle().Bold(true).Reverse(true).Padding(0, 1)
	stTabOff   = lipgloss.NewStyle().Foreground(lipgloss.Color("246")).Padding(0, 1)
	stKey      = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("81"))
	stErr      = lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("203"))
	stOK       = lipgloss.NewStyle().Foreground(lipgloss.Color("71"))
	stBadge    = lipgloss.NewStyle().Bold(true).Reverse(true).Padding(0, 1)
	stBox      = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(lipgloss.Color("244")).Padding(0, 1)
)

// stateStyle colours a run state word.
func stateStyle(s string) lipgloss.Style {
	switch s {
	case "running":
		return lipgloss.NewStyle().Foreground(lipgloss.Color("76"))
	case "paused", "queued":
		return lipgloss.NewStyle().Foreground(lipgloss.Color("178"))
	case "failed":
		return lipgloss.NewStyle().Foreground(lipgloss.Color("203"))
	case "finished":
		return lipgloss.NewStyle().Foreground(lipgloss.Color("39"))
	}
	return stDim
}
