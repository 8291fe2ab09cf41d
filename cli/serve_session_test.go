package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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

	"os"
	"os/exec"
	"os/signal"
	"poselab/engine"
	"regexp"
	"syscall"
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
	deadline := time.Now().Add(time.Minute)
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
	case <-time.After(time.Minute): // its key is looked up every keyCheckEvery: a loaded machine stretches that
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
	conn.SetReadDeadline(time.Now().Add(time.Minute)) // far past the 300 ms: only a failure waits this long
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a silent connection is still open after a minute")
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
	deadline := time.Now().Add(time.Minute)
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

// tryWorkbench opens a PTY session and waits until it shows the workbench
// (refused "") or is closed with a message (refused: what it said). ended
// gets the session's end (it has been waited for: not waitSession).
func tryWorkbench(t *testing.T, client *gossh.Client) (wb workbench, ended <-chan error, refused string) {
	t.Helper()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	sess.Stdout, sess.Stderr = out, out
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
	end := make(chan error, 1)
	go func() { end <- sess.Wait() }()
	deadline := time.After(time.Minute)
	for !strings.Contains(out.String(), "Curves") {
		select {
		case err := <-end:
			var exit *gossh.ExitError
			if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
				t.Fatalf("the session ended with %v, want exit status 1; got %q", err, out.String())
			}
			return workbench{}, nil, out.String()
		case <-deadline:
			t.Fatalf("no workbench and no refusal; got %q", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return workbench{sess: sess, in: in, out: out}, end, ""
}

// One key holds at most --max-sessions-per-key sessions at once, over one
// connection or several: the next is told the limit and closed, the log
// says so, another key still gets in, and a session that ends frees its
// place.
func TestServeCapsSessionsPerKey(t *testing.T) {
	dir := t.TempDir()
	busy, admin := newClientKey(t), newClientKey(t)
	keys := filepath.Join(dir, "authorized_keys")
	writeKeys(t, keys, busy, admin)
	eng, err := engine.Open(engine.Options{RunsDir: filepath.Join(dir, "runs")})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	log := &lockedBuffer{}
	const max = 2
	dial := startServer(t, serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: filepath.Join(dir, "host"),
		runsDir: filepath.Join(dir, "runs"), log: log, maxSessionsPerKey: max}, eng)
	connect := func(key gossh.Signer) *gossh.Client {
		t.Helper()
		c, err := dial(gossh.PublicKeys(key))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	c1, c2 := connect(busy), connect(busy)
	first, firstEnd, refused := tryWorkbench(t, c1)
	if refused != "" {
		t.Fatalf("session 1 of %d refused: %q", max, refused)
	}
	if _, _, refused := tryWorkbench(t, c2); refused != "" {
		t.Fatalf("session 2 of %d refused: %q", max, refused)
	}

	_, _, refused = tryWorkbench(t, c1)
	want := "poselab: this key already has 2 sessions open, the server's limit (--max-sessions-per-key 2): close one and try again"
	if strings.TrimSpace(refused) != want {
		t.Fatalf("session %d of one key: %q, want %q", max+1, refused, want)
	}
	fp := gossh.FingerprintSHA256(busy.PublicKey())
	if l := log.String(); !strings.Contains(l, "key "+fp+" refused a session: it has 2 open, the limit (--max-sessions-per-key 2)") {
		t.Fatalf("the log does not say which key was refused and why: %q", l)
	}

	if _, _, refused := tryWorkbench(t, connect(admin)); refused != "" {
		t.Fatalf("another key was refused while the first held its %d sessions: %q", max, refused)
	}

	// The first session quits; its place is free once the server has
	// closed it (the client may hear of the end a moment before).
	first.press(t, "q")
	select {
	case <-firstEnd:
	case <-time.After(time.Minute):
		t.Fatalf("q did not end the session; screen %q", first.out.String())
	}
	waitPlace := func(c *gossh.Client, why string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			if _, _, refused := tryWorkbench(t, c); refused == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still counts against its key", why)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitPlace(c1, "a session that quit")
	// At the limit again; a dropped connection frees its session's place.
	if _, _, refused := tryWorkbench(t, c1); refused == "" {
		t.Fatalf("session %d of one key accepted", max+1)
	}
	c2.Close()
	waitPlace(connect(busy), "the session of a dropped connection")
}

// A session whose channel the client closes while the connection stays
// open (the terminal window of an OpenSSH ControlMaster client closed)
// ends at once: it frees its key's place and its engine subscription.
func TestServeClosedChannelEndsItsSession(t *testing.T) {
	dir := t.TempDir()
	busy := newClientKey(t)
	keys := filepath.Join(dir, "authorized_keys")
	writeKeys(t, keys, busy)
	eng, err := engine.Open(engine.Options{RunsDir: filepath.Join(dir, "runs")})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	dial := startServer(t, serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: filepath.Join(dir, "host"),
		runsDir: filepath.Join(dir, "runs"), log: &lockedBuffer{}, maxSessionsPerKey: 1}, eng)
	c, err := dial(gossh.PublicKeys(busy))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const pump = "poselab/engine.(*subscriber).pump"
	pumps := goroutinesIn(pump)
	wb, _, refused := tryWorkbench(t, c)
	if refused != "" {
		t.Fatalf("the first session was refused: %q", refused)
	}
	wb.sess.Close()
	waitGoroutines(t, pump, pumps, "after the channel closed")
	deadline := time.Now().Add(time.Minute)
	for {
		_, _, refused := tryWorkbench(t, c)
		if refused == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a session whose channel closed still counts against its key: %q", refused)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The connection log names what it says: who connected with what client
// and terminal, and how long the session lasted.
func TestServeLogsConnectionsInWords(t *testing.T) {
	dir := t.TempDir()
	key := newClientKey(t)
	keys := filepath.Join(dir, "authorized_keys")
	writeKeys(t, keys, key)
	eng, err := engine.Open(engine.Options{RunsDir: filepath.Join(dir, "runs")})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	log := &lockedBuffer{}
	dial := startServer(t, serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: filepath.Join(dir, "host"),
		runsDir: filepath.Join(dir, "runs"), log: log}, eng)
	c, err := dial(gossh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wb, end, refused := tryWorkbench(t, c)
	if refused != "" {
		t.Fatalf("refused: %q", refused)
	}
	wb.press(t, "q")
	select {
	case <-end:
	case <-time.After(time.Minute):
		t.Fatal("q did not end the session")
	}
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(log.String(), "disconnected") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	l := log.String()
	connected := regexp.MustCompile(`"[^"]+" 127\.0\.0\.1:\d+ connected: SSH-2\.0-Go, terminal xterm-256color 120x40\n`)
	ended := regexp.MustCompile(`"[^"]+" 127\.0\.0\.1:\d+ disconnected after \d+(\.\d)?(ms|s)\n`)
	if !connected.MatchString(l) || !ended.MatchString(l) {
		t.Fatalf("log:\n%s", l)
	}
}

// Creating the host key (by default in the runs directory) leaves the
// folder's permissions as they were: the key generator made it 0700.
func TestServeKeepsTheRunsDirectorysMode(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	if err := os.Mkdir(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(runs, 0o750); err != nil { // whatever the umask
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "authorized_keys")
	writeKeys(t, keys, newClientKey(t))
	srv, err := newServer(serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: defaultHostKey(runs), runsDir: runs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fi, err := os.Stat(runs)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Fatalf("the runs directory is %o after serve made its host key, was 750", fi.Mode().Perm())
	}
	key, err := os.Stat(defaultHostKey(runs))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("host key: %v, mode %o", err, key.Mode().Perm())
	}
}

// A group-shared runs directory is often setgid (its new run folders get
// its group): restoring the permission bits alone left that bit cleared
// by the key generator's chmod 0700.
func TestServeKeepsTheRunsDirectorysSetgid(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	if err := os.Mkdir(runs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(runs, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(runs); err != nil || fi.Mode()&os.ModeSetgid == 0 {
		t.Skip("this file system does not keep a directory's setgid bit here")
	}
	keys := filepath.Join(dir, "authorized_keys")
	writeKeys(t, keys, newClientKey(t))
	srv, err := newServer(serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: defaultHostKey(runs), runsDir: runs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fi, err := os.Stat(runs)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSetgid == 0 || fi.Mode().Perm() != 0o770 {
		t.Fatalf("the runs directory is %v after serve made its host key, was %v", fi.Mode(), os.ModeDir|os.ModeSetgid|0o770)
	}
}

// TestHelperServe is the child of TestServeUnderNohupOutlivesAHangUp and
// serveChild.
func TestHelperServe(t *testing.T) {
	dir := os.Getenv("POSELAB_TEST_SERVE")
	if dir == "" {
		t.Skip("helper process for TestServeUnderNohupOutlivesAHangUp")
	}
	code := Main([]string{"serve", "--listen", "127.0.0.1:0", "--authorized-keys", filepath.Join(dir, "keys"),
		"--runs-dir", filepath.Join(dir, "runs")}, os.Stdout, os.Stderr)
	// What a session's handler may still log once serve has returned (its
	// "disconnected" line: the server does not wait for the handlers of
	// connections already closed).
	fmt.Fprintln(os.Stderr, "helper: a late log line")
	os.Exit(code)
}

// `nohup poselab serve &` keeps serving when the user logs out (SIGHUP):
// serve asked for SIGHUP, which undid nohup's ignoring it, and the
// hang-up stopped the runs and the server.
func TestServeUnderNohupOutlivesAHangUp(t *testing.T) {
	nohup, err := exec.LookPath("nohup")
	if err != nil {
		t.Skip("no nohup here")
	}
	dir := t.TempDir()
	writeKeys(t, filepath.Join(dir, "keys"), newClientKey(t))
	out := &lockedBuffer{}
	cmd := exec.Command(nohup, os.Args[0], "-test.run", "^TestHelperServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), "POSELAB_TEST_SERVE="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	defer cmd.Process.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "serving the workbench") {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not start: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	select {
	case err := <-ended:
		t.Fatalf("serve under nohup ended on a hang-up (%v): %q", err, out.String())
	case <-time.After(time.Second):
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatal("serve did not end on SIGTERM")
	}
}

// serveChild starts TestHelperServe in a child process, serving dir/keys
// on a free loopback port, with its output on out; it returns the child,
// a channel of its end, and a dialer that reads the child's address from
// the "serving the workbench on ADDR" line that lines yields.
func serveChild(t *testing.T, dir string, out *os.File, lines func() string) (*exec.Cmd, <-chan error, func(gossh.Signer) (*gossh.Client, error)) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHelperServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), "POSELAB_TEST_SERVE="+dir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	serving := regexp.MustCompile(`serving the workbench on (\S+) `)
	m := serving.FindStringSubmatch(lines())
	if m == nil {
		t.Fatal("the server did not say where it serves")
	}
	return cmd, ended, func(key gossh.Signer) (*gossh.Client, error) {
		return gossh.Dial("tcp", m[1], &gossh.ClientConfig{User: "tester", Auth: []gossh.AuthMethod{gossh.PublicKeys(key)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
	}
}

// `poselab serve 2>&1 | tee log`: the log's reader can go away while the
// server runs on (tee ends on the Ctrl-C or hang-up meant for serve, or
// alone under nohup). The server's next log line killed it (SIGPIPE),
// its runs without their last checkpoint; now the line is lost and the
// server serves on, and a stop signal still stops it cleanly.
func TestServeOutlivesItsLogsReader(t *testing.T) {
	dir := t.TempDir()
	key := newClientKey(t)
	writeKeys(t, filepath.Join(dir, "keys"), key)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd, ended, dial := serveChild(t, dir, w, func() string {
		line, _ := bufio.NewReader(r).ReadString('\n')
		return line
	})
	w.Close()
	r.Close() // the reader goes away: the next log line hits a broken pipe
	for i := range 2 {
		c, err := dial(key)
		if err != nil {
			t.Fatalf("connection %d after the log's reader left: %v", i+1, err)
		}
		if _, _, refused := tryWorkbench(t, c); refused != "" {
			t.Fatalf("refused: %q", refused)
		}
		c.Close()
	}
	select {
	case err := <-ended:
		t.Fatalf("the server ended (%v) once its log's reader left", err)
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("serve ended with %v on SIGTERM, want exit 0", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not end on SIGTERM")
	}
}

// A server that stops tells its sessions why and gives their terminals
// back (the workbench leaves its alternate screen) before the connection
// goes. On SIGHUP the sessions were cut off mid-frame, the terminal left
// in the workbench's screen and mouse modes, and not a word; on SIGINT
// and SIGTERM each session's Bubble Tea program quit on its own catching
// the signal, also without a word.
func TestServeStopTellsItsSessions(t *testing.T) {
	if signal.Ignored(syscall.SIGHUP) {
		t.Skip("SIGHUP is ignored here (nohup): the child would ignore it too")
	}
	dir := t.TempDir()
	key := newClientKey(t)
	writeKeys(t, filepath.Join(dir, "keys"), key)
	out := &lockedBuffer{}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cmd, ended, dial := serveChild(t, dir, w, func() string {
		br := bufio.NewReader(r)
		line, _ := br.ReadString('\n')
		go io.Copy(out, br) // the rest of the log
		return line
	})
	c, err := dial(key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wb, end, refused := tryWorkbench(t, c)
	if refused != "" {
		t.Fatalf("refused: %q", refused)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	select {
	case err := <-end:
		var exit *gossh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
			t.Fatalf("the session ended with %v, want exit status 1; screen %q", err, wb.out.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the session did not end when the server stopped")
	}
	c.Close() // as OpenSSH does once its session ended
	screen := wb.out.String()
	left := strings.LastIndex(screen, "\x1b[?1049l")
	told := strings.LastIndex(screen, string(serverStopping))
	if left < 0 || told < left {
		t.Fatalf("the session's end does not leave the workbench's screen, then say %q: ends %q", serverStopping, screen[max(0, len(screen)-300):])
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("serve ended with %v, want exit 0; log %q", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not end on SIGHUP")
	}
	if strings.Contains(out.String(), "ERROR") {
		t.Fatalf("the log has an error: %q", out.String())
	}
}

// A session without a terminal (`ssh host CMD`, `ssh -T host`) is told
// what it lacks and how to connect, exits 1, and the log says so.
func TestServeNoTerminal(t *testing.T) {
	dir := t.TempDir()
	key := newClientKey(t)
	keys := filepath.Join(dir, "authorized_keys")
	writeKeys(t, keys, key)
	log := &lockedBuffer{}
	dial := startServer(t, serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: filepath.Join(dir, "host"),
		runsDir: dir, log: log}, nil)
	c, err := dial(gossh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, cmd := range []string{"", "echo hi"} {
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		if cmd == "" {
			var b lockedBuffer
			sess.Stdout, sess.Stderr = &b, &b
			if err = sess.Shell(); err == nil {
				err = sess.Wait()
			}
			out = []byte(b.String())
		} else {
			out, err = sess.CombinedOutput(cmd)
		}
		var exit *gossh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 1 || strings.TrimSpace(string(out)) != noTerminal {
			t.Fatalf("command %q without a terminal: %v, %q; want exit status 1 and %q", cmd, err, out, noTerminal)
		}
	}
	if !strings.Contains(log.String(), ": no terminal: told to connect with one") {
		t.Fatalf("log: %q", log.String())
	}
}

// A connection refused for its keys is logged with their fingerprints
// (the client only hears "Permission denied (publickey)"): the operator
// can tell who was turned away and which key to add. A client that gets
// in with its second key logs nothing of its first.
func TestServeLogsRefusedKeys(t *testing.T) {
	dir := t.TempDir()
	key, stranger, other := newClientKey(t), newClientKey(t), newClientKey(t)
	full, views := filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "viewer_keys")
	writeKeys(t, full, key)
	writeKeys(t, views, newClientKey(t))
	log := &lockedBuffer{}
	dial := startServer(t, serveConfig{listen: "127.0.0.1:0", authorizedKeys: full, viewerKeys: views,
		hostKey: filepath.Join(dir, "host"), runsDir: dir, log: log}, nil)
	if c, err := dial(gossh.PublicKeys(stranger, other)); err == nil {
		c.Close()
		t.Fatal("unknown keys got in")
	}
	want := "refused: its keys " + gossh.FingerprintSHA256(stranger.PublicKey()) + " (ssh-ed25519), " +
		gossh.FingerprintSHA256(other.PublicKey()) + " (ssh-ed25519) are in neither --authorized-keys nor --viewer-keys"
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(log.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log %q, want %q", log.String(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c, err := dial(gossh.PublicKeys(other, key))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	time.Sleep(100 * time.Millisecond)
	if n := strings.Count(log.String(), "refused"); n != 1 {
		t.Fatalf("a client that got in with its second key was logged as refused: %q", log.String())
	}
}

// A host key others can read (given with --host-key, or copied in) is
// warned about: anyone who can read it can pose as the server. One the
// server makes is private and not warned about.
func TestServeWarnsOfAnOpenHostKey(t *testing.T) {
	dir := t.TempDir()
	keys, host := filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "host")
	writeKeys(t, keys, newClientKey(t))
	serve := func() string {
		t.Helper()
		var log lockedBuffer
		srv, err := newServer(serveConfig{listen: "127.0.0.1:0", authorizedKeys: keys, hostKey: host, runsDir: dir, log: &log}, nil)
		if err != nil {
			t.Fatal(err)
		}
		srv.Close()
		return log.String()
	}
	if l := serve(); l != "" {
		t.Fatalf("the key the server made is warned about: %q", l)
	}
	if err := os.Chmod(host, 0o644); err != nil {
		t.Fatal(err)
	}
	if l := serve(); !strings.Contains(l, "host key "+host+" is readable by others (mode 0644)") {
		t.Fatalf("no warning of a host key others can read: %q", l)
	}
}
