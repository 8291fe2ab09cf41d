package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// pathArg is a path given on the command line or written in a
// configuration file (--config). A flag's relative path is read from the
// working directory, as every command's; a configuration file's from the
// file's folder, so that `train --config exp/a.toml` reads its
// `data = "h36m"` as exp/h36m from wherever it is run (a file that travels
// with its data, or with the weights it starts from, keeps working).
// Messages name it as written and, where that differs, as read.
type pathArg struct {
	key   string // "--data", or the file's key: "data"
	given string // as written
	path  string // as read: a configuration file's relative path joined to the file's folder
	file  string // the configuration file as given; "" for a flag
}

// flagPath is the value of flag --name.
func flagPath(name, v string) pathArg {
	return pathArg{key: "--" + name, given: v, path: v}
}

// configPath is the value of key in the configuration file file: an
// absolute path as it is, a relative one joined to the file's folder
// (absolute, as the run's config.toml keeps it for resume and eval from
// any folder).
func configPath(file, key, v string) pathArg {
	p := pathArg{key: key, given: v, path: v, file: file}
	if v != "" && !filepath.IsAbs(v) {
		dir, err := filepath.Abs(filepath.Dir(file))
		if err != nil { // no working directory: leave it as written
			return p
		}
		p.path = filepath.Join(dir, v)
	}
	return p
}

// String names the path for messages: `--data "x"`, or
// `data = "x" in exp/a.toml (/home/u/exp/x)`.
func (p pathArg) String() string {
	if p.file == "" {
		return fmt.Sprintf("%s %q", p.key, p.given)
	}
	s := fmt.Sprintf("%s = %q in %s", p.key, p.given, p.file)
	if p.path != p.given {
		s += " (" + p.path + ", relative to the file's folder)"
	}
	return s
}

// named rewrites an engine error that begins with prefix and the path as
// read ("init /home/u/exp/w.npz: no such file") to begin with the path
// as p names it, given and read; other errors are returned as they are.
func (p pathArg) named(err error, prefix string) error {
	if err == nil || p.file == "" {
		return err
	}
	msg := err.Error()
	for _, lead := range []string{prefix + " " + p.path, prefix + " " + fmt.Sprintf("%q", p.path)} {
		if rest, ok := strings.CutPrefix(msg, lead); ok {
			return errors.New(p.String() + rest)
		}
	}
	return err
}
