package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every flag of train and pipeline whose value is a path says in one line
// what is wrong with it, naming it: missing, a folder where a file is
// wanted (or a file where a folder is), or a file that cannot be read.
// No run is created.
func TestPathFlagsSayWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	file := filepath.Join(dir, "plain.txt")
	os.WriteFile(file, []byte("x\n"), 0o644)
	loop := filepath.Join(dir, "loop")
	os.Symlink(loop, loop) // cannot be opened, even by root
	sock := filepath.Join(dir, "w.pth")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	missing := filepath.Join(dir, "missing")
	sb := []string{"train", "--model", "sb", "--preset", "test"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--config", missing + ".toml"}, "config " + missing + ".toml: cannot read it: no such file or directory"},
		{[]string{"--config", dir}, "config " + dir + " is a folder: want a TOML file"},
		{[]string{"--config", loop}, "config " + loop + ": cannot read it: too many levels of symbolic links"},
		{[]string{"--data", missing}, `--data "` + missing + `": not "synth" and not a readable folder`},
		{[]string{"--data", file}, `--data "` + file + `" is a file: want "synth" or a data folder`},
		{[]string{"--data", loop}, `--data "` + loop + `": not "synth" and not a readable folder (stat ` + loop + ": too many levels"},
		{[]string{"--init", missing + ".npz"}, "init " + missing + ".npz: no run of that id in " + runs + " and no such file"},
		{[]string{"--init", dir}, "init " + dir + " is a folder: want a run id"},
		{[]string{"--init", sock}, "init " + sock + " is a socket: want a run id"},
		{[]string{"--init", loop}, "init: stat " + loop + ": too many levels of symbolic links"},
		{[]string{"--runs-dir", file}, "runs directory " + file + " is a file: want a folder"},
		{[]string{"--runs-dir", loop}, "runs directory " + loop + ": stat " + loop + ": too many levels of symbolic links"},
	}
	for _, tc := range cases {
		args := append(append([]string{}, sb...), tc.args...)
		if !strings.Contains(strings.Join(tc.args, " "), "--runs-dir") {
			args = append(args, "--runs-dir", runs)
		}
		_, errs, code := trainCLI(t, args...)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d, %q\nwant one line with %q", tc.args, code, errs, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", file}, `--data "` + file + `" is a file`},
		{[]string{"--runs-dir", file}, "runs directory " + file + " is a file: want a folder"},
	} {
		_, errs, code := trainCLI(t, append([]string{"pipeline", "run", "C", "--preset", "test"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("pipeline %v: exit %d, %q\nwant one line with %q", tc.args, code, errs, tc.want)
		}
	}
	if _, err := os.Stat(runs); err == nil {
		if ls, _ := os.ReadDir(runs); len(ls) > 1 { // poselab.db
			t.Errorf("refused flags created runs: %v", ls)
		}
	}
}

// Files and folders this user may not read are named with the reason;
// "not a PyTorch state_dict" and "no loader recognises this folder" sent
// users looking for a format problem. Root reads everything: this runs
// as another user (go test -c, then the binary as nobody).
func TestUnreadablePathFlagsSaySo(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	cfg := filepath.Join(dir, "a.toml")
	os.WriteFile(cfg, []byte("model = \"sb\"\n"), 0o000)
	pth := filepath.Join(dir, "w.pth")
	os.WriteFile(pth, []byte("x"), 0o000)
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "h36m", "annot"), 0o755)
	os.Chmod(data, 0o000)
	defer os.Chmod(data, 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", cfg}, "config " + cfg + ": cannot read it: permission denied"},
		{[]string{"--init", pth}, "init " + pth + ": cannot read it: permission denied"},
		{[]string{"--data", data}, `data "` + data + `": cannot read it: stat ` + filepath.Join(data, "h36m", "annot") + ": permission denied"},
	} {
		_, errs, code := trainCLI(t, append([]string{"train", "--model", "sb", "--preset", "test", "--runs-dir", runs}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d, %q\nwant one line with %q", tc.args, code, errs, tc.want)
		}
	}
}
