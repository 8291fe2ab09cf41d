package engine

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"poselab/engine/cpu"
	"poselab/internal/procmem"
	"poselab/nn"
)

// gpuLike is the CPU backend dressed as a GPU one: it names a device,
// counts device memory and reports a utilisation, as the CUDA backend does
// (which cannot run here).
type gpuLike struct{ nn.Backend }

func (gpuLike) Name() string                  { return "cuda" }
func (gpuLike) Device() string                { return "Fake GPU 80GB" }
func (gpuLike) Utilization() (float64, error) { return 87, nil }
func (b gpuLike) Compile(g *nn.Graph, opt nn.Options) (nn.Program, error) {
	p, err := b.Backend.Compile(g, opt)
	return gpuLikeProgram{p}, err
}

type gpuLikeProgram struct{ nn.Program }

func (gpuLikeProgram) Memory() nn.MemoryStats {
	return nn.MemoryStats{Used: 3 << 30, Peak: 4 << 30, Total: 80 << 30}
}
func (gpuLikeProgram) Describe() string { return "training step: CUDA graph; BatchNorm: multi-block" }

// A GPU backend's device name, device memory and utilisation reach the
// resource events that the TUI's resource line shows, and the program's
// description of how it runs reaches the run log.
func TestResourceEventsCarryDeviceMemoryAndUtilisation(t *testing.T) {
	e, err := Open(Options{RunsDir: t.TempDir(), OpenData: testOpenData, StepEvery: time.Millisecond,
		NewBackend: func(dev string) (nn.Backend, error) {
			if dev != "cuda" {
				return NewBackend(dev)
			}
			return gpuLike{cpu.New()}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, ch, cancel := e.Subscribe()
	defer cancel()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1, Device: "cuda"})
	if err != nil {
		t.Fatal(err)
	}
	if info := waitRun(t, e, id, 2*time.Minute); info.State != Finished {
		t.Fatalf("run %s: %s (%s)", id, info.State, info.Reason)
	}
	var res *Resource
	var described string
	for res == nil || described == "" {
		select {
		case ev := <-ch:
			if ev.Kind == EvResource && ev.Run == id && res == nil {
				res = ev.Res
			}
			if ev.Kind == EvLog && ev.Run == id && strings.HasPrefix(ev.Log, "backend: ") {
				described = ev.Log
			}
		case <-time.After(time.Minute): // queued already: only their delivery is left
			t.Fatalf("resource event %v, backend log line %q", res, described)
		}
	}
	if described != "backend: training step: CUDA graph; BatchNorm: multi-block" {
		t.Fatalf("run log line %q: want the program's own description", described)
	}
	if res.Device != "Fake GPU 80GB" || res.GPUUtil != 87 || res.MemUsedBytes != 3<<30 || res.MemTotalBytes != 80<<30 || res.MemKind != MemDevice {
		t.Fatalf("resource event %+v: want the backend's device, 87%% utilisation, 3 GiB used of 80 GiB", *res)
	}
}

// A CPU run's memory is the process's resident set of the machine's RAM,
// labelled so: it was the Go heap of the runtime's reserve ("37 MiB / 78
// MiB"), which read as nearly full on any machine.
func TestCPUResourceIsTheProcessOfTheMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RSS and RAM come from Linux's /proc")
	}
	e := openTestEngine(t, "")
	defer e.Close()
	_, ch, cancel := e.Subscribe()
	defer cancel()
	id, err := e.Submit(Spec{Model: "sb", Preset: "test", Epochs: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitRun(t, e, id, 2*time.Minute)
	var res *Resource
	for res == nil {
		select {
		case ev := <-ch:
			if ev.Kind == EvResource && ev.Run == id {
				res = ev.Res
			}
		case <-time.After(time.Minute):
			t.Fatal("no resource event")
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	ram, _ := procmem.RAM()
	if res.MemKind != MemHost || res.MemTotalBytes != ram || res.MemUsedBytes < int64(ms.HeapInuse)/2 || res.MemUsedBytes >= ram {
		t.Fatalf("resource %+v: want the RSS (heap in use %d) of the machine's %d bytes, kind %q", *res, ms.HeapInuse, ram, MemHost)
	}
}
