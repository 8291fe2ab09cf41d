package cuda

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"poselab/engine/cuda/cu"
)

// The CPU emulator runs kernelSource's kernels on this machine: g++
// compiles testdata/emulate_prelude.h + kernelSource + a main generated
// from the kernel signatures into a program that reads a script (arena
// size, uploads, launches, download) and executes it. A session records
// launches through a real *device whose driver's LaunchKernel writes
// script lines, so the Go launch code (grids, argument order, scratch
// layout) is what gets tested, not a copy of it.

//go:embed testdata/emulate_prelude.h
var emuPrelude string

// emuServeSource is the interactive mode a live emulated device talks to
// (emulate_device_test.go).
//
//go:embed testdata/emulate_serve.h
var emuServeSource string

// emuBase is the device address of arena byte 0 (as in the prelude).
const emuBase = uint64(1) << 32

// emuGuard is the byte the arena starts filled with; bytes outside every
// allocation must still hold it after the kernels ran.
const emuGuard = 0xA5

var (
	emuOnce sync.Once
	emuDir  string
	emuBin  string
	emuErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if emuDir != "" {
		os.RemoveAll(emuDir)
	}
	os.Exit(code)
}

// emuParam is one kernel parameter: its C type and launch-slot kind.
type emuParam struct{ typ, kind string }

// emuKernels parses every __global__ kernel's parameter types.
func emuKernels() (map[string][]emuParam, []string) {
	re := regexp.MustCompile(`__global__ void (\w+)\(([^)]*)\)`)
	nameRe := regexp.MustCompile(`^(.*?)\s*\b\w+$`)
	sigs := kernelSigs()
	out := map[string][]emuParam{}
	var order []string
	for _, m := range re.FindAllStringSubmatch(kernelSource, -1) {
		var ps []emuParam
		for i, p := range strings.Split(m[2], ",") {
			p = strings.Join(strings.Fields(p), " ")
			tm := nameRe.FindStringSubmatch(p)
			typ := p
			if tm != nil {
				typ = tm[1]
			}
			ps = append(ps, emuParam{typ: typ, kind: sigs[m[1]][i]})
		}
		out[m[1]] = ps
		order = append(order, m[1])
	}
	return out, order
}

// emuMain generates the script interpreter: one dispatch case per kernel.
func emuMain() (string, error) {
	ks, order := emuKernels()
	var b strings.Builder
	b.WriteString(emuServeSource)
	b.WriteString(`
static void emuDispatch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned bx, std::vector<uint64_t> a) {
`)
	for _, name := range order {
		var args []string
		for i, p := range ks[name] {
			var e string
			switch p.kind {
			case "ptr":
				e = fmt.Sprintf("(%s)emuPtr(a[%d])", p.typ, i)
			case "int":
				e = fmt.Sprintf("(int)(uint32_t)a[%d]", i)
			case "i64":
				e = fmt.Sprintf("(long long)a[%d]", i)
			case "u64":
				e = fmt.Sprintf("(unsigned long long)a[%d]", i)
			case "float":
				e = fmt.Sprintf("emuF32(a[%d])", i)
			case "double":
				e = fmt.Sprintf("emuF64(a[%d])", i)
			default:
				return "", fmt.Errorf("kernel %s parameter %d: unknown kind %q", name, i, p.kind)
			}
			args = append(args, e)
		}
		fmt.Fprintf(&b, "\tif (!std::strcmp(name, %q)) {\n", name)
		fmt.Fprintf(&b, "\t\tif (a.size() != %d) { std::fprintf(stderr, \"emulator: %s takes %d arguments, got %%zu\\n\", a.size()); std::exit(7); }\n",
			len(args), name, len(args))
		fmt.Fprintf(&b, "\t\temuLaunch(gx, gy, gz, bx, [=] { %s(%s); });\n\t\treturn;\n\t}\n", name, strings.Join(args, ", "))
	}
	b.WriteString(`	std::fprintf(stderr, "emulator: no kernel %s\n", name);
	std::exit(8);
}

// Script lines: "arena BYTES", "load OFF BYTES FILE", "save OFF BYTES FILE",
// "launch NAME GX GY GZ BX NARGS HEXSLOT...". Files are relative to argv[1].
static std::string emuPath(const char* dir, const char* f) { return std::string(dir) + "/" + f; }

int main(int argc, char** argv) {
	if (argc == 3 && !std::strcmp(argv[1], "-i")) return emuServe(std::strtoull(argv[2], nullptr, 10));
	if (argc != 2) { std::fprintf(stderr, "usage: emu DIR < script, or emu -i ARENA_BYTES\n"); return 2; }
	char cmd[64], name[128], file[256];
	while (std::scanf("%63s", cmd) == 1) {
		if (!std::strcmp(cmd, "arena")) {
			unsigned long long n;
			if (std::scanf("%llu", &n) != 1) return 3;
			emuArena = (unsigned char*)std::malloc(n);
			emuArenaBytes = n;
			std::memset(emuArena, 0xA5, n);
		} else if (!std::strcmp(cmd, "load") || !std::strcmp(cmd, "save")) {
			unsigned long long off, n;
			if (std::scanf("%llu %llu %255s", &off, &n, file) != 3 || off + n > emuArenaBytes) return 3;
			bool load = cmd[0] == 'l';
			FILE* f = std::fopen(emuPath(argv[1], file).c_str(), load ? "rb" : "wb");
			if (!f) { std::perror(file); return 3; }
			size_t done = load ? std::fread(emuArena + off, 1, n, f) : std::fwrite(emuArena + off, 1, n, f);
			std::fclose(f);
			if (done != n) { std::fprintf(stderr, "emulator: short %s of %s\n", cmd, file); return 3; }
		} else if (!std::strcmp(cmd, "launch")) {
			unsigned gx, gy, gz, bx, na;
			if (std::scanf("%127s %u %u %u %u %u", name, &gx, &gy, &gz, &bx, &na) != 6) return 3;
			std::vector<uint64_t> a(na);
			for (unsigned i = 0; i < na; i++)
				if (std::scanf("%llx", (unsigned long long*)&a[i]) != 1) return 3;
			emuDispatch(name, gx, gy, gz, bx, a);
		} else {
			std::fprintf(stderr, "emulator: unknown command %s\n", cmd);
			return 3;
		}
	}
	return 0;
}
`)
	return b.String(), nil
}

