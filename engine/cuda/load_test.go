package cuda

import (
	"strings"
	"testing"

	"poselab/engine/cuda/cu"
)

// Without a GPU (CI, this development machine) New must fail cleanly with
// an error naming the library and where it was looked for.
func TestNewWithoutGPUFailsCleanly(t *testing.T) {
	be, err := New()
	if err == nil {
		t.Skipf("a GPU is present: %s", Versions(be))
	}
	msg := err.Error()
	t.Logf("New without a GPU: %v", err)
	if !strings.Contains(msg, "lib") || !strings.Contains(msg, "cuda") {
		t.Fatalf("error does not name the missing library: %v", err)
	}
	// A second call gives the same clean error (no half-initialised state).
	if _, err2 := New(); err2 == nil || err2.Error() != msg {
		t.Fatalf("second New: %v, first: %v", err2, err)
	}
}

func TestLoadErrorNamesPaths(t *testing.T) {
	_, err := cu.LoadDnn()
	if err == nil {
		t.Skip("cuDNN is installed here")
	}
	le, ok := err.(*cu.LoadError)
	if !ok {
		t.Fatalf("error %T %v, want *cu.LoadError", err, err)
	}
	if le.Lib != "libcudnn.so.9" || len(le.Tried) == 0 {
		t.Fatalf("load error %+v", le)
	}
	if !strings.Contains(err.Error(), "libcudnn.so.9") || !strings.Contains(err.Error(), "tried") {
		t.Fatalf("message %q", err.Error())
	}
}

func TestUtilizationWithoutNVMLFailsCleanly(t *testing.T) {
	u, err := Utilization()
	if err == nil {
		t.Skipf("NVML is here: %v%%", u)
	}
	if !strings.Contains(err.Error(), "libnvidia-ml.so.1") {
		t.Fatalf("error does not name the library: %v", err)
	}
}

// Blackwell's sm_100 and sm_120 have TF32 too, though "sm_100" < "sm_80"
// as strings.
func TestHasTF32(t *testing.T) {
	for arch, want := range map[string]bool{"sm_75": false, "sm_80": true, "sm_86": true, "sm_90": true, "sm_100": true,
		"sm_120": true, "": false} {
		if got := hasTF32(arch); got != want {
			t.Errorf("hasTF32(%q) = %v, want %v", arch, got, want)
		}
	}
}
