//go:build unix

package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// New files get 0644 less the umask, as os.WriteFile's would: a user
// whose umask keeps files private (077) must not find checkpoints and
// exported weights readable by everyone.
func TestModeHonoursUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	dir := t.TempDir()
	for name, write := range map[string]func(string) error{
		"write":    func(p string) error { return Write(p, []byte("x")) },
		"nosync":   func(p string) error { return WriteNoSync(p, []byte("x")) },
		"writeall": func(p string) error { return WriteAll([]string{p}, [][]byte{[]byte("x")}) },
	} {
		p := filepath.Join(dir, name)
		if err := write(p); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600 under umask 077", name, st.Mode().Perm(), err)
		}
	}
}
