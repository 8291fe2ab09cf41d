package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"poselab/engine"
)

func init() {
	Register(&Command{
		Name:    "devices",
		Summary: "what this machine can train on: CPU and BLAS, GPU, CUDA library versions, free memory",
		Run:     runDevices,
	})
}

const devicesSynopsis = `devices [--json]

Lists the devices poselab can train on here (--device cpu|cuda) and, for
each, whether it works and what it found: the CPU's cores and BLAS; the
GPU, the CUDA driver, cuBLAS, cuDNN and NVRTC versions and paths, the
kernels in use and the free memory; or why the device is not available.`

func runDevices(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("devices", devicesSynopsis, stderr)
	asJSON := fs.Bool("json", false, "one JSON array of {device, available, name, details, error}")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	devs := engine.Devices()
	if *asJSON {
		b, err := json.MarshalIndent(devs, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	for _, d := range devs {
		if !d.Available {
			fmt.Fprintf(stdout, "%-5s not available: %s\n", d.Device, d.Error)
			continue
		}
		fmt.Fprintf(stdout, "%-5s %s\n", d.Device, d.Name)
		for _, line := range strings.Split(d.Details, "\n") {
			if line != "" {
				fmt.Fprintf(stdout, "      %s\n", line)
			}
		}
	}
	return nil
}
