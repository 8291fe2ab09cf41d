package engine

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"poselab/checkpoints"
	"poselab/datasets"
	"poselab/nn"
)

func stateEvents(hist []Event, id string) []State {
	var out []State
	for _, ev := range hist {
		if ev.Run == id && ev.Kind == EvState {
			out = append(out, ev.State.To)
		}
	}
	return out
}

func TestPauseResumeStop(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 200, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "training steps", 2*time.Minute, func() bool { i, _ := e.Run(id); return i.State == Running && i.Step > 3 })
	if err := e.Pause(id); err != nil {
		t.Fatal(err)
	}
	// A pause holds the run at its next step. Counted in steps, not in
	// wall time ("under a second"), which a loaded machine stretches: the
	// step read after Pause returned is at most one short of the held one
	// (the step then in progress ends).
	asked, _ := e.Run(id)
	waitFor(t, "pause", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Paused })
	held, _ := e.Run(id)
	if held.Step > asked.Step+1 {
		t.Fatalf("paused at step %d, asked at step %d: want the next step", held.Step, asked.Step)
	}
	time.Sleep(300 * time.Millisecond)
	if now, _ := e.Run(id); now.Step != held.Step {
		t.Fatalf("a paused run trained on: step %d -> %d", held.Step, now.Step)
	}
	if err := e.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "steps after resume", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Running && i.Step > held.Step+2 })
	if err := e.Stop(id); err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, e, id, time.Minute)
	if info.State != Stopped {
		t.Fatalf("state %s after stop", info.State)
	}
	c, err := checkpoints.Load(CkptPath(e.RunDir(id), "last"))
	if err != nil {
		t.Fatalf("stop saved no checkpoint: %v", err)
	}
	if c.Step != info.Step {
		t.Fatalf("stop checkpoint at step %d, run stopped at %d", c.Step, info.Step)
	}
	hist, _, cancel := e.Subscribe()
	cancel()
	got := stateEvents(hist, id)
	want := []State{Queued, Running, Paused, Running, Stopped}
	if len(got) != len(want) {
		t.Fatalf("states %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("states %v, want %v", got, want)
		}
	}
	if err := e.Resume(id); err != nil { // a stopped run queues again
		t.Fatal(err)
	}
	waitFor(t, "resumed run", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Running && i.Step > info.Step })
	e.Stop(id)
	waitRun(t, e, id, time.Minute)
	if err := e.Delete(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(e.RunDir(id)); !os.IsNotExist(err) {
		t.Fatalf("delete left the folder: %v", err)
	}
}

func TestQueuedRunsStartInOrder(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	var ids []string
	for i := 0; i < 3; i++ {
		id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, Seed: int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if info := waitRun(t, e, id, 5*time.Minute); info.State != Finished {
			t.Fatalf("%s: %s %s", id, info.State, info.Reason)
		}
	}
	hist, _, cancel := e.Subscribe()
	cancel()
	// Exactly one run trains at a time, in submission order.
	var seq []string
	for _, ev := range hist {
		if ev.Kind == EvState && (ev.State.To == Running || ev.State.To == Finished) {
			seq = append(seq, ev.Run+":"+string(ev.State.To))
		}
	}
	want := []string{ids[0] + ":running", ids[0] + ":finished", ids[1] + ":running", ids[1] + ":finished", ids[2] + ":running", ids[2] + ":finished"}
	if strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Fatalf("order\n%v\nwant\n%v", seq, want)
	}
}

// shift2dTask is a test-only model kind whose outputs carry 2D poses: the
// ground-truth 2D moved 100 px right. It checks that chains feed a run's
// outputs to the next one.
type shift2dTask struct{ *sbTask }

func (t shift2dTask) Decode(split datasets.Split, idx []int, out map[string]*nn.Tensor) ([]Prediction, error) {
	preds, err := t.sbTask.Decode(split, idx, out)
	for b, i := range idx {
		p := t.in[split][i]
		for j := range p {
			p[j][0] += 100
		}
		preds[b].Has2D, preds[b].Pose2D = true, p
	}
	return preds, err
}

func init() {
	RegisterTask("shift2d-test", TaskFactory{Presets: sbPresets, New: func(env TaskEnv) (Task, error) {
		t, err := newSBTask(env)
		if err != nil {
			return nil, err
		}
		return shift2dTask{t.(*sbTask)}, nil
	}})
}

