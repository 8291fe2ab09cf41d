package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"charm.land/ssh"
	"charm.land/wish/v2"
	bm "charm.land/wish/v2/bubbletea"

	"poselab/engine"
)

func init() {
	Register(&Command{
		Name:    "serve",
		Summary: "serve the workbench over SSH (public-key auth only); runs outlive sessions",
		Run:     runServe,
	})
}

const (
	defaultListen = "127.0.0.1:2222"
	serveSynopsis = `serve [--listen 127.0.0.1:2222] --authorized-keys FILE [--viewer-keys FILE] [--host-key FILE]
      [--max-sessions-per-key 8] [--runs-dir DIR]

Serves the workbench over SSH. Only the public keys in the two files
(authorized_keys format) get in: no password or keyboard-interactive login.
A key with an option the server cannot honour (from=, command=, restrict,
no-pty, expiry-time=, ...) is left out, with a warning.
Keys in --authorized-keys get full sessions; keys only in --viewer-keys get
read-only ones (watch runs; no new, chain, pause, resume, stop, export or
delete). At least one of the two files is required; both are read again
at every login and every 2 seconds (keys added or removed take effect
without a restart; a key removed loses its open sessions). The engine lives
in this process, so runs keep training when a session drops; several
sessions can watch the same runs; a session that reconnects sees the whole
history. One key may hold at most --max-sessions-per-key sessions at once
(0: no limit); the session over it is told so and closed, and other keys
still get in. SIGINT, SIGTERM or SIGHUP stop the runs with a checkpoint
and end the server; under nohup SIGHUP stays ignored (a logout leaves
it serving).`

	// defaultMaxSessionsPerKey leaves room for a person's few terminals
	// and a script or two, while a runaway loop on one key cannot hold
	// the server's memory and file descriptors.
	defaultMaxSessionsPerKey = 8
)

type serveConfig struct {
	listen, authorizedKeys, hostKey, runsDir string
	viewerKeys                               string      // keys let in read-only ("" none)
	log                                      io.Writer   // connection log (nil: none)
	maxSessionsPerKey                        int         // open sessions one key may hold (0: no limit)
	sessions                                 *sessionCap // counts them; newServer makes it
	// stop ends when the server stops (nil: never): every session's
	// workbench quits, giving its terminal back, and the session is told
	// why before its connection goes.
	stop context.Context
}

// keyFiles are the configured key files with their flags.
func (c serveConfig) keyFiles() [][2]string {
	var fs [][2]string
	for _, f := range [][2]string{{"--authorized-keys", c.authorizedKeys}, {"--viewer-keys", c.viewerKeys}} {
		if f[1] != "" {
			fs = append(fs, f)
		}
	}
	return fs
}

// checkKeyFiles requires at least one key file and every given one to
// hold keys: a server nobody can enter, or a typo in a path, is a mistake.
// The keys left out for their options are named on warn (nil: nowhere).
func (c serveConfig) checkKeyFiles(warn io.Writer) error {
	fs := c.keyFiles()
	if len(fs) == 0 {
		return Usagef("--authorized-keys FILE or --viewer-keys FILE is required: the server accepts public keys only")
	}
	for _, f := range fs {
		_, skipped, err := parseAuthorizedKeys(f[1])
		if err != nil {
			return UsageError{fmt.Errorf("%s: %w", f[0], err)}
		}
		if warn != nil && len(skipped) > 0 {
			fmt.Fprintf(warn, "poselab: %s %s: keys with options the server cannot honour are not let in: %s\n",
				f[0], f[1], strings.Join(skipped, ", "))
		}
	}
	return nil
}

// connectionLog logs each session's start and end in words: wish's
// logging middleware wrote "root connect 127.0.0.1:60918 true []
// tmux-256color 160 50 SSH-2.0-OpenSSH_9.2p1", its fields unnamed ("true":
// a public key; "[]": no command), and "disconnect 235.245µs".
func connectionLog(log connLog) wish.Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			start := time.Now()
			what := "no terminal"
			if pty, _, ok := s.Pty(); ok {
				what = fmt.Sprintf("terminal %s %dx%d", pty.Term, pty.Window.Width, pty.Window.Height)
			}
			if cmd := s.Command(); len(cmd) > 0 {
				what += fmt.Sprintf(", command %q", strings.Join(cmd, " "))
			}
			log.Printf("%q %s connected: %s, %s", s.User(), s.RemoteAddr(), s.Context().ClientVersion(), what)
			next(s)
			log.Printf("%q %s disconnected after %v", s.User(), s.RemoteAddr(), roundDuration(time.Since(start)))
		}
	}
}

