package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesAndLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f.txt")
	for _, s := range []string{"first", "second"} {
		if err := Write(path, []byte(s)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != s {
			t.Fatalf("read %q, %v; want %q", got, err, s)
		}
	}
	if err := WriteNoSync(path, []byte("third")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the file", len(entries))
	}
}

func TestFailedWriteKeepsTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := Write(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A folder in the target's place makes the rename fail.
	blocked := filepath.Join(dir, "blocked")
	if err := os.MkdirAll(filepath.Join(blocked, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(blocked, []byte("new")); err == nil {
		t.Fatal("rename over a non-empty folder succeeded")
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Fatalf("old file changed to %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("a temporary file was left behind: %d entries", len(entries))
	}
}

// WriteAll renames nothing until every file is written: when the second
// cannot be (its folder is a file), the first keeps its old content and
// no temporary file is left; when all can, all are replaced.
func TestWriteAllIsAllOrNothing(t *testing.T) {
	dir := t.TempDir()
	a, blocker := filepath.Join(dir, "a.npz"), filepath.Join(dir, "blocker")
	if err := os.WriteFile(a, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blocker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteAll([]string{a, filepath.Join(blocker, "b.json")}, [][]byte{[]byte("new"), []byte("card")}); err == nil {
		t.Fatal("no error with a file where a folder should be")
	}
	if b, _ := os.ReadFile(a); string(b) != "old" {
		t.Errorf("a.npz = %q after a failed WriteAll, want the old content", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("files left: %v", entries)
	}
	b := filepath.Join(dir, "b.json")
	if err := WriteAll([]string{a, b}, [][]byte{[]byte("new"), []byte("card")}); err != nil {
		t.Fatal(err)
	}
	ga, _ := os.ReadFile(a)
	gb, _ := os.ReadFile(b)
	if string(ga) != "new" || string(gb) != "card" {
		t.Errorf("after WriteAll: %q, %q", ga, gb)
	}
}

// RemoveStale deletes the temporaries a killed writer of path left, and
// nothing else: not path, not other files' temporaries, not look-alikes.
func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "last.ckpt")
	if err := Write(path, []byte("good")); err != nil {
		t.Fatal(err)
	}
	stale := []string{".last.ckpt.tmp123", ".last.ckpt.tmp4294967295"}
	keep := []string{"last.ckpt", ".best.ckpt.tmp77", ".last.ckpt.tmp", ".last.ckpt.tmp12x", "last.ckpt.tmp5", "notes.txt"}
	for _, n := range append(stale, keep[1:]...) {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	if n, err := RemoveStale(path); err != nil || n != len(stale) {
		t.Fatalf("removed %d, %v; want %d", n, err, len(stale))
	}
	for _, n := range stale {
		if _, err := os.Stat(filepath.Join(dir, n)); !os.IsNotExist(err) {
			t.Errorf("%s is still there", n)
		}
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s was removed", n)
		}
	}
	if n, err := RemoveStale(filepath.Join(dir, "missing", "x")); n != 0 || err != nil {
		t.Fatalf("missing folder: %d, %v", n, err)
	}
}