func TestChainFeedsOutputs(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	ids, err := e.SubmitChain([]Spec{
		{Model: "shift2d-test", Preset: "test", Epochs: 1},
		{Model: "sb", Preset: "test", Epochs: 1, After: "@0", From: []string{"@0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// A run fed by a run that is still queued waits for it by itself.
	third, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, From: []string{ids[0]}})
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := e.Run(third); info.Spec.After != ids[0] {
		t.Fatalf("run fed by an unfinished run has after %q, want %q", info.Spec.After, ids[0])
	}
	second, _ := e.Run(ids[1])
	if second.Spec.After != ids[0] || len(second.Spec.From) != 1 || second.Spec.From[0] != ids[0] {
		t.Fatalf("stage references not resolved: after %q from %v", second.Spec.After, second.Spec.From)
	}
	first := waitRun(t, e, ids[0], 5*time.Minute)
	if info := waitRun(t, e, ids[1], 5*time.Minute); info.State != Finished || first.State != Finished {
		t.Fatalf("chain ended %s/%s: %s %s", first.State, info.State, first.Reason, info.Reason)
	}
	if info := waitRun(t, e, third, 5*time.Minute); info.State != Finished {
		t.Fatalf("third run ended %s: %s", info.State, info.Reason)
	}
	hist, _, cancel := e.Subscribe()
	cancel()
	firstDone, secondRunning := int64(0), int64(0)
	for _, ev := range hist {
		if ev.Kind == EvState && ev.Run == ids[0] && ev.State.To == Finished {
			firstDone = ev.Seq
		}
		if ev.Kind == EvState && ev.Run == ids[1] && ev.State.To == Running {
			secondRunning = ev.Seq
		}
	}
	if !(firstDone > 0 && secondRunning > firstDone) {
		t.Fatalf("second stage started (event %d) before the first finished (event %d)", secondRunning, firstDone)
	}
	m, err := e.LoadModel(ids[1])
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	recs, _ := sharedData["synth|tiny"].Records(datasets.Val)
	in := m.Task.(*sbTask).in[datasets.Val]
	if got, want := in[7][3][0], recs[7].Joints2D[3][0]+100; got != want {
		t.Fatalf("second stage input u = %v, want the first stage's output %v", got, want)
	}
}

func TestDivergencePausesWithReason(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 50, Schedule: Schedule{BaseLR: 1e30}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "divergence pause", 2*time.Minute, func() bool { i, _ := e.Run(id); return i.State == Paused })
	info, _ := e.Run(id)
	// Viewers tell a divergence from a pause asked for by StateInfo.Diverged.
	if !(StateInfo{To: info.State, Reason: info.Reason}).Diverged() {
		t.Fatalf("paused with reason %q", info.Reason)
	}
	if info.Step > 20 {
		t.Fatalf("divergence noticed only at step %d", info.Step)
	}
	e.Stop(id)
	if info := waitRun(t, e, id, time.Minute); info.State != Stopped || !strings.Contains(info.Reason, "diverged") {
		t.Fatalf("state %s, reason %q; want stopped, saying it diverged", info.State, info.Reason)
	}
	if c, err := checkpoints.Load(CkptPath(e.RunDir(id), "last")); err == nil {
		for n, p := range c.State.Params {
			for _, v := range p.Data {
				if !finite(float64(v)) {
					t.Fatalf("a checkpoint with non-finite %s was saved", n)
				}
			}
		}
	}
}

func TestCorruptCheckpointFailsResumeClearly(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, _ := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 100})
	// After a validation: the failed event's result has its best.
	waitFor(t, "steps", 2*time.Minute, func() bool { i, _ := e.Run(id); return i.Step > 12 && i.Epoch >= 1 })
	e.Stop(id)
	stopped := waitRun(t, e, id, time.Minute)
	path := CkptPath(e.RunDir(id), "last")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	os.WriteFile(path, b, 0o644)
	e.Resume(id)
	info := waitRun(t, e, id, time.Minute)
	if info.State != Failed || !strings.Contains(info.Reason, "checksum") {
		t.Fatalf("state %s, reason %q; want failed with a checksum error", info.State, info.Reason)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(b) {
		t.Fatal("the corrupt checkpoint was overwritten")
	}
	// The run never ran again: its failed event says it failed queued, as
	// its state event does.
	hist, _, cancel := e.Subscribe()
	cancel()
	var failedFrom, stateFrom State
	for _, ev := range hist {
		if ev.Run == id && ev.Kind == EvFailed {
			failedFrom = ev.State.From
			// Where the run stands, not step 0 with no validation.
			if r := ev.Result; r == nil || r.Steps != stopped.Step || r.Epochs != stopped.Epoch || !(r.BestValMPJPE == stopped.BestValMPJPE) {
				t.Errorf("failed event's result %+v; the run stood at step %d, epoch %d, best %v", r, stopped.Step, stopped.Epoch, stopped.BestValMPJPE)
			}
		}
		if ev.Run == id && ev.Kind == EvState && ev.State.To == Failed {
			stateFrom = ev.State.From
		}
	}
	if failedFrom != Queued || stateFrom != Queued {
		t.Fatalf("failed event from %q, state event from %q; want both from queued", failedFrom, stateFrom)
	}
}

