package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"poselab/engine"
)

// fmtCount writes an integer with thousands separators: 12345 -> "12,345".
func fmtCount(n int) string {
	s := strconv.Itoa(abs(n))
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fmtSI writes a number compactly for axis ticks: 1500 -> "1.5k".
func fmtSI(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimZero(fmt.Sprintf("%.1f", v/1e9)) + "G"
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e4:
		return trimZero(fmt.Sprintf("%.0f", v/1e3)) + "k"
	case a >= 1e3:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	}
	return fmtNum(v)
}

// fmtNum writes a value with 3 significant digits, switching to exponent
// notation for very small or large magnitudes.
// epochNo is how an epoch is shown: the engine numbers validations from 0
// (EpochInfo.Epoch), people and the CLI from 1, as the runs list's "8/8".
func epochNo(e int) int { return e + 1 }

// fmtPct shows a fraction (0..1) as a percentage, "87.3 %".
func fmtPct(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*v)
}

func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if v == 0 {
		return "0" // also -0, which a tick just below zero rounds to
	}
	a := math.Abs(v)
	if a < 1e-3 || a >= 1e6 {
		return strings.Replace(fmt.Sprintf("%.1e", v), "e-0", "e-", 1)
	}
	if a >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return trimZero(strconv.FormatFloat(v, 'g', 3, 64))
}

// fmtMM writes a distance in millimetres, or "–" before it is known.
func fmtMM(v float64) string {
	if math.IsNaN(v) || v <= 0 || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.1f", v)
}

func trimZero(s string) string {
	if strings.Contains(s, ".") && !strings.Contains(s, "e") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// fmtDur writes a duration as the two largest units: "1h05m", "4m12s", "9s".
func fmtDur(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s >= 86400:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	case s >= 3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	case s >= 60:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}

// fmtBytes writes a byte count in binary units.
func fmtBytes(n int64) string {
	const k = 1024
	switch {
	case n >= k*k*k:
		return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
	case n >= k*k:
		return fmt.Sprintf("%.0f MiB", float64(n)/(k*k))
	case n >= k:
		return fmt.Sprintf("%.0f KiB", float64(n)/k)
	}
	return fmt.Sprintf("%d B", n)
}

// fitWidth cuts or pads plain text to exactly w cells.
func fitWidth(s string, w int) string {
	// In cells, not runes: a CJK run name (two cells a rune) counted in
	// runes overflowed its column and pushed the list's others right.
	w = max(w, 0)
	if ansi.StringWidth(s) > w {
		if w <= 1 {
			s = ansi.Truncate(s, w, "")
		} else {
			s = ansi.Truncate(s, w-1, "") + "…"
		}
	}
	return s + strings.Repeat(" ", max(w-ansi.StringWidth(s), 0))
}

// truncate cuts a styled string to w cells, keeping its escape codes valid.
func truncate(s string, w int) string { return ansi.Truncate(s, w, "…") }

// memText is a resource sample's memory, labelled by what it counts: a
// GPU's memory of its total ("mem 5.0 GiB / 80.0 GiB"), or a CPU run's
// process resident set of the machine's RAM ("RSS 310 MiB / RAM 15.5
// GiB"); "" when unknown.
func memText(res *engine.Resource) string {
	if res.MemUsedBytes <= 0 {
		return ""
	}
	if res.MemKind == engine.MemHost {
		if res.MemTotalBytes > 0 {
			return fmt.Sprintf("RSS %s / RAM %s", fmtBytes(res.MemUsedBytes), fmtBytes(res.MemTotalBytes))
		}
		return "RSS " + fmtBytes(res.MemUsedBytes)
	}
	if res.MemTotalBytes > 0 {
		return fmt.Sprintf("mem %s / %s", fmtBytes(res.MemUsedBytes), fmtBytes(res.MemTotalBytes))
	}
	return "mem " + fmtBytes(res.MemUsedBytes)
}
