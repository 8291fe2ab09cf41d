package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"poselab/engine"
)

// `poselab runs watch --json` of a run another process trains prints that
// process's resource samples as train --json's resource events, and `runs
// show` gives the newest with its age: the one screen opened on a remote
// GPU box to check a long run said nothing of its memory or speed.
func TestRunsWatchAndShowGiveTheResourcesOfAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	e, err := engine.Open(engine.Options{RunsDir: dir, WatchEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, mine, cancel := e.Subscribe()
	defer cancel()
	id, err := e.Submit(engine.Spec{Model: "sb", Preset: "test", Epochs: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var first engine.Resource // the trainer's first sample, which it stores at once
	for first.MemUsedBytes == 0 {
		select {
		case ev := <-mine:
			if ev.Run == id && ev.Kind == engine.EvResource {
				first = *ev.Res
			}
		case <-time.After(time.Minute):
			t.Fatal("the trainer published no resource event")
		}
	}
	cli := func(args ...string) string {
		t.Helper()
		var so, se bytes.Buffer
		if code := Main(append(args, "--runs-dir", dir), &so, &se); code != 0 {
			t.Fatalf("poselab %v: exit %d\n%s%s", args, code, so.String(), se.String())
		}
		return so.String()
	}
	var show string
	for deadline := time.Now().Add(time.Minute); !strings.Contains(show, "  resources RSS "); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runs show of the running run gives no resource line:\n%s", show)
		}
		show = cli("runs", "show", id)
	}
	info, _ := e.Run(id)
	if !strings.Contains(show, " ago on "+info.Device+")") {
		t.Fatalf("runs show's resource line has no age or device:\n%s", show)
	}
	var shown struct {
		Resource map[string]any `json:"resource"`
	}
	if err := json.Unmarshal([]byte(cli("runs", "show", id, "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if r := shown.Resource; r == nil || r["live"] != true || r["mem_kind"] != "rss" || !(r["mem_used_bytes"].(float64) > 0) || r["age_s"] == nil {
		t.Fatalf("runs show --json's resource: %v", r)
	}

	out := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		var se bytes.Buffer
		done <- Main([]string{"runs", "watch", id, "--json", "--runs-dir", dir}, out, &se)
	}()
	var got map[string]any
	for deadline := time.Now().Add(time.Minute); got == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runs watch --json printed no resource event:\n%s", out.String())
		}
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, `"event":"resource"`) {
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatalf("%v: %s", err, line)
				}
				break
			}
		}
	}
	if err := e.Stop(id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("runs watch did not end with the run")
	}
	// The keys of train --json's resource events, with the trainer's
	// numbers (a CPU run: the process's RSS of the machine's RAM).
	if got["run"] != id || got["device"] != info.Device || got["mem_kind"] != "rss" || !(got["mem_used_bytes"].(float64) > 0) ||
		got["mem_total_bytes"] != float64(first.MemTotalBytes) || got["samples_per_s"] == nil || got["time"] == nil {
		t.Fatalf("runs watch --json's resource event %v; the trainer's first %+v", got, first)
	}
}

// runs show gives an active run's sample of its current session with its
// age, as live only where the engine says so: a run paused a minute ago
// shows its last sample as such, an ended run none.
func TestRunsShowResourceLine(t *testing.T) {
	now := time.Unix(1795740000, 0)
	res := &engine.Resource{Device: "NVIDIA H100", MemUsedBytes: 5 << 30, MemTotalBytes: 80 << 30, MemKind: engine.MemDevice, GPUUtil: 97, SamplesPerSec: 1234}
	info := func(state engine.State, age time.Duration) engine.RunInfo {
		return engine.RunInfo{State: state, Started: now.Add(-time.Hour), Resource: res, ResourceAt: now.Add(-age)}
	}
	for _, c := range []struct {
		i    engine.RunInfo
		want string
	}{
		{info(engine.Running, 3*time.Second), "resources mem 5.0 GiB / 80.0 GiB · GPU 97% · 1234 samples/s (sampled 3s ago on NVIDIA H100)"},
		{info(engine.Paused, 4*time.Second), "resources mem 5.0 GiB / 80.0 GiB · GPU 97% (sampled 4s ago on NVIDIA H100)"},
		{info(engine.Paused, time.Minute), "last resource sample 1m0s ago, before it was paused (not its use now): mem 5.0 GiB / 80.0 GiB · GPU 97%"},
		{info(engine.Finished, time.Second), ""},
		{info(engine.Running, 2*time.Hour), ""}, // its earlier session's
	} {
		if got := resourceText(c.i, now); got != c.want {
			t.Errorf("%s, sampled %v ago: %q, want %q", c.i.State, now.Sub(c.i.ResourceAt), got, c.want)
		}
		m := resourceJSON(c.i, now)
		if (m == nil) != (c.want == "") || (m != nil && m["live"] != !strings.HasPrefix(c.want, "last ")) {
			t.Errorf("%s, sampled %v ago: --json %v", c.i.State, now.Sub(c.i.ResourceAt), m)
		}
	}
}