func TestRestartListsRuns(t *testing.T) {
	dir := t.TempDir()
	e := openTestEngine(t, dir)
	id, _ := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1})
	info := waitRun(t, e, id, 5*time.Minute)
	e.Close()
	e2 := openTestEngine(t, dir)
	defer e2.Close()
	got, ok := e2.Run(id)
	if !ok || got.State != Finished {
		t.Fatalf("after restart: %+v", got)
	}
	logText, err := os.ReadFile(filepath.Join(dir, id, "log"))
	if err != nil || !strings.Contains(string(logText), "epoch 1 (step 32)") || !strings.Contains(string(logText), "running -> finished") {
		t.Fatalf("run log: %v\n%s", err, logText)
	}
	if got.Step != info.Step || got.BestValMPJPE != info.BestValMPJPE || got.Spec.Model != "sb" {
		t.Fatalf("after restart step %d best %v, before %d %v", got.Step, got.BestValMPJPE, info.Step, info.BestValMPJPE)
	}
	if eps, err := e2.Epochs(id); err != nil || len(eps) != 1 || len(eps[0].PerJoint) != 17 {
		t.Fatalf("stored epochs %v, %v", eps, err)
	}
}

// A second engine on the same runs directory (another poselab process,
// e.g. `poselab runs ls`) sees the first one's queued and running runs as
// they are and cannot delete them; closing it changes nothing. (Pause,
// resume and stop go to the process that trains them: watch_test.go.)
func TestSecondEngineLeavesForeignRunsAlone(t *testing.T) {
	dir := t.TempDir()
	e := openTestEngine(t, dir)
	defer e.Close()
	a, _ := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 100})
	b, _ := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1})
	waitFor(t, "first run training", 2*time.Minute, func() bool { i, _ := e.Run(a); return i.State == Running })
	other := openTestEngine(t, dir)
	ia, _ := other.Run(a)
	ib, _ := other.Run(b)
	if ia.State != Running || ib.State != Queued {
		t.Fatalf("second engine sees %s and %s, want running and queued", ia.State, ib.State)
	}
	if err := other.Delete(a); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("another poselab process (pid %d)", os.Getpid())) {
		t.Fatalf("deleting a foreign run: %v", err)
	}
	other.Close()
	if i, _ := e.Run(b); i.State != Queued {
		t.Fatalf("queued run became %s", i.State)
	}
	e.Stop(a)
	waitRun(t, e, a, time.Minute)
	if info := waitRun(t, e, b, 5*time.Minute); info.State != Finished {
		t.Fatalf("queued run ended %s (%s)", info.State, info.Reason)
	}
}

