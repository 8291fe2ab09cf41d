// Package atomicfile writes files so that a crash, a full disk or a kill
// leaves either the old file or the new one, never a half-written mix:
// write a temporary file in the same folder, fsync it, rename it over the
// target, then fsync the folder so the rename itself is durable.
package atomicfile

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Write replaces path with data (mode 0644 less the umask), creating its
// folder if needed.
func Write(path string, data []byte) error {
	return write(path, data, true)
}

// WriteNoSync is Write without the fsyncs, for bulk outputs (thousands of
// exported images) where durability per file is not worth the cost; a
// reader still never sees a half-written file.
func WriteNoSync(path string, data []byte) error {
	return write(path, data, false)
}

func write(path string, data []byte, durable bool) error {
	tmp, err := writeTemp(path, data, durable)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		if tmp != "" {
			os.Remove(tmp)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if durable {
		syncDir(filepath.Dir(path))
	}
	return nil
}

// WriteAll replaces several files that belong together (a model and its
// description): every file is written to a temporary first, and only when
// all of them are written, and no target is a folder, are they renamed
// into place, in order. So a full disk, a missing permission or a folder
// in the way leaves all the old files as they were.
func WriteAll(paths []string, data [][]byte) error {
	var tmps []string
	defer func() {
		for _, t := range tmps {
			os.Remove(t) // those not renamed
		}
	}()
	for i, p := range paths {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return fmt.Errorf("%s: is a folder", p)
		}
		tmp, err := writeTemp(p, data[i], true)
		if err != nil {
			if tmp != "" {
				os.Remove(tmp)
			}
			return fmt.Errorf("%s: %w", p, err)
		}
		tmps = append(tmps, tmp)
	}
	for i, p := range paths {
		if err := os.Rename(tmps[i], p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		tmps[i] = ""
		syncDir(filepath.Dir(p))
	}
	return nil
}

// writeTemp writes data to a new temporary file beside path and returns
// its name ("" when none was created).
func writeTemp(path string, data []byte, durable bool) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := createTemp(dir, "."+filepath.Base(path)+".tmp")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return f.Name(), err
}

// createTemp creates a new file named prefix plus a random number in dir.
// Unlike os.CreateTemp (mode 0600, which a chmod to 0644 would then widen
// past a private umask) it asks for 0644 and lets the umask narrow it, as
// os.WriteFile does.
func createTemp(dir, prefix string) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if os.IsExist(err) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", dir)
}

// RemoveStale deletes the temporary files that writes of path left behind
// when their process was killed mid-write (a checkpoint's can be hundreds
// of MB). Call it only while no other writer of path can be running, e.g.
// under the lock of the folder's owner. It returns how many it removed.
func RemoveStale(path string) (int, error) {
	prefix := "." + filepath.Base(path) + ".tmp"
	entries, err := os.ReadDir(filepath.Dir(path))
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || rest == "" || strings.Trim(rest, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		if err := os.Remove(filepath.Join(filepath.Dir(path), e.Name())); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// syncDir makes renames in dir durable (best effort: some file systems
// cannot sync folders).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
