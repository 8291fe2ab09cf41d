// Package procmem reads how much memory this process holds and how much
// the machine has, for the CPU device's resource line: the Go heap against
// the runtime's reserve (what it showed before) read as nearly full
// whatever the machine had. Linux's /proc only; elsewhere the numbers are
// unknown (0).
package procmem

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// RSS is the process's resident set size in bytes (0: unknown).
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	return parseStatm(b, int64(os.Getpagesize()))
}

// parseStatm reads statm's second field (resident pages).
func parseStatm(b []byte, page int64) int64 {
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || pages < 0 {
		return 0
	}
	return pages * page
}

// RAM is the machine's memory in bytes: its total and what is available
// to start new work without swapping (0: unknown).
func RAM() (total, available int64) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	return parseMeminfo(b)
}

func parseMeminfo(b []byte) (total, available int64) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 2 && f[2] == "kB" {
			v <<= 10
		}
		switch f[0] {
		case "MemTotal:":
			total = v
		case "MemAvailable:":
			available = v
		}
	}
	return total, available
}
