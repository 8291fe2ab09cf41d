package tui

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// logReader reads the end of a run's log file (engine.Engine.LogTail).
// The file, not this session's events, is what the view shows: it is the
// one record that also holds what happened before this process saw the
// run (earlier sessions, other processes' runs) and the messages the
// training process wrote for requests, divergence and checkpoints.
type logReader interface {
	LogTail(id string, n int) (lines []string, earlier bool, err error)
}

// logKeep is how many lines of a log the view holds: hours of epochs.
const logKeep = 2000

// logEvery is how often the shown log is read again while nothing says
// it changed (a foreign run's process writes it, unseen here).
const logEvery = time.Second

// logView is the Log tab's state: the selected run's tail, when it was
// read, and how far the user scrolled up from the newest line (0 follows).
type logView struct {
	id      string
	lines   []string
	err     error
	at      time.Time
	dirty   bool // an event of the run came: read again at the next draw
	off     int  // display rows scrolled up from the end
	added   int  // lines read since the last draw, below a scrolled view
	earlier bool // the log holds older lines than these
}

// show puts the view on a run: another run's log starts at its end.
func (v *logView) show(id string) {
	if id != v.id {
		*v = logView{id: id, dirty: true}
	}
}

// tail returns the selected run's log lines, read again when stale.
func (v *logView) tail(r logReader, id string) ([]string, error) {
	v.show(id)
	if r != nil && (v.dirty || time.Since(v.at) >= logEvery) {
		old := v.lines
		v.lines, v.earlier, v.err = r.LogTail(id, logKeep)
		v.at, v.dirty = time.Now(), false
		// The offset counts rows from the end: scrolled up, the user's
		// place moves down by what was appended (found after the last
		// line read before: the oldest drop out once logKeep are held).
		if v.off > 0 && len(old) > 0 {
			for j := len(v.lines) - 1; j >= 0; j-- {
				if v.lines[j] == old[len(old)-1] {
					v.added += len(v.lines) - 1 - j
					break
				}
			}
		}
	}
	return v.lines, v.err
}

// scroll moves the view by n display rows (positive: older).
func (v *logView) scroll(n int) { v.off = max(v.off+n, 0) }

// renderLog draws a run's log: newest at the bottom, each line with its
// time of day (UTC, as the file has it; the date where it is not today's)
// and wrapped under its text, in colours that pick out trouble.
func renderLog(v *logView, r logReader, id, runsDir string, w, h int) string {
	if r == nil {
		return blankBlock(w, h, stDim.Render(" This engine keeps no run log."))
	}
	lines, err := v.tail(r, id)
	path := filepath.Join(runsDir, id, "log")
	if err != nil {
		v.added = 0
		return blankBlock(w, h, stErr.Render(" "+oneLine(err.Error())))
	}
	today := time.Now().UTC().Format("2006-01-02")
	if v.added > 0 {
		for _, l := range lines[max(len(lines)-v.added, 0):] {
			v.off += len(logRows(l, today, w-1))
		}
		v.added = 0
	}
	// Only the lines on screen are wrapped, from the newest up: all of
	// them (logKeep) took 14 ms a frame, a sixth of a core at the
	// workbench's frame rate, for every viewer.
	body := max(h-1, 1)
	// Each line's rows are kept newest first and joined once: put before
	// the newer ones as they came, every line copied all of those again
	// (68 MB a frame scrolled to the top of logKeep lines).
	var byLine [][]string
	n := 0
	i := len(lines) - 1
	for ; i >= 0 && n < body+v.off; i-- {
		lr := logRows(lines[i], today, w-1)
		byLine = append(byLine, lr)
		n += len(lr)
	}
	rows := make([]string, 0, n) // the newest rows, oldest first
	for k := len(byLine) - 1; k >= 0; k-- {
		rows = append(rows, byLine[k]...)
	}
	if i < 0 { // every line read: the view cannot scroll past the first
		v.off = min(v.off, max(len(rows)-body, 0))
	}
	end := len(rows) - v.off
	shown := rows[max(end-body, 0):end]
	title := fmt.Sprintf(" log · %s · %s", path, plural(len(lines), "line"))
	if v.earlier { // `poselab runs log` prints them all
		title += " (its last; older ones: poselab runs log)"
	}
	if v.off > 0 {
		title += fmt.Sprintf(" · %s newer below (end: follow)", plural(v.off, "row"))
	} else if len(lines) == 0 {
		title += " · nothing written yet"
	}
	out := []string{fitStyled(stTitle.Render(title), w)}
	for _, s := range shown {
		out = append(out, " "+s)
	}
	return strings.Join(out, "\n")
}

// logRows formats one log line ("2026-11-26T21:15:01Z text") as display
// rows of at most w cells: the time, then the text wrapped under itself.
func logRows(line, today string, w int) []string {
	stamp, text, ok := strings.Cut(line, " ")
	at, err := time.Parse(time.RFC3339, stamp)
	if !ok || err != nil {
		stamp, text = "", line // not one of ours: shown as it is
	} else if at.UTC().Format("2006-01-02") == today {
		stamp = at.UTC().Format("15:04:05")
	} else {
		stamp = at.UTC().Format("01-02 15:04:05")
	}
	indent := 0
	if stamp != "" {
		indent = len(stamp) + 1
	}
	text = visibleControls(text)
	st := logStyle(text)
	wrapped := strings.Split(ansi.Wrap(text, max(w-indent, 10), ""), "\n")
	rows := make([]string, len(wrapped))
	for i, part := range wrapped {
		lead := strings.Repeat(" ", indent)
		if i == 0 && stamp != "" {
			lead = stDim.Render(stamp) + " "
		}
		rows[i] = lead + st.Render(part)
	}
	return rows
}

// visibleControls writes a line's control characters as Go escapes
// (tabs as a space): the line is the run's text, often quoting a file or
// another program, and its escape sequences went to the terminal as they
// were (clearing the screen, retitling the window), a tab or carriage
// return moved the cursor past the width the view had measured.
func visibleControls(s string) string {
	s = strings.ToValidUTF8(s, "\ufffd")
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// logStyle picks out what needs the user: failures and divergence in red,
// pauses and requests of other processes in amber, the end in green;
// checkpoints, the bulk of a log, recede.
func logStyle(text string) lipgloss.Style {
	switch {
	case strings.HasPrefix(text, "failed") || strings.Contains(text, "-> failed") ||
		strings.Contains(text, "diverged") || strings.Contains(text, "error:"):
		return stErr
	case strings.HasPrefix(text, "finished"):
		return stOK
	case strings.Contains(text, "-> paused") || strings.Contains(text, "-> stopped") ||
		strings.Contains(text, "asked by poselab process") || strings.Contains(text, "interrupted"):
		return paletteStyle(colWarn)
	case strings.HasPrefix(text, "checkpoint "):
		return stFaint
	}
	return lipgloss.NewStyle()
}
