package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"poselab/engine"
)

// printer renders events as a progress bar, plain lines or JSON lines.
type printer struct {
	w        io.Writer
	json     bool
	tty      bool
	barShown bool
	lastLine time.Time
	mem      string // the newest resource event's memory, " · RSS 310 MiB / RAM 15.5 GiB"
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	p := &printer{w: w, json: asJSON}
	if f, ok := w.(*os.File); ok && !asJSON {
		p.tty = isatty.IsTerminal(f.Fd())
	}
	return p
}

func (p *printer) finish() {
	if p.barShown {
		fmt.Fprintln(p.w)
		p.barShown = false
	}
}

func (p *printer) line(format string, a ...any) {
	p.clearBar()
	fmt.Fprintf(p.w, format+"\n", a...)
}

// clearBar erases the progress bar, so that the next line (here or on
// stderr, the same terminal) starts at the left.
func (p *printer) clearBar() {
	if p.barShown {
		fmt.Fprint(p.w, "\r\033[K")
		p.barShown = false
	}
}

// pct shows a fraction (0..1, as JSON and the run store keep 3DPCK, AUC
// and PCKh) to people as a percentage, "87.3 %".
func pct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", 100*x)
}

// etaText is " ETA 4m26s", or nothing while the run has no pace yet (its
// first step: the engine says 0).
func etaText(seconds float64) string {
	if !(seconds > 0) {
		return ""
	}
	return fmt.Sprintf(" ETA %v", (time.Duration(seconds) * time.Second).Round(time.Second))
}

func mm(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.1f mm", x)
}

