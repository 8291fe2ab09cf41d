package engine

import (
	"testing"
	"time"

	"poselab/engine/cpu"
	"poselab/nn"
)

// The resource samples of a run another process trains (its device
// memory, GPU utilisation and pace) reach this engine's viewers as the
// same resource events its own process publishes, from the run store: a
// workbench opened on a remote GPU box showed nothing of them.
func TestWatchPublishesTheResourceSamplesOfAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	_, live, cancel := viewer.Subscribe()
	defer cancel()
	trainer, err := Open(Options{RunsDir: dir, OpenData: testOpenData, StepEvery: time.Millisecond, WatchEvery: 10 * time.Millisecond,
		NewBackend: func(dev string) (nn.Backend, error) { return gpuLike{cpu.New()}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer trainer.Close()
	_, mine, cancelMine := trainer.Subscribe()
	defer cancelMine()
	spec := slowSpec()
	spec.Epochs, spec.Device = 100, "cuda"
	id, err := trainer.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	var got Event
	timeout := time.After(time.Minute)
	for got.Res == nil {
		select {
		case ev := <-live:
			if ev.Run == id && ev.Kind == EvResource {
				got = ev
			}
		case <-timeout:
			t.Fatal("the viewer published no resource event of the run another engine trains")
		}
	}
	if info, _ := viewer.Run(id); !info.Foreign {
		t.Fatal("the viewer trains the run itself")
	}
	// The trainer's own events: the viewer's sample is one of them, its
	// time the sample's.
	var want []Resource
	for found := false; !found; {
		select {
		case ev := <-mine:
			if ev.Run == id && ev.Kind == EvResource {
				want = append(want, *ev.Res)
				found = *ev.Res == *got.Res && ev.Time.Sub(got.Time).Abs() < time.Millisecond
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the viewer's resource event %+v at %v is none of the trainer's %+v", *got.Res, got.Time, want)
		}
	}
	if r := got.Res; r.Device != "Fake GPU 80GB" || r.GPUUtil != 87 || r.MemUsedBytes != 3<<30 || r.MemTotalBytes != 80<<30 || r.MemKind != MemDevice {
		t.Fatalf("the viewer's resource event %+v: want the trainer's GPU, 87%% utilisation, 3 GiB of 80 GiB", *r)
	}
	if info, _ := viewer.Run(id); !info.ResourceLive(time.Now()) {
		t.Fatalf("the viewer's run info: sample %+v at %v, not live", info.Resource, info.ResourceAt)
	}
	// Stopped, its last sample stays in the store, not live.
	if err := trainer.Stop(id); err != nil {
		t.Fatal(err)
	}
	waitRun(t, trainer, id, time.Minute)
	waitFor(t, "the viewer to see the run stopped", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return !i.State.Active()
	})
	if info, _ := viewer.Run(id); info.Resource == nil || info.ResourceLive(time.Now()) {
		t.Fatalf("the stopped run's last sample %+v: want it kept, not live", info.Resource)
	}
}

// A watcher publishes a stored sample only while it describes the run:
// not one of an earlier session of the run, nor the last one of a run
// paused a while ago, which the store keeps and a first look finds.
func TestWatchLeavesOutResourceSamplesThatAreNotLive(t *testing.T) {
	dir := t.TempDir()
	x := newFakeForeign(t, dir) // running, its session started an hour ago
	x.train(0, 10, 0)
	sample := func(mem int64, at time.Time) {
		t.Helper()
		if err := x.st.putResource(x.info.Spec.ID, &Resource{MemUsedBytes: mem, MemKind: MemHost, SamplesPerSec: 100}, at); err != nil {
			t.Fatal(err)
		}
	}
	sample(1, time.Now().Add(-2*time.Hour)) // its last session's
	viewer := openWatchEngine(t, dir)
	defer viewer.Close()
	hist, live, cancel := viewer.Subscribe()
	defer cancel()
	id := x.info.Spec.ID
	next := func() int64 {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			// from its first look on, which may come before Subscribe
			for len(hist) > 0 {
				ev := hist[0]
				hist = hist[1:]
				if ev.Run == id && ev.Kind == EvResource {
					return ev.Res.MemUsedBytes
				}
			}
			select {
			case ev := <-live:
				if ev.Run == id && ev.Kind == EvResource {
					return ev.Res.MemUsedBytes
				}
			case <-timeout:
				t.Fatal("no resource event")
			}
		}
	}
	// A look of the viewer's has found the old sample: it publishes the
	// steps stored since in the same look.
	x.train(10, 20, 0)
	waitFor(t, "the viewer to follow the run", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return i.Foreign && i.Step == 20 && i.Resource != nil
	})
	if i, _ := viewer.Run(id); i.ResourceLive(time.Now()) {
		t.Fatal("a sample of the run's earlier session reads as live")
	}
	sample(2, time.Now())
	if got := next(); got != 2 {
		t.Fatalf("resource event with %d bytes, want the new sample's 2", got)
	}
	x.info.State = Paused
	if err := x.st.updateRun(x.info); err != nil {
		t.Fatal(err)
	}
	sample(3, time.Now().Add(-time.Minute)) // paused since a minute
	waitFor(t, "the viewer to read the old sample", time.Minute, func() bool {
		i, _ := viewer.Run(id)
		return i.State == Paused && i.Resource != nil && i.Resource.MemUsedBytes == 3
	})
	if i, _ := viewer.Run(id); i.ResourceLive(time.Now()) {
		t.Fatal("the sample of a run paused a minute ago reads as live")
	}
	sample(4, time.Now())
	if got := next(); got != 4 {
		t.Fatalf("resource event with %d bytes, want the paused run's new sample's 4 (and not the minute-old 3)", got)
	}
}

