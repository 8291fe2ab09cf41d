package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"poselab/engine"
)

// The weights and their card are written together: when the card cannot
// be written (a folder is in its way), the old .npz is left as it was and
// no temporary file stays behind.
func TestExportWeightsCardFailureLeavesOldFiles(t *testing.T) {
	dir := t.TempDir()
	id := trainRun(t, dir, "sb", "test", 0)
	keep := filepath.Join(dir, "keep.npz")
	if err := os.WriteFile(keep, []byte("old weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The card's path is a folder: its atomic write (rename over it) fails.
	if err := os.Mkdir(filepath.Join(dir, "keep.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(engine.Options{RunsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, err = e.ExportWeights(id, keep)
	if err == nil {
		t.Fatal("export succeeded without its card")
	}
	t.Logf("error: %v", err)
	if b, _ := os.ReadFile(keep); string(b) != "old weights" {
		t.Errorf("a failed export (%v) replaced %s (%d bytes)", err, keep, len(b))
	}
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if strings.Contains(en.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", en.Name())
		}
	}
}
