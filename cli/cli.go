// Package cli is poselab's command line: every subcommand lives in its own
// file and registers itself, so the TUI and the headless commands share
// one entry point.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"syscall"
)

// Command is one `poselab <name>` subcommand.
type Command struct {
	Name    string
	Summary string // one line for `poselab --help`
	// Run executes the command with its arguments (after the name). It
	// writes results to stdout, messages to stderr, and returns an error
	// to report (exit status 2 for usage and input errors, 1 otherwise).
	Run func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]*Command{}

// Register adds a subcommand; called from init functions.
func Register(c *Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: duplicate command " + c.Name)
	}
	commands[c.Name] = c
}

// UsageError marks an error caused by bad flags or bad input (exit 2).
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Interrupted reports that a signal stopped the command's runs (cleanly,
// with a checkpoint): exit status 128 + the signal's number, as shells
// expect, so that `poselab train ... && poselab export ...` does not go on.
type Interrupted struct{ Signal syscall.Signal }

func (e Interrupted) Error() string { return "interrupted by " + e.Signal.String() }

// Reported is an error the command has printed on stderr already (a run
// that failed, said when it did): Main exits 1 without printing it again.
type Reported struct{ Err error }

func (e Reported) Error() string { return e.Err.Error() }
func (e Reported) Unwrap() error { return e.Err }

// Usagef builds a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// DefaultCommand runs when poselab is started without a subcommand (the
// TUI once it is registered as "tui").
var DefaultCommand = "tui"

// Main runs poselab with os.Args-style arguments and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	name := DefaultCommand
	rest := args
	global, after := leadingGlobalFlags(args)
	if len(after) > 0 && !strings.HasPrefix(after[0], "-") {
		// `poselab --runs-dir DIR train ...`: the flags written before the
		// command are the command's own. They go last, where every command
		// reads flags (runs, data and pipeline take a subcommand first).
		name = after[0]
		rest = append(append([]string{}, after[1:]...), global...)
	} else if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		usage(stdout)
		return 0
	} else if len(after) > 0 {
		// A command's own flag before its name (`poselab --json runs ls`)
		// would reach the TUI as a flag it does not know: say where it goes.
		for _, a := range after[1:] {
			if _, isCmd := commands[a]; isCmd && a != DefaultCommand {
				fmt.Fprintf(stderr, "poselab: %s goes after the command name: poselab %s ... %s (only --runs-dir may come first)\n", after[0], a, after[0])
				return 2
			}
		}
	}
	if name == "help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "poselab: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	err := c.Run(rest, stdout, stderr)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var in Interrupted
	if errors.As(err, &in) {
		return 128 + int(in.Signal) // what happened was said already
	}
	var rep Reported
	if errors.As(err, &rep) {
		return 1 // said on stderr already
	}
	fmt.Fprintf(stderr, "poselab %s: %v\n", name, err)
	var ue UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// leadingGlobalFlags splits off the flags that may come before the
// command name (--runs-dir DIR, --runs-dir=DIR, --no-demo). It knows which
// of them take a value, so that `--runs-dir train train` is read right.
func leadingGlobalFlags(args []string) (global, rest []string) {
	i := 0
	for i < len(args) {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case name == "runs-dir" && !hasValue && i+1 < len(args):
			i += 2
		case name == "runs-dir" || name == "no-demo":
			i++
		default:
			return args[:i], args[i:]
		}
	}
	return args[:i], args[i:]
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `poselab: a terminal workbench for training 3D human pose estimation models.

Usage:
  poselab [--runs-dir DIR]                     open the workbench (TUI)
  poselab [--runs-dir DIR] <command> [flags]   run a command headless

Commands:`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].Summary)
	}
	fmt.Fprintln(w, "\nRun 'poselab <command> --help' for a command's flags.")
}

// NewFlagSet makes a flag set whose --help prints the summary and flags.
func NewFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: poselab %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Exit runs Main on the process's arguments and exits.
func Exit() { os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr)) }

// parseFlags parses and turns flag errors into usage errors (exit 2).
// The flag package prints a bad flag's error and then the whole usage
// (57 lines for train) before Main prints the error again: the message
// scrolled away between two copies of itself. A bad flag gets one line
// that says where the flags are listed; -h and --help get the usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.Usage()
			return err
		}
		return UsageError{fmt.Errorf("%w (poselab %s --help lists the flags)", err, fs.Name())}
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`poselab runs show ID --json`) and returns the
// positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseNoArgs is parseFlags for commands that take no positional arguments.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected arguments %q (see --help)", fs.Args())
	}
	return nil
}
