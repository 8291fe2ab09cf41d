package engine

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"poselab/engine/cpu"
	"poselab/engine/cuda"
	"poselab/nn"
)

// Backends by device name. "cpu" is always here; the CUDA backend adds
// "cuda" (engine/cuda's New) in the line marked below, or registers itself
// with RegisterBackend from a file built with it.
var (
	backendsMu sync.RWMutex
	backends   = map[string]func() (nn.Backend, error){
		"cpu":  func() (nn.Backend, error) { return cpu.New(), nil },
		"cuda": cuda.New,
	}
)

// RegisterBackend adds (or replaces) the constructor of a device's backend.
func RegisterBackend(device string, ctor func() (nn.Backend, error)) {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	backends[device] = ctor
}

// NewBackend returns the backend of a device ("cpu", "cuda").
func NewBackend(device string) (nn.Backend, error) {
	if device == "" {
		device = "cpu"
	}
	backendsMu.RLock()
	ctor, ok := backends[device]
	var names []string
	for n := range backends {
		names = append(names, n)
	}
	backendsMu.RUnlock()
	sort.Strings(names)
	if !ok {
		if device == "cuda" {
			return nil, fmt.Errorf("device cuda: this poselab has no CUDA backend (available: %s)", strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("unknown device %q (available: %s)", device, strings.Join(names, ", "))
	}
	b, err := ctor()
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", device, err)
	}
	return b, nil
}

// DeviceStatus is what `poselab devices` says of one device.
type DeviceStatus struct {
	Device    string `json:"device"`
	Available bool   `json:"available"`
	Name      string `json:"name,omitempty"`    // e.g. "CPU (2 cores, OpenBLAS)"
	Details   string `json:"details,omitempty"` // library versions, kernels, memory
	Error     string `json:"error,omitempty"`   // why it is not available
}

// Devices reports every registered device: whether its backend starts
// here, and what it says of itself.
func Devices() []DeviceStatus {
	backendsMu.RLock()
	var names []string
	for n := range backends {
		names = append(names, n)
	}
	backendsMu.RUnlock()
	sort.Strings(names)
	var out []DeviceStatus
	for _, n := range names {
		st := DeviceStatus{Device: n}
		b, err := NewBackend(n)
		if err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				err = inner // NewBackend's "device NAME: " prefix: the listing names the device
			}
			st.Error = err.Error()
		} else {
			st.Available, st.Name = true, b.Device()
			if d, ok := b.(interface{ Details() string }); ok {
				st.Details = d.Details()
			}
		}
		out = append(out, st)
	}
	return out
}