// A resumed run has no sample of its new session until it trains: the
// one its last session stored (up to 5 s before it stopped, or before its
// process was killed) is not its use while it waits for a trainer, and
// within 15 s of it read as live, in this process and in the others.
func TestAResumedRunShowsNoSampleOfItsLastSession(t *testing.T) {
	fastSlotRetry(t)
	dir := t.TempDir()
	a := openSlotEngine(t, dir, nil, nil)
	defer a.Close()
	spec := resumeSpec()
	spec.Epochs = 1000
	id, err := a.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the run to store a resource sample", time.Minute, func() bool {
		i, _ := a.Run(id)
		return i.State == Running && i.Resource != nil
	})
	if err := a.Stop(id); err != nil {
		t.Fatal(err)
	}
	waitRun(t, a, id, time.Minute)

	// Another process trains on the cpu: the resumed run stays queued.
	b := openSlotEngine(t, dir, nil, nil)
	defer b.Close()
	hog, err := b.Submit(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the other run to train", time.Minute, func() bool { i, _ := b.Run(hog); return i.State == Running })
	if err := a.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed run to wait for the trainer", time.Minute, func() bool {
		i, _ := a.Run(id)
		return i.State == Queued && i.Reason != "resumed"
	})
	if i, _ := a.Run(id); i.SessionResource() != nil || i.ResourceLive(time.Now()) {
		t.Errorf("the queued resumed run has the sample %+v of %v (its last session started %v)", i.Resource, i.ResourceAt, i.Started)
	}
	stored := RunInfo{Spec: Spec{ID: id}}
	if err := a.st.readRun(&stored); err != nil {
		t.Fatal(err)
	}
	if stored.SessionResource() != nil || stored.ResourceLive(time.Now()) {
		t.Errorf("the store gives the queued resumed run the sample %+v of %v (its last session started %v)", stored.Resource, stored.ResourceAt, stored.Started)
	}
	if err := b.Stop(hog); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resumed run to store a sample of its new session", time.Minute, func() bool {
		i, _ := a.Run(id)
		return i.State == Running && i.SessionResource() != nil
	})
}