// Time spent paused is not training time: after a pause the ETA is what
// the run's pace says, not inflated by the pause.
func TestETAIgnoresPausedTime(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	spec := slowSpec()
	spec.Epochs = 100
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	perStep := func(i RunInfo) time.Duration { return i.ETA / time.Duration(i.TotalSteps-i.Step) }
	waitFor(t, "step 40", time.Minute, func() bool { i, _ := e.Run(id); return i.Step >= 40 })
	if err := e.Pause(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pause", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Paused })
	before, _ := e.Run(id)
	time.Sleep(2 * time.Second)
	e.Resume(id)
	waitFor(t, "10 steps after the pause", time.Minute, func() bool { i, _ := e.Run(id); return i.Step >= before.Step+10 })
	after, _ := e.Run(id)
	// Counting the pause would add 2 s / ~50 steps = 40 ms a step.
	if a, b := perStep(after), perStep(before); a > b+b/2+5*time.Millisecond {
		t.Fatalf("ETA per remaining step %v after a 2 s pause, %v before it", a, b)
	}
}

// The ETA is the pace of the training itself: a slow start (data, a
// compile, a CUDA context: here a backend that takes 1 s to open) is not
// extrapolated over the steps left. The first step has no pace yet.
func TestETAExcludesSetup(t *testing.T) {
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond,
		NewBackend: func(dev string) (nn.Backend, error) {
			time.Sleep(time.Second)
			return NewBackend(dev)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, ch, cancel := e.Subscribe()
	defer cancel()
	id, err := e.Submit(resumeSpec())
	if err != nil {
		t.Fatal(err)
	}
	var first, tenth *StepInfo
	var firstAt, tenthAt time.Time
	for tenth == nil {
		select {
		case ev := <-ch:
			if ev.Run != id || ev.Kind != EvStep {
				if ev.Run == id && (ev.Kind == EvFinished || ev.Kind == EvFailed) {
					t.Fatal("the run ended before step 10 was seen")
				}
				continue
			}
			if ev.Step.Step == 1 {
				first, firstAt = ev.Step, ev.Time
			}
			if ev.Step.Step >= 10 {
				tenth, tenthAt = ev.Step, ev.Time
			}
		case <-time.After(time.Minute):
			t.Fatal("no step 10 within a minute")
		}
	}
	if first == nil || first.ETASeconds != 0 {
		t.Fatalf("first step's event %+v: want an unknown (0) ETA", first)
	}
	// 86 steps left of a few ms each; counting the 1 s start over 10
	// steps made it 100 ms a step, 8.6 s. The steps' own pace (from the
	// first step's end, as their events were stamped) bounds it too: a
	// loaded machine can stall a few of them for a second or more.
	pace := tenthAt.Sub(firstAt).Seconds() / float64(tenth.Step-1)
	if limit := max(3, 2*pace*float64(tenth.TotalSteps-tenth.Step)); tenth.ETASeconds > limit {
		t.Fatalf("ETA %.1f s at step %d of %d (the steps since the first took %.0f ms each): the slow start is counted in its pace",
			tenth.ETASeconds, tenth.Step, tenth.TotalSteps, pace*1000)
	}
	waitRun(t, e, id, time.Minute)
}

// slowStartBackend's programs take 50 ms a step for their first slow
// steps (another run shared the machine then), then run at full speed.
type slowStartBackend struct {
	nn.Backend
	slow int
	gate func() // if set, called before every step (a test holds steps there)
}

func (b slowStartBackend) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	p, err := b.Backend.Compile(g, opt)
	return &slowStartProgram{Program: p, slow: b.slow, gate: b.gate}, err
}

type slowStartProgram struct {
	nn.Program
	slow, n int
	gate    func()
}

func (p *slowStartProgram) TrainStep(b nn.Batch, step int, lr float64) (float64, error) {
	if p.gate != nil {
		p.gate()
	}
	if p.n++; p.n <= p.slow {
		time.Sleep(50 * time.Millisecond)
	}
	return p.Program.TrainStep(b, step, lr)
}

// The ETA follows the recent pace: a slow start (60 steps of 50 ms, the
// machine shared) is forgotten once the window has passed, where the
// session's average kept it for the rest of the run.
func TestETAFollowsTheRecentPace(t *testing.T) {
	defer func(w time.Duration) { paceWindow = w }(paceWindow)
	paceWindow = 100 * time.Millisecond
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond,
		NewBackend: func(dev string) (nn.Backend, error) {
			b, err := NewBackend(dev)
			return slowStartBackend{Backend: b, slow: 60}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, ch, cancel := e.Subscribe()
	defer cancel()
	spec := resumeSpec()
	spec.Epochs = 8 // 256 steps
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	var at *StepInfo
	start := time.Now()
	for at == nil {
		select {
		case ev := <-ch:
			if ev.Run == id && ev.Kind == EvStep && ev.Step.Step >= 224 {
				at = ev.Step
			}
			if ev.Run == id && (ev.Kind == EvFinished || ev.Kind == EvFailed) {
				t.Fatal("the run ended before step 224 was seen")
			}
		case <-time.After(time.Minute):
			t.Fatal("no step 224 within a minute")
		}
	}
	// The fast steps since the window's epoch end, validations included,
	// take a few ms; the session's average is over 12 ms a step (3 s of
	// slow steps over 224).
	fast := time.Since(start) - 3*time.Second
	per := time.Duration(at.ETASeconds*float64(time.Second)) / time.Duration(at.TotalSteps-at.Step)
	if limit := max(8*time.Millisecond, 2*fast/time.Duration(at.Step-60)); per > limit {
		t.Fatalf("ETA %.2f s for %d steps left: %v a step, the fast steps took %v in all", at.ETASeconds, at.TotalSteps-at.Step, per, fast)
	}
	waitRun(t, e, id, time.Minute)
}

// poisonBackend's programs return a finite loss for step poisonAt but
// leave NaN weights behind, as an overflowing update does: the loss is
// computed before the update, so only the weights show the divergence.
type poisonBackend struct {
	nn.Backend
	at int
}

func (b poisonBackend) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	p, err := b.Backend.Compile(g, opt)
	return &poisonProg{Program: p, at: b.at}, err
}

type poisonProg struct {
	nn.Program
	at       int
	poisoned bool
}

// The CPU backend refuses NaN state, so the poison lives in what the
// program reports: its state, and the losses after it.
func (p *poisonProg) TrainStep(b nn.Batch, step int, lr float64) (float64, error) {
	if p.poisoned {
		return math.NaN(), nil
	}
	loss, err := p.Program.TrainStep(b, step, lr)
	p.poisoned = step == p.at
	return loss, err
}

func (p *poisonProg) State() (*nn.State, error) {
	st, err := p.Program.State()
	if err != nil || !p.poisoned {
		return st, err
	}
	for _, t := range st.Params {
		for i := range t.Data {
			t.Data[i] = float32(math.NaN())
		}
	}
	return st, nil
}

func (p *poisonProg) SetState(st *nn.State) error {
	p.poisoned = false
	return p.Program.SetState(st)
}

// Weights that turned NaN are never written as the last checkpoint (the
// one a diverged run goes back to): the run pauses as diverged instead.
func TestNaNWeightsAreNotCheckpointed(t *testing.T) {
	for _, c := range []struct {
		name       string
		epochs, at int
	}{{"mid-epoch checkpoint", 3, 4}, {"last epoch's end", 1, 31}} {
		t.Run(c.name, func(t *testing.T) {
			e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond,
				NewBackend: func(dev string) (nn.Backend, error) {
					b, err := NewBackend(dev)
					return poisonBackend{b, c.at}, err
				}})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			// 32 steps an epoch; a checkpoint every 5 steps: the poisoned
			// weights of step 4 reach the one at step 5, those of step 31
			// the epoch's end.
			id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: c.epochs, CkptEvery: 5})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the run to pause or end", time.Minute, func() bool { i, _ := e.Run(id); return i.State != Queued && i.State != Running })
			info, _ := e.Run(id)
			if info.State != Paused || !strings.Contains(info.Reason, "diverged") {
				t.Fatalf("state %s (%s), want paused as diverged", info.State, info.Reason)
			}
			if ck, err := checkpoints.Load(CkptPath(e.RunDir(id), "last")); err == nil {
				for n, p := range ck.State.Params {
					for _, v := range p.Data {
						if !finite(float64(v)) {
							t.Fatalf("checkpoint at step %d holds non-finite %s", ck.Step, n)
						}
					}
				}
			}
		})
	}
}

