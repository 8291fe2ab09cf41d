package engine

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"poselab/datasets"
	"poselab/nn"
)

// slowSBTask is the SB task slowed down by 8 ms a training batch, so that
// tests can interrupt it mid-epoch reliably. Its numbers equal "sb"'s.
type slowSBTask struct{ *sbTask }

func (t slowSBTask) Batch(split datasets.Split, idx []int, train bool, seed int64, step int) (nn.Batch, error) {
	if train {
		time.Sleep(8 * time.Millisecond)
	}
	return t.sbTask.Batch(split, idx, train, seed, step)
}

func init() {
	RegisterTask("sb-slow-test", TaskFactory{Presets: sbPresets, New: func(env TaskEnv) (Task, error) {
		t, err := newSBTask(env)
		if err != nil {
			return nil, err
		}
		return slowSBTask{t.(*sbTask)}, nil
	}})
}

func slowSpec() Spec {
	s := resumeSpec()
	s.Model = "sb-slow-test"
	return s
}

// resumeSpec trains 3 epochs of 32 steps with a checkpoint every 10 steps.
func resumeSpec() Spec {
	return Spec{Model: "sb", Preset: "test", Epochs: 3, Seed: 11, CkptEvery: 10,
		Schedule: Schedule{Kind: "exp", BaseLR: 2e-3, Gamma: 0.9, DecaySteps: 7, Staircase: true}}
}

func sameCurve(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d steps, uninterrupted run %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Fatalf("%s: step %d loss %v, uninterrupted %v", what, i, got[i], want[i])
		}
	}
}

func uninterruptedCurve(t *testing.T) ([]float64, RunInfo, []EpochInfo) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, err := e.Submit(resumeSpec())
	if err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, e, id, 5*time.Minute)
	if info.State != Finished {
		t.Fatalf("%s %s", info.State, info.Reason)
	}
	eps, err := e.Epochs(id)
	if err != nil {
		t.Fatal(err)
	}
	return lossCurve(t, e, id), info, eps
}

// sameEpochs checks a resumed run's stored epoch rows against an
// uninterrupted run's, bit for bit: the epoch's mean training loss
// includes the steps trained before the interruption.
func sameEpochs(t *testing.T, what string, e *Engine, id string, want []EpochInfo) {
	t.Helper()
	got, err := e.Epochs(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d epochs stored, uninterrupted run %d", what, len(got), len(want))
	}
	for i := range want {
		for _, f := range []struct {
			name      string
			got, want float64
		}{{"train loss", got[i].TrainLoss, want[i].TrainLoss}, {"val loss", got[i].ValLoss, want[i].ValLoss}, {"val MPJPE", got[i].MPJPE, want[i].MPJPE}} {
			if math.Float64bits(f.got) != math.Float64bits(f.want) {
				t.Fatalf("%s: epoch %d %s %v, uninterrupted %v", what, i, f.name, f.got, f.want)
			}
		}
	}
}

// A run stopped mid-epoch, or abandoned without its final checkpoint (what
// a SIGKILL does) and picked up by a new engine, resumes to exactly the
// loss curve and result of an uninterrupted run.
func TestResumeRepeatsTheLossCurve(t *testing.T) {
	want, ref, wantEpochs := uninterruptedCurve(t)
	if len(want) != 96 {
		t.Fatalf("uninterrupted run stored %d steps, want 96", len(want))
	}

	t.Run("stop", func(t *testing.T) {
		e := openTestEngine(t, "")
		defer e.Close()
		id, _ := e.Submit(slowSpec())
		waitFor(t, "step 45", 2*time.Minute, func() bool { i, _ := e.Run(id); return i.Step >= 45 })
		e.Stop(id)
		if info := waitRun(t, e, id, time.Minute); info.State != Stopped {
			t.Fatalf("state %s", info.State)
		}
		e.Resume(id)
		info := waitRun(t, e, id, 5*time.Minute)
		if info.State != Finished {
			t.Fatalf("%s %s", info.State, info.Reason)
		}
		sameCurve(t, "stopped and resumed", lossCurve(t, e, id), want)
		sameEpochs(t, "stopped and resumed", e, id, wantEpochs)
		if info.BestValMPJPE != ref.BestValMPJPE || info.LastValMPJPE != ref.LastValMPJPE {
			t.Fatalf("val MPJPE %v/%v, uninterrupted %v/%v", info.LastValMPJPE, info.BestValMPJPE, ref.LastValMPJPE, ref.BestValMPJPE)
		}
	})

	t.Run("killed in process", func(t *testing.T) {
		dir := t.TempDir()
		e := openTestEngine(t, dir)
		id, _ := e.Submit(slowSpec())
		waitFor(t, "step 45", 2*time.Minute, func() bool { i, _ := e.Run(id); return i.Step >= 45 })
		e.mu.Lock()
		r := e.runs[id]
		r.abandon = true
		done := r.done
		e.mu.Unlock()
		<-done
		e.st.close() // the process is gone: no Close, no final checkpoint
		e2 := openTestEngine(t, dir)
		defer e2.Close()
		info, _ := e2.Run(id)
		if info.State != Stopped {
			t.Fatalf("an interrupted run shows as %s, want stopped", info.State)
		}
		e2.Resume(id)
		info = waitRun(t, e2, id, 5*time.Minute)
		if info.State != Finished {
			t.Fatalf("%s %s", info.State, info.Reason)
		}
		sameCurve(t, "killed and resumed", lossCurve(t, e2, id), want)
		sameEpochs(t, "killed and resumed", e2, id, wantEpochs)
	})
}

