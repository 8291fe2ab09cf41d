package engine

import (
	"fmt"
	"os"
	"path/filepath"
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
		return fmt.Sprintf("started: model %s preset %s, %d epochs, batch %d, seed %d, data %s/%s, device %s",
			ev.Spec.Model, ev.Spec.Preset, ev.Spec.Epochs, ev.Spec.Batch, ev.Spec.Seed, ev.Spec.Data, ev.Spec.DataSize, ev.Spec.Device)
	case EvEpoch:
		x := ev.Epoch
		return fmt.Sprintf("epoch %d (step %d): train loss %.5f, val loss %.5f, val MPJPE %.2f mm, P-MPJPE %.2f mm, PCK150 %.3f, AUC %.3f, best %v",
			x.Epoch+1, x.Step, x.TrainLoss, x.ValLoss, x.MPJPE, x.PMPJPE, x.PCK150, x.AUC, x.Best)
	case EvCheckpoint:
		return fmt.Sprintf("checkpoint %s at step %d (best %v)", filepath.Base(ev.Ckpt.Path), ev.Ckpt.Step, ev.Ckpt.Best)
	case EvState:
		return fmt.Sprintf("state %s -> %s %s", ev.State.From, ev.State.To, ev.State.Reason)
	case EvFinished, EvFailed:
		if r := ev.Result; r != nil {
			return fmt.Sprintf("%s: val MPJPE %.2f mm, best %.2f mm, mean-pose baseline %.2f mm, %d steps, %.1f s, %.0f samples/s %s",
				ev.Kind, r.ValMPJPE, r.BestValMPJPE, r.BaselineMPJPE, r.Steps, r.Seconds, r.SamplesPerSec, ev.State.Reason)
		}
		return string(ev.Kind)
	case EvLog:
		return ev.Log
	}
	return ""
}
