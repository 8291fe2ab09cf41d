package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Global flags written before the command name are the command's own:
// `poselab --runs-dir DIR runs ls` lists DIR's runs instead of failing with
// "poselab tui: unexpected arguments".
func TestGlobalFlagsBeforeCommand(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := trainCLI(t, "--runs-dir", dir, "train", "--model", "sb", "--preset", "test", "--epochs", "1"); code != 0 {
		t.Fatalf("--runs-dir before train: exit %d: %s", code, errs)
	}
	for _, args := range [][]string{
		{"--runs-dir", dir, "runs", "ls"},
		{"--runs-dir=" + dir, "runs", "ls"},
		{"-runs-dir", dir, "runs", "ls"},
	} {
		out, errs, code := trainCLI(t, args...)
		if code != 0 || !strings.Contains(out, "sb-") {
			t.Fatalf("%q: exit %d, out %q, err %q", args, code, out, errs)
		}
	}
	// A command's own flag before its name: the error says where it goes
	// (it was "poselab tui: flag provided but not defined: -json").
	if _, errs, code := trainCLI(t, "--json", "runs", "ls", "--runs-dir", dir); code != 2 || !strings.Contains(errs, "--json goes after the command name: poselab runs") {
		t.Fatalf("--json before runs: exit %d: %s", code, errs)
	}
	// A command that has no such flag says so, and fails.
	if _, errs, code := trainCLI(t, "--runs-dir", dir, "devices"); code != 2 || !strings.Contains(errs, "runs-dir") {
		t.Fatalf("--runs-dir before devices: exit %d: %s", code, errs)
	}
}

func TestLeadingGlobalFlags(t *testing.T) {
	for _, c := range []struct {
		args   []string
		global int
	}{
		{[]string{"train"}, 0},
		{[]string{"--runs-dir", "train", "train"}, 2},
		{[]string{"--runs-dir=x", "--no-demo"}, 2},
		{[]string{"--runs-dir"}, 1},
		{[]string{"--json", "train"}, 0},
		{[]string{"--help"}, 0},
	} {
		g, rest := leadingGlobalFlags(c.args)
		if len(g) != c.global || len(g)+len(rest) != len(c.args) {
			t.Errorf("%q: global %q rest %q", c.args, g, rest)
		}
	}
}

// $POSELAB_RUNS is the default runs folder of every command: the TUI and
// the server opened ./runs while train wrote to $POSELAB_RUNS.
func TestRunsDirFromEnvironmentEverywhere(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("POSELAB_RUNS", dir)
	for _, cmd := range []string{"tui", "serve", "train"} {
		_, errs, code := trainCLI(t, cmd, "--help")
		if code != 0 || !strings.Contains(errs, dir) {
			t.Errorf("%s --help: exit %d, the --runs-dir default is not $POSELAB_RUNS:\n%s", cmd, code, errs)
		}
	}
}

// Commands that read runs do not create a missing runs folder: a mistyped
// --runs-dir left a stray folder with a database and printed "no runs".
func TestReadingCommandsDoNotCreateTheRunsFolder(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-runs")
	// Listing says there are none (a fresh machine has no ./runs yet).
	out, errs, code := trainCLI(t, "runs", "ls", "--runs-dir", missing)
	if code != 0 || !strings.Contains(out, "does not exist yet") {
		t.Errorf("runs ls: exit %d, %q %q", code, out, errs)
	}
	for _, args := range [][]string{
		{"runs", "show", "x"},
		{"runs", "rm", "x"},
		{"eval", "--run", "x"},
		{"export", "--run", "x", "--out", filepath.Join(t.TempDir(), "p.csv")},
		{"resume", "x"},
	} {
		_, errs, code := trainCLI(t, append(args, "--runs-dir", missing)...)
		if code != 2 || !strings.Contains(errs, "does not exist") {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("%v created %s", args, missing)
		}
	}
}

