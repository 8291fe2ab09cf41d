package cu

import "fmt"

// NVML holds the few NVIDIA management library calls poselab uses
// (libnvidia-ml.so.1, installed with the driver): GPU utilisation.
type NVML struct {
	Path string

	Init           func() int32
	HandleByIndex  func(i uint32, dev *uintptr) int32
	UtilRates      func(dev uintptr, u *Utilization) int32
	ErrorString    func(r int32) string
	device         uintptr
	deviceResolved bool
}

// Utilization is nvmlUtilization_t: percent of time the GPU ran kernels
// and the memory was read or written over the last sample period.
type Utilization struct {
	GPU, Memory uint32
}

// LoadNVML opens NVML and initialises it.
func LoadNVML() (*NVML, error) {
	l, err := open("libnvidia-ml.so.1", "libnvidia-ml.so")
	if err != nil {
		return nil, err
	}
	n := &NVML{Path: l.path}
	if err := l.bind(map[string]any{
		"nvmlInit_v2":                   &n.Init,
		"nvmlDeviceGetHandleByIndex_v2": &n.HandleByIndex,
		"nvmlDeviceGetUtilizationRates": &n.UtilRates,
		"nvmlErrorString":               &n.ErrorString,
	}); err != nil {
		return nil, err
	}
	if r := n.Init(); r != 0 {
		return nil, fmt.Errorf("nvml: init: %s", n.ErrorString(r))
	}
	return n, nil
}

// GPUUtil returns GPU 0's utilisation in percent.
func (n *NVML) GPUUtil() (float64, error) {
	if !n.deviceResolved {
		if r := n.HandleByIndex(0, &n.device); r != 0 {
			return 0, fmt.Errorf("nvml: device 0: %s", n.ErrorString(r))
		}
		n.deviceResolved = true
	}
	var u Utilization
	if r := n.UtilRates(n.device, &u); r != 0 {
		return 0, fmt.Errorf("nvml: utilization: %s", n.ErrorString(r))
	}
	return float64(u.GPU), nil
}