// roundDuration keeps a log's durations short: 1m2s, 3.2s, 12ms.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// connLog writes the connection log's lines with a timestamp.
type connLog struct{ w io.Writer }

func (l connLog) Printf(format string, v ...any) {
	fmt.Fprintf(l.w, "%s poselab ssh: %s\n", time.Now().Format("15:04:05"), printable(strings.TrimSpace(fmt.Sprintf(format, v...))))
}

// printable escapes control characters and invalid UTF-8: the log goes to
// the operator's terminal, and much of a line is the client's to choose
// (user name, command, TERM, version), escape sequences included.
func printable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unicode.IsControl(r) {
			for _, c := range []byte(s[i : i+n]) {
				fmt.Fprintf(&b, "\\x%02x", c)
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func defaultHostKey(runsDir string) string { return filepath.Join(runsDir, ".ssh_host_ed25519") }

func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := NewFlagSet("serve", serveSynopsis, stderr)
	var c serveConfig
	fs.StringVar(&c.listen, "listen", defaultListen, "address to listen on (host:port)")
	fs.StringVar(&c.authorizedKeys, "authorized-keys", "", "authorized_keys file of the public keys given full sessions")
	fs.StringVar(&c.viewerKeys, "viewer-keys", "", "authorized_keys file of the public keys given read-only sessions")
	fs.StringVar(&c.hostKey, "host-key", "", "host private key (default RUNS-DIR/.ssh_host_ed25519, created if missing)")
	fs.IntVar(&c.maxSessionsPerKey, "max-sessions-per-key", defaultMaxSessionsPerKey, "sessions one public key may have open at once (0: no limit)")
	runsDir := runsDirFlag(fs) // $POSELAB_RUNS too, like every other command
	c.log = stderr
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	c.runsDir = *runsDir
	stop, stopSessions := context.WithCancel(context.Background())
	defer stopSessions()
	c.stop = stop
	if c.maxSessionsPerKey < 0 {
		return Usagef("--max-sessions-per-key must be 0 (no limit) or more, got %d", c.maxSessionsPerKey)
	}
	if err := c.checkKeyFiles(stderr); err != nil {
		return err
	}
	if c.hostKey == "" {
		c.hostKey = defaultHostKey(c.runsDir)
	}
	if err := os.MkdirAll(c.runsDir, 0o755); err != nil {
		return err
	}
	eng, err := engine.Open(engine.Options{RunsDir: c.runsDir})
	if err != nil {
		return fmt.Errorf("open runs folder %s: %w", c.runsDir, err)
	}
	srv, err := newServer(c, eng)
	if err != nil {
		// The key files were checked above: what is left is the host key
		// (unreadable, or not a private key), which the error did not name.
		eng.Close()
		return UsageError{fmt.Errorf("--host-key %s: %w", c.hostKey, err)}
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		eng.Close()
		return fmt.Errorf("listen on %s: %w", c.listen, err)
	}
	fmt.Fprintf(stderr, "poselab: serving the workbench on %s (ssh -p %s %s)\n", ln.Addr(), portOf(ln.Addr().String()), hostOf(ln.Addr().String()))
	sigs := make(chan os.Signal, 1)
	notifyStop(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// The connection log's reader may go away while the server runs on
	// (`serve 2>&1 | tee log`: Ctrl-C or a hang-up ends tee too; under
	// nohup only tee). Go's default then killed the server at its next
	// log line, a connection, before any checkpoint: runs lost their
	// epoch and the stop went unrecorded. Asked for, SIGPIPE only makes
	// that write fail, and the server goes on without its log. Not
	// undone on return: the handlers of sessions whose connections have
	// closed are not waited for, and a "disconnected" line written after
	// serve returned killed it all the same (exit by SIGPIPE on SIGTERM).
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	return serveUntilStopped(srv, ln, eng, sigs, stopSessions, stderr)
}

// serveUntilStopped serves on ln until a signal of sigs or the server's
// end, then stops the sessions and the runs (with a checkpoint, after the
// step in progress: a second signal quits at once, closeOrQuit).
func serveUntilStopped(srv *ssh.Server, ln net.Listener, eng *engine.Engine, sigs <-chan os.Signal, stopSessions func(), stderr io.Writer) error {
	var stopped os.Signal
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case s := <-sigs:
		fmt.Fprintf(stderr, "poselab: %v: stopping runs with a checkpoint after the step in progress (Ctrl-C again quits at once)…\n", s)
		stopped = s
	case err := <-done:
		if err != nil && !errors.Is(err, ssh.ErrServerClosed) {
			eng.Close()
			return err
		}
	}
	// The sessions go first, so that their people learn at once why, and
	// not after the runs' checkpoints. Shutdown waits for the clients to
	// close their connections; one that does not (a ControlMaster, a
	// session-less -N) is closed after a while.
	stopSessions()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		srv.Close()
	}
	if stopped != nil {
		return closeOrQuit(eng, stopped, sigs, stderr)
	}
	return eng.Close()
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// newServer builds the SSH server of the workbench on an engine. Public-key
// authentication is the only method (no password or keyboard-interactive
// handler is set, so the server offers no other), and the key the session
// actually authenticated with is checked again before the TUI starts: the
// public-key callback also sees keys a client merely offers.
func newServer(c serveConfig, eng *engine.Engine) (*ssh.Server, error) {
	if err := c.checkKeyFiles(nil); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(c.hostKey), 0o700); err != nil {
		return nil, err
	}
	logw := c.log
	if logw == nil {
		logw = io.Discard
	}
	c.sessions = newSessionCap(c.maxSessionsPerKey)
	refused := &refusedKeys{conns: map[string]refusal{}}
	// The key generator (charmbracelet/keygen) makes the folder of a host
	// key it creates 0700, and that folder is the runs directory by
	// default: serve made a group-shared runs directory private. The
	// key file itself stays 0600. The setgid bit (a shared directory's
	// new folders get its group) and the sticky bit are restored too:
	// the chmod clears them.
	const modeBits = os.ModePerm | os.ModeSetgid | os.ModeSetuid | os.ModeSticky
	if fi, err := os.Stat(filepath.Dir(c.hostKey)); err == nil {
		defer func() {
			if now, err := os.Stat(filepath.Dir(c.hostKey)); err == nil && now.Mode()&modeBits != fi.Mode()&modeBits {
				os.Chmod(filepath.Dir(c.hostKey), fi.Mode()&modeBits)
			}
		}()
	}
	srv, err := wish.NewServer(
		wish.WithAddress(c.listen),
		wish.WithHostKeyPath(c.hostKey),
		func(s *ssh.Server) error {
			s.HandshakeTimeout = handshakeTimeout
			s.ConnectionFailedCallback = func(conn net.Conn, _ error) {
				if r, ok := refused.take(conn.RemoteAddr()); ok {
					connLog{logw}.Printf("%q %s: refused: %s", r.user, conn.RemoteAddr(), r.why(c))
				}
			}
			s.ConnectionCloseCallback = func(conn net.Conn) { refused.take(conn.RemoteAddr()) }
			return nil
		},
		wish.WithPublicKeyAuth(func(ctx ssh.Context, key ssh.PublicKey) bool {
			a, err := c.lookUp(key)
			if a != noAccess {
				return true
			}
			refused.add(ctx, key, err)
			return false
		}),
		wish.WithMiddleware(
			bm.Middleware(sessionHandler(c, eng)),
			needTerminal(connLog{logw}),
			requireKey(c, connLog{logw}),
			connectionLog(connLog{logw}),
		),
	)
	if err != nil {
		return nil, err
	}
	// A host key that others can read lets any of them pose as this
	// server to its clients (sshd ignores such a key). One serve made is
	// 0600; one given with --host-key, or copied in, may not be.
	if fi, err := os.Stat(c.hostKey); err == nil && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(logw, "poselab: warning: host key %s is readable by others (mode %04o): anyone who can read it can pose as this server; chmod 600 it\n",
			c.hostKey, fi.Mode().Perm())
	}
	return srv, nil
}

// noTerminal is what a session without a terminal is told: `ssh host
// CMD` and `ssh -T host` ask for none (wish's own line said "Requires an
// active PTY", which named neither the workbench nor the way in).
const noTerminal = "poselab: the workbench needs a terminal: connect with plain ssh (no command, no -T), or add -t"

// needTerminal ends a session without a terminal with noTerminal.
func needTerminal(log connLog) wish.Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			if _, _, ok := s.Pty(); !ok {
				log.Printf("%q %s: no terminal: told to connect with one", s.User(), s.RemoteAddr())
				wish.Fatalln(s, noTerminal)
				return
			}
			next(s)
		}
	}
}