// emulator returns the compiled emulator (built once per test process),
// skipping the test where there is no g++.
func emulator(t *testing.T) string {
	t.Helper()
	gxx, err := exec.LookPath("g++")
	if err != nil {
		t.Skip("no g++ on this machine: the CUDA kernel emulator needs a host C++ compiler")
	}
	emuOnce.Do(func() {
		if emuDir, emuErr = os.MkdirTemp("", "poselab-emu-"); emuErr != nil {
			return
		}
		var main string
		if main, emuErr = emuMain(); emuErr != nil {
			return
		}
		src := filepath.Join(emuDir, "emu.cpp")
		if emuErr = os.WriteFile(src, []byte(emuPrelude+kernelSource+main), 0o644); emuErr != nil {
			return
		}
		emuBin = filepath.Join(emuDir, "emu")
		out, err := exec.Command(gxx, "-std=c++17", "-O1", "-pthread", "-U_FORTIFY_SOURCE", "-o", emuBin, src).CombinedOutput()
		if err != nil {
			emuErr = fmt.Errorf("g++ on the emulator source (%s): %v\n%s", src, err, out)
		}
	})
	if emuErr != nil {
		t.Fatal(emuErr)
	}
	return emuBin
}

// emuSession is one emulator run: device buffers, then launches recorded
// through dev, then run() executes them all and reads the arena back.
type emuSession struct {
	t      *testing.T
	bin    string
	dir    string
	size   int64
	allocs [][2]int64 // offset, bytes
	script strings.Builder
	nfiles int
	dev    *device
	arena  []byte
}

