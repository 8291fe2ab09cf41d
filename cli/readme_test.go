package cli

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeCommands returns the poselab command lines README.md shows: the
// indented example lines that start with "poselab" or "./bin/poselab",
// and the inline code spans that do or that start with a command's name.
// A line with several commands (`poselab train ... && poselab export ...`)
// gives one entry per command.
func readmeCommands(t *testing.T, readme string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(readme, "\n") {
		if strings.HasPrefix(l, "    ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	for _, m := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(readme, -1) {
		span := m[1]
		// The prose and the workbench table name commands without
		// "poselab" too: `train --from RUN`, `runs joints RUN --sort error`.
		if first, _, _ := strings.Cut(span, " "); commands[first] != nil && strings.Contains(span, "--") {
			span = "poselab " + span
		}
		lines = append(lines, span)
	}
	var cmds []string
	for _, l := range lines {
		l, _, _ = strings.Cut(l, " # ") // a comment is prose
		parts := regexp.MustCompile(`(^|\s)(\./bin/)?poselab(\s|$)`).Split(l, -1)
		if len(parts) < 2 {
			continue
		}
		for _, p := range parts[1:] {
			cmds = append(cmds, strings.TrimSpace(p))
		}
	}
	return cmds
}

// commandName is the command an example line runs: its first word that is
// not a flag, a flag's value or an optional part ([--runs-dir DIR]); none
// is the workbench.
func commandName(args string) string {
	f := strings.Fields(args)
	for i := 0; i < len(f); i++ {
		w := strings.Trim(f[i], "[]")
		switch {
		case w == "--runs-dir":
			i++ // its value
		case strings.HasPrefix(w, "-"), w == "tui", w == "":
		default:
			if _, ok := commands[w]; ok {
				return w
			}
			return ""
		}
	}
	return "tui"
}

// TestReadmeCommandFlags keeps README's examples runnable as written:
// every --flag on a `poselab CMD ...` line of README.md is one that CMD's
// --help lists, so a flag renamed or removed in the code cannot stay in
// the README (and one mistyped there is caught).
func TestReadmeCommandFlags(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeCommands(t, string(b))
	if len(cmds) < 40 {
		t.Fatalf("found %d poselab command lines in README.md, want the 40 and more it has: the extraction broke", len(cmds))
	}
	helps := map[string]string{}
	help := func(name string) string {
		if h, ok := helps[name]; ok {
			return h
		}
		var argss [][]string
		switch name {
		case "data": // its flags are its subcommands'
			argss = [][]string{{"data", "show", "--help"}, {"data", "synth", "--help"}}
		case "pipeline":
			argss = [][]string{{"pipeline", "run", "--help"}}
		default:
			argss = [][]string{{name, "--help"}}
		}
		var h string
		for _, args := range argss {
			code, out, errs := runCLI(args...)
			if code != 0 {
				t.Fatalf("poselab %s: exit %d: %s", strings.Join(args, " "), code, errs)
			}
			h += out + errs
		}
		helps[name] = h
		return h
	}
	flagRE := regexp.MustCompile(`(?:^|[\s\[(|])--([a-z0-9][a-z0-9-]*)`)
	for _, c := range cmds {
		name := commandName(c)
		if name == "" {
			t.Errorf("README: `poselab %s`: no such command", c)
			continue
		}
		h := help(name)
		for _, m := range flagRE.FindAllStringSubmatch(c, -1) {
			if m[1] == "help" { // every command has it
				continue
			}
			if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(m[1]) + `(\s|$)`).MatchString(h) {
				t.Errorf("README: `poselab %s`: %s has no --%s (poselab %s --help)", c, name, m[1], name)
			}
		}
	}
}
