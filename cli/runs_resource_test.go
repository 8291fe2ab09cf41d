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
