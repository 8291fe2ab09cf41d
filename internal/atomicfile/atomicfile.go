// Package atomicfile writes files so that a crash, a full disk or a kill
// leaves either the old file or the new one, never a half-written mix:
// write a temporary file in the same folder, fsync it, rename it over the
// target, then fsync the folder so the rename itself is durable.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data (mode 0644), creating its folder if needed.
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
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o644)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	if durable {
		if d, err := os.Open(dir); err == nil {
			d.Sync() // best effort: some file systems cannot sync folders
			d.Close()
		}
	}
	return nil
}
