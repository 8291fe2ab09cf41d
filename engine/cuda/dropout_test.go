package cuda

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"poselab/nn"
)

// kernelDropKeep is a line-for-line Go port of the kernel's dropKeep (see
// kernelSource): the same uint64 operations in the same order.
func kernelDropKeep(seed, step, node, i uint64, p float64) bool {
	z := seed ^ step*0x9e3779b97f4a7c15 ^ node*0xbf58476d1ce4e5b9 ^ i*0x94d049bb133111eb
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>40)*(1.0/16777216.0) >= p
}

func TestKernelDropoutHashMatchesNN(t *testing.T) {
	seeds := []int64{0, 1, 42, -7, math.MaxInt64, math.MinInt64}
	steps := []int{0, 1, 999, 1 << 40}
	for _, seed := range seeds {
		for _, step := range steps {
			for node := 0; node < 40; node += 13 {
				for _, p := range []float64{0, 0.1, 0.5, 0.9} {
					for i := 0; i < 3000; i += 7 {
						idx := i
						if i > 2000 {
							idx = i * 1_000_003 // indices beyond 2^31
						}
						got := kernelDropKeep(uint64(seed), uint64(step), uint64(node), uint64(idx), p)
						if want := nn.DropoutKeep(seed, step, node, idx, p); got != want {
							t.Fatalf("seed %d step %d node %d i %d p %g: kernel %v, nn %v", seed, step, node, idx, p, got, want)
						}
					}
				}
			}
		}
	}
}

// The port must be the kernel's code: check the constants and shifts
// appear in kernelSource in this order.
func TestKernelSourceHasTheHash(t *testing.T) {
	body := kernelSource[strings.Index(kernelSource, "dropKeep(u64 seed"):]
	body = body[:strings.Index(body, "}")]
	want := []string{"0x9e3779b97f4a7c15ULL", "0xbf58476d1ce4e5b9ULL", "0x94d049bb133111ebULL", ">> 30", "0xbf58476d1ce4e5b9ULL",
		">> 27", "0x94d049bb133111ebULL", ">> 31", "z >> 40", "16777216.0", ">= p"}
	pos := 0
	for _, w := range want {
		k := strings.Index(body[pos:], w)
		if k < 0 {
			t.Fatalf("kernel hash lacks %q after position %d:\n%s", w, pos, body)
		}
		pos += k + len(w)
	}
}

// A cheap syntax sanity check of the kernel source: balanced brackets and
// every kernel the backend looks up is defined.
func TestKernelSourceSanity(t *testing.T) {
	depth := map[rune]int{}
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	code := regexp.MustCompile(`//[^\n]*`).ReplaceAllString(kernelSource, "")
	for _, r := range code {
		switch r {
		case '(', '[', '{':
			depth[r]++
		case ')', ']', '}':
			depth[pairs[r]]--
			if depth[pairs[r]] < 0 {
				t.Fatalf("unbalanced %q", r)
			}
		}
	}
	for r, d := range depth {
		if d != 0 {
			t.Fatalf("unbalanced %q (%d open)", r, d)
		}
	}
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`__global__ void (\w+)\(`).FindAllStringSubmatch(kernelSource, -1) {
		defined[m[1]] = true
	}
	for _, k := range kernelNames {
		if !defined[k] {
			t.Errorf("kernel %s is looked up but not defined", k)
		}
	}
	if len(defined) != len(kernelNames) {
		t.Errorf("%d kernels defined, %d looked up", len(defined), len(kernelNames))
	}
}
