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
// (The mode is checked here, under a set umask, so that the test does not
// depend on the umask of whoever runs it.)
func TestModeHonoursUmask(t *testing.T) {
	for _, c := range []struct{ umask, want os.FileMode }{{0o022, 0o644}, {0o077, 0o600}} {
		modes(t, int(c.umask), c.want)
	}
}

func modes(t *testing.T, umask int, want os.FileMode) {
	old := syscall.Umask(umask)
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
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v under umask %03o", name, st.Mode().Perm(), err, want, umask)
		}
	}
}
