package cli

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDataShowWritesPNGAndASCII(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.png")
	var so, se bytes.Buffer
	if code := Main([]string{"data", "show", "--split", "train", "--index", "5", "--flip", "--out", out, "--cols", "40"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 256 {
		t.Fatalf("PNG: %v", err)
	}
	lines := strings.Split(so.String(), "\n")
	if !strings.Contains(lines[0], "train #5") || len(lines) < 22 || len(lines[2]) != 40 {
		t.Fatalf("unexpected output:\n%s", so.String())
	}
	if !strings.ContainsAny(so.String()[len(lines[0]):], "LR") {
		t.Fatal("ASCII view marks no joints")
	}
}

// An MPII-like person's title gives the crop box in px: its Scale is the
// crop box's, which is not an MPII file's scale (1.25 x smaller).
func TestDataShowMPIITitle(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.png")
	var so, se bytes.Buffer
	if code := Main([]string{"data", "show", "--mpii", "--split", "train", "--index", "2", "--out", out, "--cols", "40"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	first, _, _ := strings.Cut(so.String(), "\n")
	if !regexp.MustCompile(`^MPII-like train #2  \S+  crop box \d+ px$`).MatchString(first) {
		t.Fatalf("title %q", first)
	}
}

func TestDataSynthWritesLayout(t *testing.T) {
	dir := t.TempDir()
	var so, se bytes.Buffer
	if code := Main([]string{"data", "synth", "--out", dir, "--format", "eth", "--no-images"}, &so, &se); code != 0 {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	for _, p := range []string{"h36m/annot/train.pkl", "h36m/annot/val.pkl", "h36m/annot/test.pkl", "mpii/annot/train.json", "mpii/annot/valid.json"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDataBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"data"},
		{"data", "bogus"},
		{"data", "show", "--index", "999999"},
		{"data", "show", "--size", "huge"},
		{"data", "show", "--split", "dev"},
		{"data", "show", "--cols", "-3"},
		{"data", "show", "--cols", "0"},
		{"data", "show", "--cols", "100000000"},
		{"data", "show", "--rot", "NaN"},
		{"data", "show", "--crop", "0"},
		{"data", "show", "--out", "."},
		{"data", "show", "--out", filepath.Join(t.TempDir(), "sample.jpg")},
		{"data", "synth", "--format", "eth"},
		{"data", "synth", "--out", "x", "--format", "coco"},
	} {
		var so, se bytes.Buffer
		if code := Main(args, &so, &se); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, se.String())
		}
		if strings.Count(strings.TrimSpace(se.String()), "\n") > 0 {
			t.Errorf("%v: error is not one line: %q", args, se.String())
		}
	}
}

// data synth does not write over a folder that holds files (a real data
// set's labels have the names it writes) unless --force.
func TestDataSynthKeepsANonEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	label := filepath.Join(dir, "h36m", "annot", "train.pkl")
	if err := os.MkdirAll(filepath.Dir(label), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(label, []byte("real labels"), 0o644); err != nil {
		t.Fatal(err)
	}
	var so, se bytes.Buffer
	if code := Main([]string{"data", "synth", "--out", dir, "--no-images"}, &so, &se); code != 2 || !strings.Contains(se.String(), "not empty") {
		t.Fatalf("exit %d: %s", code, se.String())
	}
	if b, _ := os.ReadFile(label); string(b) != "real labels" {
		t.Fatal("data synth wrote over an existing label file")
	}
	se.Reset()
	if code := Main([]string{"data", "synth", "--out", dir, "--no-images", "--force"}, &so, &se); code != 0 {
		t.Fatalf("--force: exit %d: %s", code, se.String())
	}
	if b, _ := os.ReadFile(label); string(b) == "real labels" {
		t.Fatal("--force did not write the export")
	}
}