// A Resume sent while the run was still training (a no-op) must not
// count as the user's resume of a later divergence pause: the run stays
// paused until it is resumed.
func TestEarlierResumeDoesNotEndADivergencePause(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 50, Schedule: Schedule{BaseLR: 1e30}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Resume(id); err != nil { // the run is starting: nothing to resume
		t.Fatal(err)
	}
	waitFor(t, "divergence pause", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Paused })
	time.Sleep(300 * time.Millisecond)
	hist, _, cancel := e.Subscribe()
	cancel()
	got := stateEvents(hist, id)
	if want := []State{Queued, Running, Paused}; len(got) != len(want) || got[len(got)-1] != Paused {
		t.Fatalf("states %v, want %v", got, want)
	}
}

// Deleting the run a queued run comes after fails the queued run at once
// (it can never start), rather than leaving it queued until something
// else happens to the queue, also while another run holds the trainer.
func TestDeletingAChainLinkFailsTheRunAfterIt(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	busy, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(busy)
	ids, err := e.SubmitChain([]Spec{{Model: "sb", Preset: "test", Epochs: 100}, {Model: "sb", Preset: "test", Epochs: 1, After: "@0"}})
	if err != nil {
		t.Fatal(err)
	}
	e.Stop(ids[0])
	waitRun(t, e, ids[0], time.Minute)
	if i, _ := e.Run(ids[1]); i.State != Queued {
		t.Fatalf("second link %s after the first stopped, want queued", i.State)
	}
	if err := e.Delete(ids[0]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second link to fail", 2*time.Second, func() bool { i, _ := e.Run(ids[1]); return i.State == Failed })
	if i, _ := e.Run(ids[1]); !strings.Contains(i.Reason, ids[0]) {
		t.Fatalf("reason %q does not name the deleted run", i.Reason)
	}
}

// A chain refused at submit leaves nothing behind: the stages before the
// bad one are neither listed nor trained, and no run folders stay.
func TestRefusedChainCreatesNoRuns(t *testing.T) {
	dir := t.TempDir()
	e := openTestEngine(t, dir)
	defer e.Close()
	_, err := e.SubmitChain([]Spec{
		{Model: "sb", Preset: "test", Epochs: 1},
		{Model: "sb", Preset: "test", Epochs: 1, From: []string{"no-such-run"}},
	})
	if err == nil || !strings.Contains(err.Error(), "no-such-run") {
		t.Fatalf("chain with a missing run accepted or unclear: %v", err)
	}
	if runs := e.Runs(); len(runs) != 0 {
		t.Fatalf("a refused chain left %d runs, the first %s", len(runs), runs[0].State)
	}
	ents, _ := os.ReadDir(dir)
	for _, en := range ents {
		if en.IsDir() {
			t.Fatalf("a refused chain left the folder %s", en.Name())
		}
	}
}

// A best checkpoint that cannot be written fails the run without a last
// checkpoint that claims it: resuming would otherwise trust a best score
// whose weights are not on disk (and finish from other weights).
func TestFailedBestCheckpointLeavesLastConsistent(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	spec := slowSpec()
	spec.CkptEvery = 0
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	// a folder in the way: the rename onto best.ckpt fails
	if err := os.MkdirAll(filepath.Join(CkptPath(e.RunDir(id), "best"), "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, e, id, time.Minute)
	if info.State != Failed || !strings.Contains(info.Reason, "checkpoint") {
		t.Fatalf("state %s (%s), want failed on the checkpoint", info.State, info.Reason)
	}
	if c, err := checkpoints.Load(CkptPath(e.RunDir(id), "last")); err == nil && !math.IsNaN(c.BestScore) {
		t.Fatalf("last checkpoint (step %d) claims best score %v, but no best checkpoint was written", c.Step, c.BestScore)
	}
}

// A run whose config.toml no longer parses (a hand edit gone wrong) is
// listed as failed with the parse error, not silently left out.
func TestUnreadableConfigIsListedAsFailed(t *testing.T) {
	dir := t.TempDir()
	e := openTestEngine(t, dir)
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 100})
	if err != nil {
		t.Fatal(err)
	}
	e.Stop(id)
	waitRun(t, e, id, time.Minute)
	e.Close()
	if err := os.WriteFile(filepath.Join(dir, id, "config.toml"), []byte("model = \"sb\"\nepochs = [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e2 := openTestEngine(t, dir)
	defer e2.Close()
	info, ok := e2.Run(id)
	if !ok {
		t.Fatal("the run with an unreadable config.toml is not listed")
	}
	if info.State != Failed || !strings.Contains(info.Reason, "config.toml") {
		t.Fatalf("state %s (%s), want failed naming config.toml", info.State, info.Reason)
	}
	if err := e2.Resume(id); err == nil || !strings.Contains(err.Error(), "config.toml") {
		t.Fatalf("resuming a run without a spec: %v", err)
	}
	if err := e2.Delete(id); err != nil {
		t.Fatal(err)
	}
}

// Step events are thinned (one per StepEvery), but a run that pauses or
// stops between two of them still tells viewers the step it stopped at.
func TestPauseAndStopPublishTheLastStep(t *testing.T) {
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 100})
	if err != nil {
		t.Fatal(err)
	}
	lastStep := func() int {
		hist, _, cancel := e.Subscribe()
		cancel()
		n := -1
		for _, ev := range hist {
			if ev.Run == id && ev.Kind == EvStep {
				n = ev.Step.Step
			}
		}
		return n
	}
	waitFor(t, "a few steps", time.Minute, func() bool { i, _ := e.Run(id); return i.Step > 3 })
	e.Pause(id)
	waitFor(t, "the pause", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Paused })
	if info, _ := e.Run(id); lastStep() != info.Step {
		t.Fatalf("paused at step %d, the last step event says %d", info.Step, lastStep())
	}
	e.Resume(id)
	waitFor(t, "more steps", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Running && i.Step > 8 })
	e.Stop(id)
	info := waitRun(t, e, id, time.Minute)
	if lastStep() != info.Step {
		t.Fatalf("stopped at step %d, the last step event says %d", info.Step, lastStep())
	}
}

