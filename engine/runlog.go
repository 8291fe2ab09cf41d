package engine

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// emit publishes an event and appends the important ones (everything but
// step and resource events) as a line to the run's log file,
// runs/<id>/log, so that a run's history can be read with `less`.
func (e *Engine) emit(ev Event) Event {
	ev = e.hub.publish(ev)
	if ev.Kind == EvStep || ev.Kind == EvResource || ev.Run == "" {
		return ev
	}
	line := logLine(ev)
	if line == "" {
		return ev
	}
	f, err := os.OpenFile(filepath.Join(e.st.runDir(ev.Run), "log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return ev
	}
	fmt.Fprintf(f, "%s %s\n", ev.Time.UTC().Format(time.RFC3339), line)
	f.Close()
	return ev
}

func logLine(ev Event) string {
	switch ev.Kind {
	case EvStarted:
		epochs := fmt.Sprintf("%d epochs", ev.Spec.Epochs)
		if ev.Spec.Epochs == 1 {
			epochs = "1 epoch"
		}
		return fmt.Sprintf("started: model %s preset %s, %s, batch %d, seed %d, data %s, device %s",
			ev.Spec.Model, ev.Spec.Preset, epochs, ev.Spec.Batch, ev.Spec.Seed, ev.Spec.DataLabel(), ev.Spec.Device)
	case EvEpoch:
		x := ev.Epoch
		// A new best is marked as train marks it; the other epochs carry
		// no mark (they ended "best false", a Go bool, now that the
		// workbench's Log view shows these lines).
		best := ""
		if x.Best {
			best = " (best)"
		}
		if !x.Validated() {
			return fmt.Sprintf("epoch %d (step %d): train loss %.5f, not validated (the data has no validation split)", x.Epoch+1, x.Step, x.TrainLoss)
		}
		if x.Pixel > 0 && !(x.MPJPE > 0) { // a 2D model: pixels and PCKh
			return fmt.Sprintf("epoch %d (step %d): train loss %.5f, val loss %.5f, val 2D error %s, PCKh@0.5 %.1f %%%s",
				x.Epoch+1, x.Step, x.TrainLoss, x.ValLoss, logNum(x.Pixel, "px"), 100*x.PCKh, best)
		}
		return fmt.Sprintf("epoch %d (step %d): train loss %.5f, val loss %.5f, val MPJPE %s, P-MPJPE %s, 3DPCK@150 %.1f %%, AUC %.1f %%%s",
			x.Epoch+1, x.Step, x.TrainLoss, x.ValLoss, logNum(x.MPJPE, "mm"), logNum(x.PMPJPE, "mm"), 100*x.PCK150, 100*x.AUC, best)
	case EvCheckpoint:
		// The file's name says whether it is the best one ("(best true)"
		// after best.ckpt, "(best false)" after last.ckpt said it again).
		return fmt.Sprintf("checkpoint %s at step %d", filepath.Base(ev.Ckpt.Path), ev.Ckpt.Step)
	case EvState:
		// A first state has no "from", and most changes no reason: they
		// wrote "state  -> queued " (two spaces, one trailing).
		line := "state " + string(ev.State.To)
		if ev.State.From != "" {
			line = fmt.Sprintf("state %s -> %s", ev.State.From, ev.State.To)
		}
		if ev.State.Reason != "" {
			// "state running -> stopped: stopped by the user": without the
			// colon the new state ran into its reason.
			line += ": " + ev.State.Reason
		}
		return line
	case EvFinished, EvFailed:
		if r := ev.Result; r != nil {
			reason := ""
			if ev.State != nil && ev.State.Reason != "" {
				reason = "; " + ev.State.Reason
			}
			// The seconds are this session's: after a resume or an extension
			// "864 steps, 0.9 s" read as all of them trained in 0.9 s.
			steps := fmt.Sprintf("%d steps", r.Steps)
			if r.SessionSteps != r.Steps {
				steps += fmt.Sprintf(" (this session %d)", r.SessionSteps)
			}
			if r.ValPx > 0 {
				return fmt.Sprintf("%s: val 2D error %s, best %s, fixed-mean baseline %s, %s, %.1f s, %.0f samples/s%s",
					ev.Kind, logNum(r.ValPx, "px"), logNum(r.BestValPx, "px"), logNum(r.BaselinePx, "px"), steps, r.Seconds, r.SamplesPerSec, reason)
			}
			return fmt.Sprintf("%s: val MPJPE %s, best %s, mean-pose baseline %s, %s, %.1f s, %.0f samples/s%s",
				ev.Kind, logNum(r.ValMPJPE, "mm"), logNum(r.BestValMPJPE, "mm"), logNum(r.BaselineMPJPE, "mm"), steps, r.Seconds, r.SamplesPerSec, reason)
		}
		return string(ev.Kind)
	case EvLog:
		return ev.Log
	}
	return ""
}

// logNum writes a value with its unit, or "-" where there is none (no
// validation yet: NaN).
func logNum(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

// logTailBytes bounds what LogTail reads: the end of a log whose lines are
// at most a few hundred bytes holds far more lines than a screen shows.
const logTailBytes = 256 << 10

// LogTail returns the last n lines of a run's log file (oldest first), and
// whether the file holds earlier ones (cut by n or by the read's bound), as
// its process wrote them: also for runs of earlier sessions and of other
// processes, which publish no events here. n < 0 returns the whole log
// (`runs log` without -n), which is not bounded to logTailBytes. A run
// with no log yet has none.
func (e *Engine) LogTail(id string, n int) (lines []string, earlier bool, err error) {
	if _, ok := e.Run(id); !ok {
		return nil, false, fmt.Errorf("no run %q", id)
	}
	f, err := os.Open(filepath.Join(e.st.runDir(id), "log"))
	if os.IsNotExist(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	from := max(st.Size()-logTailBytes, 0)
	if n < 0 {
		from = 0
	}
	buf := make([]byte, st.Size()-from)
	if _, err := f.ReadAt(buf, from); err != nil && err != io.EOF {
		return nil, false, err
	}
	text := strings.TrimRight(string(buf), "\n")
	if text == "" {
		return nil, false, nil
	}
	lines = strings.Split(text, "\n")
	earlier = from > 0
	if earlier {
		lines = lines[1:] // cut by the read: not a whole line
	}
	if n >= 0 && len(lines) > n {
		lines, earlier = lines[len(lines)-n:], true
	}
	return lines, earlier, nil
}
