package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"poselab/engine"
)

func newClientKey(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lockedBuffer collects a session's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServer serves the workbench of cfg on a loopback port and returns
// a dialer that pins the host key the server generated.
func startServer(t *testing.T, cfg serveConfig, eng *engine.Engine) func(auth ...gossh.AuthMethod) (*gossh.Client, error) {
	t.Helper()
	addr := serveOnLoopback(t, cfg, eng)
	hostPEM, err := os.ReadFile(cfg.hostKey)
	if err != nil {
		t.Fatal(err)
	}
	host, err := gossh.ParsePrivateKey(hostPEM)
	if err != nil {
		t.Fatal(err)
	}
	return func(auth ...gossh.AuthMethod) (*gossh.Client, error) {
		return gossh.Dial("tcp", addr, &gossh.ClientConfig{User: "tester", Auth: auth,
			HostKeyCallback: gossh.FixedHostKey(host.PublicKey()), Timeout: 5 * time.Second})
	}
}

// serveOnLoopback serves the workbench of cfg on a free loopback port
// until the test ends and returns the address.
func serveOnLoopback(t *testing.T, cfg serveConfig, eng *engine.Engine) string {
	t.Helper()
	srv, err := newServer(cfg, eng)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// workbench is an SSH session showing the workbench.
type workbench struct {
	sess *gossh.Session
	in   io.Writer
	out  *lockedBuffer
}

// openWorkbench opens a PTY session and waits until its first frame shows
// the run named run.
func openWorkbench(t *testing.T, client *gossh.Client, run string) workbench {
	t.Helper()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	sess.Stdout = out
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for !(strings.Contains(out.String(), "Curves") && strings.Contains(out.String(), run)) {
		if time.Now().After(deadline) {
			t.Fatalf("no workbench; got %q", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return workbench{sess: sess, in: in, out: out}
}

// press types keys one at a time, as a person would.
func (w workbench) press(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := io.WriteString(w.in, k); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeSSH serves the workbench on loopback: the authorized ed25519 key
// gets the TUI over a PTY, another key, a password and keyboard-interactive
// login are refused, and the run keeps training after the client leaves.
func TestServeSSH(t *testing.T) {
	dir := t.TempDir()
	good, bad := newClientKey(t), newClientKey(t)
	keys := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(keys, append([]byte("# test key\n"), gossh.MarshalAuthorizedKey(good.PublicKey())...), 0o600); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	eng, err := engine.Open(engine.Options{RunsDir: runs})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	id, err := eng.Submit(engine.Spec{Name: "ssh-run", Model: "sb", Preset: "tiny", Data: "synth", Device: "cpu", Epochs: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: filepath.Join(dir, "host_ed25519"), runsDir: runs}
	dial := startServer(t, cfg, eng)

	for name, auth := range map[string]gossh.AuthMethod{
		"wrong key":            gossh.PublicKeys(bad),
		"password":             gossh.Password("hunter2"),
		"keyboard-interactive": gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return nil, nil }),
	} {
		if c, err := dial(auth); err == nil {
			c.Close()
			t.Fatalf("%s: login accepted", name)
		} else if !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("%s: unexpected error %v", name, err)
		}
	}

	// Two sessions watch the same run at once.
	var clients []*gossh.Client
	for i := 0; i < 2; i++ {
		client, err := dial(gossh.PublicKeys(good))
		if err != nil {
			t.Fatalf("authorized key refused: %v", err)
		}
		clients = append(clients, client)
		out := openWorkbench(t, client, "ssh-run").out
		if !strings.Contains(out.String(), "tester@ssh") {
			t.Fatalf("the session's title does not name the SSH user: %q", out.String())
		}
	}
	// Drop the connections without quitting the TUI, as a lost link would.
	for _, c := range clients {
		c.Close()
	}

	info, _ := eng.Run(id)
	before := info.Step
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, _ = eng.Run(id)
		if info.Step > before && info.State == engine.Running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run stopped advancing after the client left: step %d -> %d, state %s (%s)", before, info.Step, info.State, info.Reason)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServeFlags checks the refusals that need no network.
func TestServeFlags(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("# nobody\n"), 0o600)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("ssh-ed25519 not-base64!!\n"), 0o600)
	good := filepath.Join(dir, "good")
	os.WriteFile(good, gossh.MarshalAuthorizedKey(newClientKey(t).PublicKey()), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--runs-dir", dir}, "--authorized-keys FILE or --viewer-keys FILE is required"},
		{[]string{"--authorized-keys", filepath.Join(dir, "missing")}, "no such file"},
		{[]string{"--authorized-keys", empty}, "no public key"},
		{[]string{"--authorized-keys", garbage}, "line 1"},
		{[]string{"--viewer-keys", filepath.Join(dir, "missing")}, "--viewer-keys: authorized keys: open"},
		{[]string{"--viewer-keys", empty}, "no public key"},
		{[]string{"--viewer-keys", garbage}, "line 1"},
		// A good file does not excuse a bad one.
		{[]string{"--authorized-keys", good, "--viewer-keys", empty}, "--viewer-keys: authorized keys " + empty + ": no public key"},
		{[]string{"--authorized-keys", garbage, "--viewer-keys", good}, "--authorized-keys: authorized keys " + garbage + " line 1"},
		{[]string{"--authorized-keys", good, "--max-sessions-per-key", "-1"}, "--max-sessions-per-key must be 0 (no limit) or more, got -1"},
		// A host key file that is no key: say which file (it said "ssh: no key found").
		{[]string{"--authorized-keys", good, "--host-key", garbage, "--runs-dir", dir, "--listen", "127.0.0.1:0"}, "--host-key " + garbage + ": ssh: no key found"},
	} {
		var stderr bytes.Buffer
		code := Main(append([]string{"serve"}, tc.args...), &stderr, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Fatalf("serve %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
