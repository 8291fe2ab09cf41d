package cli

import (
	"encoding/json"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"poselab/engine"
)

// `poselab devices` lists the CPU as available with its BLAS, and the CUDA
// device either with its libraries or with why it cannot start; --json
// says the same as data; stray arguments are a usage error.
func TestDevicesCommand(t *testing.T) {
	out, errs, code := trainCLI(t, "devices")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "cpu   CPU (") || !strings.Contains(out, "matrix products: ") {
		t.Errorf("no CPU line with its BLAS:\n%s", out)
	}
	// A CPU run's resource line is the process's RSS of this total.
	if runtime.GOOS == "linux" && !regexp.MustCompile(`memory: [0-9.]+ GiB RAM, [0-9.]+ GiB available`).MatchString(out) {
		t.Errorf("no CPU memory line:\n%s", out)
	}
	if !strings.Contains(out, "cuda  not available: ") && !strings.Contains(out, "cuDNN") {
		t.Errorf("the cuda line neither says why it is unavailable nor lists the libraries:\n%s", out)
	}
	out, errs, code = trainCLI(t, "devices", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errs)
	}
	var devs []engine.DeviceStatus
	if err := json.Unmarshal([]byte(out), &devs); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	seen := map[string]engine.DeviceStatus{}
	for _, d := range devs {
		seen[d.Device] = d
		if d.Available == (d.Error != "") {
			t.Errorf("%s: available %v with error %q", d.Device, d.Available, d.Error)
		}
	}
	if cpu := seen["cpu"]; !cpu.Available || !strings.HasPrefix(cpu.Name, "CPU (") || cpu.Details == "" {
		t.Errorf("cpu: %+v", cpu)
	}
	if _, ok := seen["cuda"]; !ok {
		t.Errorf("no cuda entry: %+v", devs)
	}
	if _, _, code := trainCLI(t, "devices", "gpu"); code != 2 {
		t.Errorf("a stray argument: exit %d, want 2", code)
	}
}
