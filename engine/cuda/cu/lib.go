// Package cu binds the parts of the CUDA driver API, cuBLAS, cuDNN 9 and
// NVRTC that poselab's GPU backend needs. The libraries are opened at run
// time with purego, so the binary builds with CGO_ENABLED=0 and runs on
// machines without a GPU: there Load returns an error that names the
// library, every path tried and why each failed.
package cu

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ebitengine/purego"
)

// LoadError says which library (or symbol) could not be loaded and where
// it was looked for.
type LoadError struct {
	Lib    string   // e.g. "libcudnn.so.9"
	Symbol string   // the missing symbol, when the library loaded
	Tried  []string // paths tried, in order
	Dirs   []string // directories searched after the loader's own search
	Err    string   // the last dynamic-loader message
}

func (e *LoadError) Error() string {
	if e.Symbol != "" {
		return fmt.Sprintf("cuda: %s has no symbol %s (too old a version?): %s", e.Lib, e.Symbol, e.Err)
	}
	return fmt.Sprintf("cuda: cannot load %s (tried %s; searched LD_LIBRARY_PATH, the ld.so cache and %s): %s",
		e.Lib, strings.Join(e.Tried, ", "), strings.Join(e.Dirs, ":"), e.Err)
}

// SearchDirs lists the directories tried for the CUDA libraries after the
// dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache).
func SearchDirs() []string {
	var dirs []string
	for _, env := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if v := os.Getenv(env); v != "" {
			dirs = append(dirs, filepath.Join(v, "lib64"), filepath.Join(v, "targets/x86_64-linux/lib"))
		}
	}
	dirs = append(dirs, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib")
	if m, _ := filepath.Glob("/usr/local/cuda-*/targets/x86_64-linux/lib"); len(m) > 0 {
		// newest first
		for i := len(m) - 1; i >= 0; i-- {
			dirs = append(dirs, m[i])
		}
	}
	return append(dirs, "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/nvidia/lib64", "/usr/local/lib")
}

// lib is one opened shared library.
type lib struct {
	name   string
	handle uintptr
	path   string
}

// open tries each candidate file name, first bare (the loader's own search)
// then in every SearchDirs directory.
func open(names ...string) (*lib, error) {
	if runtime.GOOS != "linux" {
		return nil, &LoadError{Lib: names[0], Err: "the CUDA backend supports linux only, this is " + runtime.GOOS}
	}
	le := &LoadError{Lib: names[0], Dirs: SearchDirs()}
	for _, n := range names {
		cands := []string{n}
		for _, d := range SearchDirs() {
			cands = append(cands, filepath.Join(d, n))
		}
		for _, c := range cands {
			if strings.ContainsRune(c, '/') {
				if _, err := os.Stat(c); err != nil {
					continue
				}
			}
			le.Tried = append(le.Tried, c)
			h, err := purego.Dlopen(c, purego.RTLD_NOW|purego.RTLD_GLOBAL)
			if err == nil {
				return &lib{name: n, handle: h, path: c}, nil
			}
			le.Err = err.Error()
		}
	}
	if le.Err == "" {
		le.Err = "not found"
	}
	return nil, le
}

// bind registers each Go function variable against its C symbol; the map
// goes from symbol name to a pointer to a func variable.
func (l *lib) bind(syms map[string]any) error {
	for name, fptr := range syms {
		addr, err := purego.Dlsym(l.handle, name)
		if err != nil || addr == 0 {
			msg := "not found"
			if err != nil {
				msg = err.Error()
			}
			return &LoadError{Lib: l.path, Symbol: name, Err: msg}
		}
		purego.RegisterFunc(fptr, addr)
	}
	return nil
}