// maskedPoison is poisonProg whose loss stays finite after the weights
// went NaN, as when ReLUs zero the NaN activations.
type maskedPoison struct{ poisonProg }

func (p *maskedPoison) TrainStep(b nn.Batch, step int, lr float64) (float64, error) {
	loss, err := p.Program.TrainStep(b, step, lr)
	p.poisoned = p.poisoned || step == p.at
	return loss, err
}

type maskedPoisonBackend struct{ poisonBackend }

func (b maskedPoisonBackend) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	p, err := b.Backend.Compile(g, opt)
	return &maskedPoison{poisonProg{Program: p, at: b.at}}, err
}

// NaN weights behind a finite loss pause the run at the next weight check,
// not only at the next checkpoint (here: the epoch's end, 29 steps on).
func TestNaNWeightsBehindAFiniteLossPause(t *testing.T) {
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond, WeightCheckEvery: time.Nanosecond,
		NewBackend: func(dev string) (nn.Backend, error) {
			b, err := NewBackend(dev)
			return maskedPoisonBackend{poisonBackend{b, 2}}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 3})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to pause or end", time.Minute, func() bool { i, _ := e.Run(id); return i.State != Queued && i.State != Running })
	info, _ := e.Run(id)
	if info.State != Paused || !strings.Contains(info.Reason, "not finite") || info.Step > 5 {
		t.Fatalf("state %s at step %d (%s), want paused as diverged within a step or two of step 2", info.State, info.Step, info.Reason)
	}
}