func (p *printer) event(e *engine.Engine, ev engine.Event) {
	if p.json {
		if ev.Kind == engine.EvLog {
			why, queued := strings.CutPrefix(ev.Log, engine.QueuedLogPrefix)
			if !queued {
				return
			}
			// Why a queued run does not start (another process's run
			// holds or goes first on its device): a state event from
			// queued to queued with it, as runs watch --json gives
			// another process's waiting run; --json had nothing to
			// tell a run that waits from one that hangs.
			ev.Kind, ev.Log, ev.State = engine.EvState, "", &engine.StateInfo{From: engine.Queued, To: engine.Queued, Reason: why}
		}
		m := flatten(ev)
		if ev.Kind == engine.EvStarted {
			info, _ := e.Run(ev.Run)
			m["device"], m["total_steps"], m["steps_per_epoch"] = info.Device, info.TotalSteps, info.StepsPerEpoch
			m["baseline_mpjpe_mm"], m["step"], m["epoch"] = clean(info.BaselineMPJPE), info.Step, info.Epoch
			m["baseline_px"] = clean(info.BaselinePx) // 2D models (SH); null for 3D ones
		}
		b, err := json.Marshal(m)
		if err == nil {
			fmt.Fprintln(p.w, string(b))
		}
		return
	}
	switch ev.Kind {
	case engine.EvStarted:
		info, _ := e.Run(ev.Run)
		base := ""
		if b := info.BaselineMPJPE; !math.IsNaN(b) && !math.IsInf(b, 0) {
			base = ", baseline (mean pose) " + mm(b)
		} else if b := info.BaselinePx; b > 0 && !math.IsInf(b, 0) { // 2D models (SH): in px
			base = ", baseline (fixed mean 2D pose) " + valText(b, true)
		}
		name := ""
		if n := ev.Spec.Name; n != "" && n != ev.Run {
			name = " (" + n + ")"
		}
		p.line("run %s%s: %s preset %s on %s, %s x %d steps (batch %d), data %s%s",
			ev.Run, name, ev.Spec.Model, ev.Spec.Preset, info.Device, plural(ev.Spec.Epochs, "epoch"), info.StepsPerEpoch, ev.Spec.Batch,
			ev.Spec.DataLabel(), base)
	case engine.EvStep:
		s := ev.Step
		eta := etaText(s.ETASeconds)
		if p.tty {
			const width = 30
			frac := float64(s.Step) / math.Max(1, float64(s.TotalSteps))
			n := int(frac * width)
			fmt.Fprintf(p.w, "\r\033[K[%s%s] %3.0f%% step %d/%d epoch %d loss %.4f lr %.2e %.0f samples/s%s%s",
				strings.Repeat("#", n), strings.Repeat(".", width-n), 100*frac, s.Step, s.TotalSteps, s.Epoch+1, s.Loss, s.LR, s.SamplesPerSec, eta, p.mem)
			p.barShown = true
		} else if time.Since(p.lastLine) > 10*time.Second {
			p.lastLine = time.Now()
			p.line("step %d/%d loss %.4f lr %.2e %.0f samples/s%s%s", s.Step, s.TotalSteps, s.Loss, s.LR, s.SamplesPerSec, eta, p.mem)
		}
	case engine.EvResource:
		if t := memText(ev.Res); t != "" {
			p.mem = " · " + t
			// On a GPU box the question is whether the GPU is kept
			// busy (a CPU-bound input pipeline shows here first); the
			// workbench's status line says it the same way.
			if ev.Res.GPUUtil > 0 {
				p.mem += fmt.Sprintf(" · GPU %.0f%%", ev.Res.GPUUtil)
			}
		}
	case engine.EvEpoch:
		x := ev.Epoch
		best := ""
		if x.Best {
			best = " (best)"
		}
		if !x.Validated() {
			p.line("epoch %d step %d: train loss %.4f, not validated (the data has no validation split)", x.Epoch+1, x.Step, x.TrainLoss)
			break
		}
		if x.Pixel > 0 && !(x.MPJPE > 0) { // a 2D model: pixels and PCKh
			p.line("epoch %d step %d: train loss %.4g, val 2D error %.1f px%s, PCKh@0.5 %s", x.Epoch+1, x.Step, x.TrainLoss, x.Pixel, best, pct(x.PCKh))
			break
		}
		p.line("epoch %d step %d: train loss %.4f, val MPJPE %s%s, P-MPJPE %s, 3DPCK@150 %s", x.Epoch+1, x.Step, x.TrainLoss, mm(x.MPJPE), best, mm(x.PMPJPE), pct(x.PCK150))
	case engine.EvState:
		switch ev.State.To {
		case engine.Running, engine.Queued, engine.Finished, engine.Failed:
			// running is obvious from the bar; finished and failed have their own lines
		default:
			r := ""
			if ev.State.Reason != "" {
				r = ": " + ev.State.Reason
			}
			p.line("run %s %s%s", ev.Run, ev.State.To, r)
		}
	case engine.EvFinished:
		if ev.State != nil && ev.State.Reason != "" { // it ended early (Spec.Patience)
			p.line("run %s %s", ev.Run, ev.State.Reason)
		}
		r := ev.Result
		if r.ValPx > 0 {
			p.line("run %s finished: val 2D error %.1f px, best %.1f px, fixed-mean baseline %.1f px; %s",
				ev.Run, r.ValPx, r.BestValPx, r.BaselinePx, pace(r))
			break
		}
		p.line("run %s finished: val MPJPE %s, best %s, mean-pose baseline %s; %s",
			ev.Run, mm(r.ValMPJPE), mm(r.BestValMPJPE), mm(r.BaselineMPJPE), pace(r))
	case engine.EvFailed:
		p.line("run %s failed: %s", ev.Run, ev.State.Reason)
	case engine.EvLog:
		if strings.HasPrefix(ev.Log, engine.InitLogPrefix) { // what --init loaded, under the started line
			p.line("%s", ev.Log)
		}
		switch {
		case strings.HasPrefix(ev.Log, engine.QueuedLogPrefix): // before the started line: why it does not start yet
			p.line("run %s %s", ev.Run, ev.Log)
		case strings.HasPrefix(ev.Log, engine.SlotsLogPrefix):
			p.line("%s", ev.Log)
		}
	}
}

// flatten turns an event into one flat JSON object: "event", "run",
// "time" and the fields of its payload; NaN and Inf become null.
func flatten(ev engine.Event) map[string]any {
	m := map[string]any{"event": string(ev.Kind), "run": ev.Run, "seq": ev.Seq, "time": ev.Time.UTC().Format(time.RFC3339Nano)}
	merge := func(v any) {
		if v == nil || reflect.ValueOf(v).IsNil() {
			return
		}
		for k, x := range toMap(v) {
			m[k] = x
		}
	}
	switch ev.Kind {
	case engine.EvStarted:
		if ev.Spec != nil {
			m["spec"] = toMap(ev.Spec)
			m["model"], m["preset"] = ev.Spec.Model, ev.Spec.Preset
		}
	case engine.EvStep:
		merge(ev.Step)
	case engine.EvEpoch:
		if ev.Epoch != nil {
			for k, x := range epochMap(*ev.Epoch) {
				m[k] = x
			}
		}
	case engine.EvCheckpoint:
		merge(ev.Ckpt)
	case engine.EvState:
		merge(ev.State)
	case engine.EvFinished, engine.EvFailed:
		merge(ev.State)
		merge(ev.Result)
	case engine.EvResource:
		if r := ev.Res; r != nil {
			resourceMap(m, r)
		}
	}
	return m
}

