package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// goroutinesIn counts the goroutines whose stack runs fn.
func goroutinesIn(fn string) int {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 2)
	return strings.Count(b.String(), fn+"(")
}

// waitGoroutines polls until at most want goroutines run fn.
func waitGoroutines(t *testing.T, fn string, want int, why string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for goroutinesIn(fn) > want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines in %s, want %d", why, goroutinesIn(fn), fn, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client may run several sessions over one connection (OpenSSH's
// ControlMaster keeps it open after the last one): a session that ends,
// by q or because its key was removed, lets go of its engine subscription
// and its key watcher at once, not when the connection closes.
func TestServeSessionEndReleasesItsWorkbench(t *testing.T) {
	dir := t.TempDir()
	viewer := newClientKey(t)
	full, views := filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "viewer_keys")
	writeKeys(t, full, newClientKey(t))
	writeKeys(t, views, viewer)
	_, _, dial := serveWatched(t, dir, full, views, nil)
	client, err := dial(gossh.PublicKeys(viewer))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	const pump, watch = "poselab/engine.(*subscriber).pump", "poselab/cli.watchKey"
	pumps, watchers := goroutinesIn(pump), goroutinesIn(watch)

	wb := openWorkbench(t, client, "watched")
	wb.press(t, "q")
	waitSession(t, wb)
	waitGoroutines(t, pump, pumps, "after q")
	waitGoroutines(t, watch, watchers, "after q")

	// The same connection, a new session; its key is then removed.
	wb = openWorkbench(t, client, "watched")
	writeKeys(t, views, newClientKey(t))
	waitSession(t, wb)
	waitGoroutines(t, pump, pumps, "after the key was removed")
	waitGoroutines(t, watch, watchers, "after the key was removed")
}

// waitSession waits for a workbench's session to end.
func waitSession(t *testing.T, wb workbench) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- wb.sess.Wait() }()
	select {
	case <-done:
	case <-time.After(3*keyCheckEvery + 2*time.Second):
		t.Fatalf("the session did not end; screen %q", wb.out.String())
	}
}

// A connection that does not get through authentication in time is
// closed: silent clients would otherwise pile up until no one gets in.
func TestServeHandshakeTimeout(t *testing.T) {
	defer func(d time.Duration) { handshakeTimeout = d }(handshakeTimeout)
	handshakeTimeout = 300 * time.Millisecond
	dir := t.TempDir()
	keys := filepath.Join(dir, "authorized_keys")
	writeKeys(t, keys, newClientKey(t))
	addr := serveOnLoopback(t, serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: filepath.Join(dir, "host"), runsDir: dir}, nil)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Read the server's banner, then say nothing.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a silent connection is still open after 5s")
			}
			return // closed by the server
		}
	}
}

// The connection log goes to the operator's terminal: what a client
// chooses (its user name, command, TERM) cannot put escape sequences
// there.
func TestServeLogEscapesClientText(t *testing.T) {
	dir := t.TempDir()
	viewer := newClientKey(t)
	full, views := filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "viewer_keys")
	writeKeys(t, full, newClientKey(t))
	writeKeys(t, views, viewer)
	log := &lockedBuffer{}
	addr := serveOnLoopback(t, serveConfig{listen: "127.0.0.1:0", authorizedKeys: full, viewerKeys: views,
		hostKey: filepath.Join(dir, "host"), runsDir: dir, log: log}, nil)
	user := "x\x1b]0;pwned\x07\x1b[2J\r\x9by"
	client, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{User: user,
		Auth: []gossh.AuthMethod{gossh.PublicKeys(viewer)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sess.Run("\x1b[31mred") // no PTY: refused, but logged
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "disconnect") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	l := log.String()
	if !strings.Contains(l, "read-only session") {
		t.Fatalf("log: %q", l)
	}
	if !utf8.ValidString(l) {
		t.Fatalf("invalid UTF-8 (a C1 control byte) reached the log: %q", l)
	}
	for _, r := range strings.TrimRight(l, "\n") {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) {
			t.Fatalf("a control character %q reached the log: %q", r, l)
		}
	}
}

// fakeCtx is the ssh.Context of fakeSession.
type fakeCtx struct {
	ssh.Context // nil: only what requireKey uses is there
	ctx         context.Context
	mu          sync.Mutex
	vals        map[any]any
}

func (c *fakeCtx) Deadline() (time.Time, bool) { return c.ctx.Deadline() }
func (c *fakeCtx) Done() <-chan struct{}       { return c.ctx.Done() }
func (c *fakeCtx) Err() error                  { return c.ctx.Err() }
func (c *fakeCtx) Value(k any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.vals[k]
}
func (c *fakeCtx) SetValue(k, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.vals[k] = v
}

// fakeSession is a PTY session with a key, as far as requireKey looks.
type fakeSession struct {
	ssh.Session // nil
	ctx         *fakeCtx
	key         ssh.PublicKey
	pty         ssh.Pty
	win         chan ssh.Window
}

func (s fakeSession) Context() ssh.Context                    { return s.ctx }
func (s fakeSession) PublicKey() ssh.PublicKey                { return s.key }
func (s fakeSession) User() string                            { return "tester" }
func (s fakeSession) RemoteAddr() net.Addr                    { return &net.TCPAddr{} }
func (s fakeSession) Pty() (ssh.Pty, <-chan ssh.Window, bool) { return s.pty, s.win, true }

// The window the workbench draws is the client's to say, and its memory
// grows with the window's area: a session's window is clamped, the one
// of its PTY request and every change after it.
func TestServeClampsTheWindow(t *testing.T) {
	dir := t.TempDir()
	viewer := newClientKey(t)
	c := serveConfig{viewerKeys: filepath.Join(dir, "viewer_keys")}
	writeKeys(t, c.viewerKeys, viewer)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fs := fakeSession{ctx: &fakeCtx{ctx: ctx, vals: map[any]any{}}, key: viewer.PublicKey(),
		pty: ssh.Pty{Term: "xterm", Window: ssh.Window{Width: 100000, Height: 50000}}, win: make(chan ssh.Window, 1)}
	fs.win <- fs.pty.Window
	got := make(chan ssh.Window, 3)
	requireKey(c, connLog{io.Discard})(func(s ssh.Session) {
		pty, win, ok := s.Pty()
		if !ok || pty.Term != "xterm" {
			t.Errorf("pty %+v, %v", pty, ok)
		}
		got <- pty.Window
		got <- <-win
		fs.win <- ssh.Window{Width: 90, Height: 1 << 30}
		got <- <-win
	})(fs)
	for i, want := range []ssh.Window{{Width: maxCols, Height: maxRows}, {Width: maxCols, Height: maxRows}, {Width: 90, Height: maxRows}} {
		if w := <-got; w != want {
			t.Errorf("window %d: %+v, want %+v", i, w, want)
		}
	}
}
