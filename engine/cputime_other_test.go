//go:build !linux

package engine

import (
	"syscall"
	"time"
)

// threadCPU is the CPU time of the whole process where a thread's own is
// not to be had (an upper bound of the calling thread's).
func threadCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