// TestHelperTrainProcess is not a test on its own: TestSIGKILLResume runs
// the test binary again with POSELAB_TEST_TRAIN_DIR set, and this function
// then trains until it is killed.
func TestHelperTrainProcess(t *testing.T) {
	dir := os.Getenv("POSELAB_TEST_TRAIN_DIR")
	if dir == "" {
		t.Skip("helper process for TestSIGKILLResume")
	}
	e := openTestEngine(t, dir)
	id, err := e.Submit(slowSpec())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "id"), []byte(id), 0o644)
	waitRun(t, e, id, 5*time.Minute)
}

// A real SIGKILL of a training process mid-epoch: a new engine lists the
// run as stopped, and resuming it repeats the uninterrupted loss curve.
func TestSIGKILLResume(t *testing.T) {
	want, _, wantEpochs := uninterruptedCurve(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperTrainProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "POSELAB_TEST_TRAIN_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var id string
	killedAt := 0
	waitFor(t, "the child's run to reach step 45", 3*time.Minute, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "id"))
		if err != nil {
			return false
		}
		id = string(b)
		// the child flushes steps at least every second and at checkpoints
		e, err := openStore(dir)
		if err != nil {
			return false
		}
		defer e.close()
		e.db.QueryRow(`SELECT COUNT(*) FROM steps WHERE run=?`, id).Scan(&killedAt)
		return killedAt >= 45
	})
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// As if the kill had come in the middle of a checkpoint's write.
	stale := filepath.Join(filepath.Dir(CkptPath(filepath.Join(dir, id), "last")), ".last.ckpt.tmp999")
	if err := os.WriteFile(stale, []byte("half a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := openTestEngine(t, dir)
	defer e.Close()
	info, ok := e.Run(id)
	if !ok || info.State != Stopped {
		t.Fatalf("killed run shows as %+v", info.State)
	}
	if err := e.Resume(id); err != nil {
		t.Fatal(err)
	}
	info = waitRun(t, e, id, 5*time.Minute)
	if info.State != Finished {
		t.Fatalf("%s %s", info.State, info.Reason)
	}
	sameCurve(t, "SIGKILLed and resumed", lossCurve(t, e, id), want)
	sameEpochs(t, "SIGKILLed and resumed", e, id, wantEpochs)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the killed write's temporary file is still there (%v)", err)
	}
	t.Logf("killed after %d steps stored; resumed to %d steps", killedAt, info.Step)
}

// A saved model reloads and predicts bit for bit what the trained program
// predicted (the outputs written when the run finished come from the best
// checkpoint's weights in the training program). BatchNorm runs in
// evaluation mode there: a sample's prediction does not depend on the
// other samples of its batch.
func TestCheckpointRoundTripPredictsIdentically(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	id, _ := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 2, Seed: 4})
	if info := waitRun(t, e, id, 5*time.Minute); info.State != Finished {
		t.Fatalf("%s %s", info.State, info.Reason)
	}
	saved, err := ReadOutputs(e.RunDir(id), datasets.Val)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.LoadModel(id)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	preds, err := m.Predict(datasets.Val)
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != len(saved.Preds) {
		t.Fatalf("%d predictions, outputs hold %d", len(preds), len(saved.Preds))
	}
	for i := range preds {
		for j := range preds[i].Pose3D {
			for k := 0; k < 3; k++ {
				if math.Float64bits(preds[i].Pose3D[j][k]) != math.Float64bits(saved.Preds[i].Pose3D[j][k]) {
					t.Fatalf("sample %d joint %d: reloaded %v, trained %v", i, j, preds[i].Pose3D[j][k], saved.Preds[i].Pose3D[j][k])
				}
			}
		}
	}
	// Evaluation mode: sample 5 predicted inside a batch of other samples
	// equals sample 5 predicted in a batch of its own copies.
	B := m.Spec.Batch
	mixed := make([]int, B)
	alone := make([]int, B)
	for i := range mixed {
		mixed[i] = (i*37 + 5) % m.Task.Len(datasets.Val)
		alone[i] = 5
	}
	mixed[0] = 5
	pa := predictIdx(t, m, mixed)
	pb := predictIdx(t, m, alone)
	if pa[0].Pose3D != pb[0].Pose3D {
		t.Fatal("an evaluation-mode prediction depends on the rest of the batch (BatchNorm not using running statistics)")
	}
	// Training mode uses batch statistics (and dropout): the training loss
	// of a batch differs from its evaluation loss.
	bt, _ := m.Task.Batch(datasets.Val, mixed, false, 0, 0)
	evalLoss, _ := m.Prog.Loss(bt)
	trainLoss, _, err := m.Prog.Gradients(bt, 0)
	if err != nil {
		t.Fatal(err)
	}
	if evalLoss == trainLoss || !finite(evalLoss) || !finite(trainLoss) {
		t.Fatalf("train-mode loss %v equals eval-mode loss %v", trainLoss, evalLoss)
	}
}