func newEmu(t *testing.T) *emuSession {
	e := &emuSession{t: t, bin: emulator(t), dir: t.TempDir()}
	sigs := kernelSigs()
	names := map[uintptr]string{}
	d := &device{fn: map[string]uintptr{}, sms: 132}
	for i, k := range kernelNames {
		d.fn[k] = uintptr(i + 1)
		names[uintptr(i+1)] = k
	}
	ok := cu.Result(0)
	d.drv = &cu.Driver{
		GetErrorName:   func(r cu.Result, s **byte) cu.Result { return ok },
		GetErrorString: func(r cu.Result, s **byte) cu.Result { return ok },
		LaunchKernel: func(fn uintptr, gx, gy, gz, bx, by, bz, sh uint32, s uintptr, params, extra unsafe.Pointer) cu.Result {
			name := names[fn]
			if by != 1 || bz != 1 || sh != 0 {
				t.Errorf("%s: block (%d,%d,%d) shared %d: the kernels use 1D blocks and static shared memory", name, bx, by, bz, sh)
			}
			n := len(sigs[name])
			fmt.Fprintf(&e.script, "launch %s %d %d %d %d %d", name, gx, gy, gz, bx, n)
			if n > 0 {
				for _, p := range unsafe.Slice((*unsafe.Pointer)(params), n) {
					fmt.Fprintf(&e.script, " %x", *(*uint64)(p))
				}
			}
			e.script.WriteString("\n")
			return ok
		},
	}
	d.check = func(name string, args []any) error { return checkArgs(sigs, name, args) }
	e.dev = d
	return e
}

// alloc places bytes of device memory with a guard gap after it and
// returns its device address.
func (e *emuSession) alloc(bytes int64) uint64 {
	off := e.size
	e.allocs = append(e.allocs, [2]int64{off, bytes})
	e.size += alignUp(bytes) + align
	return emuBase + uint64(off)
}

// upload queues a copy of b to device address a (in script order).
func (e *emuSession) upload(a uint64, b []byte) {
	e.nfiles++
	f := fmt.Sprintf("in%d.bin", e.nfiles)
	if err := os.WriteFile(filepath.Join(e.dir, f), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(&e.script, "load %d %d %s\n", a-emuBase, len(b), f)
}

// floats allocates and uploads v.
func (e *emuSession) floats(v []float32) uint64 {
	a := e.alloc(int64(4 * len(v)))
	e.upload(a, f32bytes(v))
	return a
}

// nans allocates n floats holding NaN, so that an element a kernel should
// write but does not shows up.
func (e *emuSession) nans(n int) uint64 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(math.NaN())
	}
	return e.floats(v)
}

// sameBothOrders runs the script with the blocks of every grid first to
// last, then last to first, and reports whether the arenas are equal (the
// second run's stays in e.arena).
func (e *emuSession) sameBothOrders() bool {
	e.runOrder(false)
	first := bytes.Clone(e.arena)
	e.runOrder(true)
	return bytes.Equal(first, e.arena)
}

// run executes the recorded script and reads the whole arena back.
func (e *emuSession) run() { e.runOrder(false) }

// runOrder runs with the blocks of every grid in reverse order when
// reverse is set.
func (e *emuSession) runOrder(reverse bool) {
	e.t.Helper()
	script := fmt.Sprintf("arena %d\n", e.size) + e.script.String() + fmt.Sprintf("save 0 %d arena.bin\n", e.size)
	cmd := exec.Command(e.bin, e.dir)
	if reverse {
		cmd.Env = append(os.Environ(), "EMU_REVERSE=1")
	}
	cmd.Stdin = strings.NewReader(script)
	t0 := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("emulator: %v\n%s", err, out)
	}
	e.t.Logf("emulator run: %d launches in %v", strings.Count(script, "launch "), time.Since(t0).Round(time.Millisecond))
	var err error
	if e.arena, err = os.ReadFile(filepath.Join(e.dir, "arena.bin")); err != nil {
		e.t.Fatal(err)
	}
	// Every byte outside the allocations keeps the guard value.
	var prev int64
	for _, a := range append(e.allocs, [2]int64{e.size, 0}) {
		for i := prev; i < a[0]; i++ {
			if e.arena[i] != emuGuard {
				e.t.Fatalf("emulator: byte %d, outside every allocation, was written", i)
			}
		}
		prev = a[0] + a[1]
	}
}

// get reads n floats at device address a after run.
func (e *emuSession) get(a uint64, n int) []float32 {
	off := a - emuBase
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(e.arena[off+uint64(4*i):]))
	}
	return out
}

// bytesAt reads n raw bytes at device address a after run.
func (e *emuSession) bytesAt(a uint64, n int) []byte {
	off := a - emuBase
	return bytes.Clone(e.arena[off : off+uint64(n)])
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// refErr is max |got - want| / max(1, max |want|) over the elements, with a
// NaN anywhere counting as infinite.
func refErr(got []float32, want []float64) float64 {
	scale := 1.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i]) - want[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = math.Max(worst, d/scale)
	}
	return worst
}