// Weights that turned NaN by an epoch's end are not validated and stored
// as that epoch: its row (maybe marked best) and the run's best score
// would name weights that no checkpoint holds, since the checkpoint is
// refused; a run stopped there listed a best that eval could not find.
func TestNaNWeightsAtEpochEndStoreNoEpoch(t *testing.T) {
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond,
		NewBackend: func(dev string) (nn.Backend, error) {
			b, err := NewBackend(dev)
			return poisonBackend{b, 31}, err // the epoch's last step (32 a epoch)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, CkptEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to pause or end", time.Minute, func() bool { i, _ := e.Run(id); return i.State != Queued && i.State != Running })
	info, _ := e.Run(id)
	if info.State != Paused || !strings.Contains(info.Reason, "diverged") {
		t.Fatalf("state %s (%s), want paused as diverged", info.State, info.Reason)
	}
	eps, _ := e.Epochs(id)
	if len(eps) != 0 || !math.IsNaN(info.BestValMPJPE) {
		t.Fatalf("epochs %+v, best %v: the NaN weights' validation was stored", eps, info.BestValMPJPE)
	}
}

// SB lifts 2D poses to 3D: chained after a run that predicts no 2D (an SB
// or the image baseline), it was queued, waited for that run, and only
// then failed ("has no 2D prediction for train sample 0"). It is refused
// at submit, saying which models can feed it.
func TestChainedSBNeeds2DFromItsSource(t *testing.T) {
	e := openTestEngine(t, t.TempDir())
	defer e.Close()
	_, err := e.SubmitChain([]Spec{
		{Model: "sb", Preset: "test", Epochs: 1},
		{Model: "sb", Preset: "test", Epochs: 1, From: []string{"@0"}, After: "@0"},
	})
	if err == nil || !strings.Contains(err.Error(), "2D") || !strings.Contains(err.Error(), "sh or ir") {
		t.Fatalf("sb fed by sb accepted or unclear: %v", err)
	}
	if runs := e.Runs(); len(runs) != 0 {
		t.Fatalf("a refused chain left %d runs", len(runs))
	}
}

// A run stopped because the engine closed (hang-up, SIGTERM, quit) says
// so, not "stopped by the user".
func TestCloseStopReason(t *testing.T) {
	dir := t.TempDir()
	e := openTestEngine(t, dir)
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 100})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "steps", time.Minute, func() bool { i, _ := e.Run(id); return i.Step > 3 })
	e.Close()
	e2 := openTestEngine(t, dir)
	defer e2.Close()
	if info, _ := e2.Run(id); info.State != Stopped || !strings.Contains(info.Reason, "poselab closed") {
		t.Fatalf("state %s, reason %q; want stopped because poselab closed", info.State, info.Reason)
	}
}