func predictIdx(t *testing.T, m *Model, idx []int) []Prediction {
	t.Helper()
	b, err := m.Task.Batch(datasets.Val, idx, false, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Prog.Predict(b)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Task.Decode(datasets.Val, idx, out)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A resume that waited for a run's lock while another process trained
// the run (its watcher took it for foreign meanwhile) is not queued as
// it stood before: this engine does not start a foreign run, and it held
// the lock, so the run stayed queued for good.
func TestResumeThatWaitedOutAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	here, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: -1}) // looks when told
	if err != nil {
		t.Fatal(err)
	}
	defer here.Close()
	id, err := here.Submit(Spec{Model: "sb", Preset: "test", Epochs: 500})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "it to train", time.Minute, func() bool { i, _ := here.Run(id); return i.Epoch >= 1 })
	if err := here.Stop(id); err != nil {
		t.Fatal(err)
	}
	waitRun(t, here, id, time.Minute)
	there := openTestEngine(t, dir)
	defer there.Close()
	if err := there.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other process to train it", time.Minute, func() bool { i, _ := there.Run(id); return i.State == Running })
	res := make(chan error, 1)
	go func() { res <- here.Resume(id) }() // waits for the lock
	time.Sleep(100 * time.Millisecond)
	here.watchStore() // sees it trained there
	if err := there.Stop(id); err != nil {
		t.Fatal(err)
	}
	waitRun(t, there, id, time.Minute)
	err = <-res
	if i, _ := here.Run(id); err == nil && i.Foreign {
		t.Fatalf("resumed as %s, foreign (owner %d): nobody will train it", i.State, i.OwnerPID)
	}
	here.watchStore() // the lock is free: it is this process's again
	if err := here.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "it to train here", time.Minute, func() bool { i, _ := here.Run(id); return i.State == Running && !i.Foreign })
	here.Stop(id)
	waitRun(t, here, id, time.Minute)
}

// A stopped run whose last checkpoint is gone but whose best one is there
// is not resumed: it would start again from step 0 and write its first
// validation's weights over the best ones. Without either checkpoint it
// starts again and its log says so.
func TestResumeWithoutLastCheckpointKeepsTheBest(t *testing.T) {
	e := openTestEngine(t, "")
	defer e.Close()
	spec := slowSpec()
	spec.Epochs = 50
	id, err := e.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := e.st.runDir(id)
	best := CkptPath(dir, "best")
	waitFor(t, "a best checkpoint", time.Minute, func() bool { _, err := os.Stat(best); return err == nil })
	if err := e.Stop(id); err != nil {
		t.Fatal(err)
	}
	info := waitRun(t, e, id, time.Minute)
	if info.State != Stopped || info.Step == 0 {
		t.Fatalf("%s at step %d", info.State, info.Step)
	}
	kept, err := os.ReadFile(best)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(CkptPath(dir, "last")); err != nil {
		t.Fatal(err)
	}
	err = e.Resume(id)
	if err == nil || !strings.Contains(err.Error(), "last.ckpt is missing") || !strings.Contains(err.Error(), "--init "+id) {
		t.Fatalf("Resume without last.ckpt: %v", err)
	}
	if got, _ := e.Run(id); got.State != Stopped {
		t.Fatalf("a refused resume left the run %s", got.State)
	}
	if b, _ := os.ReadFile(best); string(b) != string(kept) {
		t.Fatal("best.ckpt changed")
	}
	// Without a best checkpoint either, it starts again, and says so.
	if err := os.Remove(best); err != nil {
		t.Fatal(err)
	}
	if err := e.Resume(id); err != nil {
		t.Fatal(err)
	}
	defer e.Stop(id)
	waitFor(t, "the log line", time.Minute, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "log"))
		return strings.Contains(string(b), "the run starts again from step 0, not at step")
	})
}
