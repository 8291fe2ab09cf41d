package tui

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"poselab/engine"
)

// recording is a real run's events as JSON lines: one line per event, with
// the validation samples (not part of the event JSON) beside it, and a last
// line with the run's final summary and schedule.
type recordLine struct {
	Event    *engine.Event       `json:"event,omitempty"`
	Samples  []engine.PoseSample `json:"samples,omitempty"`
	Info     *engine.RunInfo     `json:"info,omitempty"`
	Schedule *engine.Schedule    `json:"schedule,omitempty"`
}

const recordingPath = "testdata/sb-tiny-run.jsonl"

// TestRecordRealRun trains a short real SB run with the engine and writes
// its events to testdata (run with POSELAB_RECORD=1; the replay tests use
// the file, so they stay deterministic).
func TestRecordRealRun(t *testing.T) {
	if os.Getenv("POSELAB_RECORD") == "" {
		t.Skip("set POSELAB_RECORD=1 to record a real run into " + recordingPath)
	}
	eng, err := engine.Open(engine.Options{RunsDir: t.TempDir(), StepEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	_, ch, cancel := eng.Subscribe()
	defer cancel()
	id, err := eng.Submit(engine.Spec{Name: "sb-tiny", Model: "sb", Preset: "tiny", Data: "synth", Device: "cpu", Epochs: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.FromSlash(recordingPath))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	timeout := time.After(5 * time.Minute)
	for done := false; !done; {
		select {
		case ev := <-ch:
			if ev.Run != id {
				continue
			}
			line := recordLine{Event: &ev}
			if ev.Epoch != nil {
				line.Samples = ev.Epoch.Samples
			}
			if err := enc.Encode(line); err != nil {
				t.Fatal(err)
			}
			done = ev.Kind == engine.EvFinished || ev.Kind == engine.EvFailed
		case <-timeout:
			t.Fatal("the run did not finish in 5 minutes")
		}
	}
	info, _ := eng.Run(id)
	sched, _ := eng.Schedule(id)
	if err := enc.Encode(recordLine{Info: &info, Schedule: &sched}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// replay loads the recording into a fake controller.
func replay(t *testing.T) *fakeCtrl {
	t.Helper()
	f, err := os.Open(filepath.FromSlash(recordingPath))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fc := newFake()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l recordLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Event != nil {
			ev := *l.Event
			if ev.Epoch != nil {
				// Recorded before samples carried their error: scored
				// as the engine scores them (it does on loading such a
				// run store).
				ev.Epoch.Samples = scoredAsTheEngine(l.Samples)
			}
			fc.hist = append(fc.hist, ev)
		}
		if l.Info != nil {
			fc.addRun(*l.Info, *l.Schedule)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(fc.order) != 1 || len(fc.hist) < 10 {
		t.Fatalf("recording has %d runs and %d events", len(fc.order), len(fc.hist))
	}
	return fc
}