// With epochs longer than the pace's window, the window from the newest
// epoch end at least that old held no validation: here 10 epochs of 100
// steps at 6 s, each validated in 2 min; 3 min into epoch 2 the ETA was
// the 870 steps' 87 min without the 18 min of the 9 validations left
// (17 % short). Its window has an epoch end (a validation) in it.
func TestETACountsValidationsOfLongEpochs(t *testing.T) {
	now := time.Now()
	t0 := now.Add(-900 * time.Second)
	s := &session{step: 130, total: 1000, marks: []paceMark{
		{at: t0.Add(6 * time.Second), step: 1},     // the session's first step
		{at: t0.Add(720 * time.Second), step: 100}, // epoch 1's end, validated
	}}
	truth := 870*6*time.Second + 9*2*time.Minute
	if got := s.eta(); got < truth*9/10 || got > truth*11/10 {
		t.Fatalf("ETA %v, want about %v", got.Round(time.Second), truth)
	}
}

// A run resumed in the process that stopped it starts without an ETA
// (none until its second step): it showed, and stored for the other
// processes, the ETA its last session had when it stopped, through the
// setup and first step of the new one.
func TestResumedRunStartsWithoutTheOldETA(t *testing.T) {
	// The resumed session's first step is held until the checks below are
	// done: the started event reaches a subscriber after the run's state
	// (events lag), and a loaded machine could let a 50 ms step, or two,
	// end before it came.
	var holding atomic.Bool
	release := make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond,
		NewBackend: func(dev string) (nn.Backend, error) {
			b, err := NewBackend(dev)
			gate := func() {
				if holding.Load() {
					<-release
				}
			}
			return slowStartBackend{Backend: b, slow: 1 << 30, gate: gate}, err // every step 50 ms
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer letGo() // before Close: a held step would keep the run from stopping
	spec := resumeSpec()
	spec.Epochs = 1000
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an ETA", time.Minute, func() bool { i, _ := e.Run(id); return i.ETA > 0 })
	if err := e.Stop(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to stop", time.Minute, func() bool { i, _ := e.Run(id); return i.State == Stopped })
	_, ch, cancel := e.Subscribe()
	defer cancel()
	holding.Store(true)
	if err := e.Resume(id); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-ch:
			if ev.Run != id || ev.Kind != EvStarted {
				continue
			}
			// Its first step is held: none has ended yet.
			if i, _ := e.Run(id); i.ETA != 0 {
				t.Fatalf("resumed at step %d with ETA %v", i.Step, i.ETA)
			}
			stored := RunInfo{Spec: Spec{ID: id}}
			if err := e.st.readRun(&stored); err != nil || stored.ETA != 0 {
				t.Fatalf("stored ETA %v (%v)", stored.ETA, err)
			}
			e.Stop(id)
			letGo()
			return
		case <-time.After(time.Minute):
			t.Fatal("not started again within a minute")
		}
	}
}

// CanDelete answers as Delete would, without deleting: an active run
// (running, queued) is refused with Delete's reason, an ended one is
// not, so that the workbench can refuse d before asking.
func TestCanDeleteAnswersAsDelete(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	a, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first run training", time.Minute, func() bool { i, _ := e.Run(a); return i.State == Running })
	for id, state := range map[string]string{a: "running", b: "queued"} {
		can := e.CanDelete(id)
		if can == nil || !strings.Contains(can.Error(), state+": stop it first") {
			t.Fatalf("CanDelete of the %s run: %v", state, can)
		}
		if del := e.Delete(id); del == nil || del.Error() != can.Error() {
			t.Fatalf("Delete of the %s run: %v, CanDelete said %v", state, del, can)
		}
	}
	if err := e.CanDelete("nope"); err == nil || !strings.Contains(err.Error(), `no run "nope"`) {
		t.Fatalf("CanDelete of no run: %v", err)
	}
	e.Stop(b)
	e.Stop(a)
	waitRun(t, e, a, time.Minute)
	if err := e.CanDelete(a); err != nil {
		t.Fatalf("CanDelete of a stopped run: %v", err)
	}
	if _, err := os.Stat(e.RunDir(a)); err != nil {
		t.Fatalf("CanDelete removed the run: %v", err)
	}
}