// resourceMap adds a resource event's numbers with their units in the
// keys, as the workbench's resource line shows them: the memory counted
// (mem_kind "rss": the process's resident set of the machine's RAM;
// "device": the GPU's memory of its total), a total the backend cannot
// tell as null, and the GPU's utilisation only where the device reports
// it (the engine's 0 is "not reported", as the workbench reads it).
func resourceMap(m map[string]any, r *engine.Resource) {
	kind := r.MemKind
	if kind == "" { // events of older stores: device memory
		kind = engine.MemDevice
	}
	m["device"], m["mem_kind"], m["mem_used_bytes"] = r.Device, kind, r.MemUsedBytes
	m["mem_total_bytes"] = nil
	if r.MemTotalBytes > 0 {
		m["mem_total_bytes"] = r.MemTotalBytes
	}
	if r.GPUUtil > 0 {
		m["gpu_util_pct"] = r.GPUUtil
	}
	m["samples_per_s"] = clean(r.SamplesPerSec)
}

// epochMap is an epoch as --json prints it, with "validated": on data
// without a validation split its metrics are 0, which the text says is
// no validation and JSON gave as a score of 0 mm.
func epochMap(ep engine.EpochInfo) map[string]any {
	m := toMap(ep)
	m["validated"] = ep.Validated()
	if ep.Pixel > 0 {
		// A 2D model's validation has no 3D score: null, as runs show's
		// val_mpjpe_mm is, not 0 (a perfect 0 mm and 3DPCK 0 to a script).
		for _, k := range []string{"val_mpjpe_mm", "val_p_mpjpe_mm", "val_n_mpjpe_mm", "val_pck150", "val_auc"} {
			m[k] = nil
		}
		// Its PCKh is a score even at 0 (no joint within half a head
		// yet): omitted, as EpochInfo's omitempty drops it, a script
		// found one of the two scores README names missing.
		m["val_pckh50"] = clean(ep.PCKh)
	}
	return m
}

// toMap marshals a struct through JSON with NaN/Inf replaced by null.
func toMap(v any) map[string]any {
	out := map[string]any{}
	rv := reflect.Indirect(reflect.ValueOf(v))
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("json"), ",")
		if tag[0] == "-" || !f.IsExported() {
			continue
		}
		name := tag[0]
		if name == "" {
			name = f.Name
		}
		fv := rv.Field(i)
		if len(tag) > 1 && tag[1] == "omitempty" && fv.IsZero() {
			continue
		}
		out[name] = clean(fv.Interface())
	}
	return out
}

func clean(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		return x
	case []float64:
		o := make([]any, len(x))
		for i := range x {
			o[i] = clean(x[i])
		}
		return o
	case map[string]float64:
		o := map[string]any{}
		for k, y := range x {
			o[k] = clean(y)
		}
		return o
	case engine.Schedule:
		return toMap(x)
	}
	return v
}

// memText is a resource event's memory with its units and what it counts:
// a GPU's memory of its total, or a CPU run's resident set (RSS) of the
// machine's RAM, as the workbench's resource line says it.
func memText(res *engine.Resource) string {
	if res == nil || res.MemUsedBytes <= 0 {
		return ""
	}
	used, total := bytesText(res.MemUsedBytes), bytesText(res.MemTotalBytes)
	switch {
	case res.MemKind == engine.MemHost && res.MemTotalBytes > 0:
		return "RSS " + used + " / RAM " + total
	case res.MemKind == engine.MemHost:
		return "RSS " + used
	case res.MemTotalBytes > 0:
		return "mem " + used + " / " + total
	}
	return "mem " + used
}

// bytesText writes a size in MiB, or GiB from 1 GiB on.
func bytesText(n int64) string {
	const k = 1024.0
	if float64(n) >= k*k*k {
		return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(k*k))
}

// queueLog says whether an event is the log line of a queued run that
// waits for another poselab process's trainer (once per holder), or the
// warning that this process cannot wait for them: said before the run's
// started line, which comes only once it trains.
func queueLog(ev engine.Event) bool {
	return ev.Kind == engine.EvLog && (strings.HasPrefix(ev.Log, engine.QueuedLogPrefix) || strings.HasPrefix(ev.Log, engine.SlotsLogPrefix))
}
