package cuda

import (
	"sync"

	"poselab/engine/cuda/cu"
)

var (
	nvmlOnce sync.Once
	nvml     *cu.NVML
	nvmlErr  error
	nvmlMu   sync.Mutex
)

// Utilization returns the GPU's utilisation in percent (NVML, sampled by
// the driver over its last period), for the engine's resource events. It
// needs no CUDA context and works from any goroutine; without NVML it
// returns the load error.
func Utilization() (float64, error) {
	nvmlOnce.Do(func() { nvml, nvmlErr = cu.LoadNVML() })
	if nvmlErr != nil {
		return 0, nvmlErr
	}
	nvmlMu.Lock()
	defer nvmlMu.Unlock()
	return nvml.GPUUtil()
}