// `poselab <command> --help` lists the command's flags, as `poselab --help`
// promises: `pipeline --help` listed none and `pipeline run --help` failed
// with "name the pipeline" (exit 2).
func TestCommandHelpListsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"pipeline", "--help"},
		{"pipeline", "run", "--help"},
		{"pipeline", "run", "-h"},
		{"pipeline", "run", "C", "--help"},
	} {
		_, errs, code := trainCLI(t, args...)
		if code != 0 || !strings.Contains(errs, "-preset") || !strings.Contains(errs, "-device") {
			t.Errorf("%q: exit %d, want 0 and the flags:\n%s", args, code, errs)
		}
	}
	// `runs --help` listed no flags either; `data --help` says where its
	// subcommands' flags are.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"runs", "--help"}, "-json\n"},
		{[]string{"data", "--help"}, "data show --help"},
	} {
		_, errs, code := trainCLI(t, c.args...)
		if code != 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, want 0 and %q:\n%s", c.args, code, c.want, errs)
		}
	}
}

// A bad flag is one line that says where the flags are listed: the flag
// package's usage (57 lines for train) came between two copies of the
// error, which scrolled away. -h still prints the usage.
func TestBadFlagIsOneLine(t *testing.T) {
	var out, errb bytes.Buffer
	if code := Main([]string{"train", "--bogus", "--runs-dir", t.TempDir()}, &out, &errb); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if got := strings.TrimSpace(errb.String()); strings.Count(got, "\n") != 0 || !strings.Contains(got, "-bogus") || !strings.Contains(got, "poselab train --help") {
		t.Fatalf("stderr:\n%s", got)
	}
	errb.Reset()
	if code := Main([]string{"train", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String()+out.String(), "Usage: poselab train") {
		t.Fatalf("-h: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// pipeline run --init is refused with the reason README gives, not with
// "flag provided but not defined: -init" and the flag list.
func TestPipelineRefusesInitSayingWhy(t *testing.T) {
	dir := t.TempDir()
	for _, a := range [][]string{{"--init", "sb-1"}, {"-init=x.npz"}} {
		_, errs, code := trainCLI(t, append([]string{"pipeline", "run", "C", "--runs-dir", dir}, a...)...)
		if code != 2 || !strings.Contains(errs, "stages are different models") || strings.Contains(errs, "not defined") {
			t.Errorf("%v: exit %d: %s", a, code, errs)
		}
	}
}

// Each runs subcommand takes only its own flags: the shared flag set
// parsed --every and -n for all of them, and `runs show RUN --every 10`
// printed what it prints without it. The refusal is one line that names
// the subcommand's flags.
func TestRunsSubcommandsRefuseFlagsTheyIgnore(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"runs", "show", "x", "--every", "10"}, "runs show does not take --every (its flags: --json, --runs-dir)"},
		{[]string{"runs", "curves", "x", "-n", "3"}, "runs curves does not take -n (its flags: --every, --json, --runs-dir)"},
		{[]string{"runs", "log", "x", "--every", "2"}, "runs log does not take --every (its flags: -n, --json, --runs-dir)"},
		{[]string{"runs", "watch", "x", "--sort", "best"}, "runs watch does not take --sort (its flags: --json, --runs-dir)"},
		{[]string{"runs", "ls", "-n", "5"}, "runs ls does not take -n (its flags: --sort, --json, --runs-dir)"},
	} {
		var out, errb bytes.Buffer
		code := Main(append(c.args, "--runs-dir", dir), &out, &errb)
		if got := strings.TrimSpace(errb.String()); code != 2 || strings.Count(got, "\n") != 0 || !strings.Contains(got, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", c.args, code, got, c.want)
		}
	}
	// Their own flags still pass (an empty runs folder: no run x).
	if _, errs, code := trainCLI(t, "runs", "ls", "--sort", "best", "--json", "--runs-dir", dir); code != 0 {
		t.Fatalf("runs ls --sort best: exit %d: %s", code, errs)
	}
}

// The commands that take no positional arguments refuse a stray one,
// before anything is opened or written, in one line (parseNoArgs).
func TestStrayArgumentsAreRefused(t *testing.T) {
	runs := "--runs-dir=" + t.TempDir()
	for _, args := range [][]string{
		{"train", "sb", runs}, {"eval", "sb-1", runs}, {"export", "sb-1", runs}, {"pipeline", "run", "C", "tiny", runs},
		{"data", "show", "synth"}, {"data", "synth", "out"}, {"devices", "gpu"}, {"metrics", "a.csv"},
	} {
		var out, errb bytes.Buffer
		code := Main(args, &out, &errb)
		if got := strings.TrimSpace(errb.String()); code != 2 || !strings.Contains(got, "unexpected arguments") || strings.Count(got, "\n") != 0 {
			t.Errorf("%q: exit %d, %q", args, code, got)
		}
	}
}
