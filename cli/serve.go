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
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	bm "charm.land/wish/v2/bubbletea"
	"github.com/charmbracelet/colorprofile"
	gossh "golang.org/x/crypto/ssh"

	"poselab/engine"
	"poselab/tui"
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
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case s := <-sigs:
		fmt.Fprintf(stderr, "poselab: %v: stopping runs with a checkpoint…\n", s)
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
	return eng.Close()
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// loadAuthorizedKeys parses an authorized_keys file; a file without any
// key is an error (a server nobody can enter is a mistake). A key whose
// options restrict it in a way the server cannot honour is left out.
func loadAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	keys, _, err := parseAuthorizedKeys(path)
	return keys, err
}

// parseAuthorizedKeys is loadAuthorizedKeys that also says which keys it
// left out, and why.
func parseAuthorizedKeys(path string) (keys []ssh.PublicKey, skipped []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("authorized keys: %w", err)
	}
	var all []ssh.PublicKey
	restricted := map[string]bool{} // keys with an unhonoured option on any line
	// Split, not a bufio.Scanner: a line over the scanner's 64 KiB limit
	// (a long certificate) stopped it and silently dropped the keys after.
	for i, raw := range strings.Split(string(b), "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, nil, fmt.Errorf("authorized keys %s line %d: %v", path, n, err)
		}
		if o := unhonoured(opts); o != "" {
			skipped = append(skipped, fmt.Sprintf("line %d (%s)", n, o))
			restricted[string(k.Marshal())] = true
			continue
		}
		all = append(all, k)
	}
	// A restricted key stays out even where another line lists it bare
	// (sshd would apply the first line's restriction).
	for _, k := range all {
		if !restricted[string(k.Marshal())] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, skipped, fmt.Errorf("authorized keys %s: %w: keys with options the server cannot honour are left out: %s",
				path, errNoUsableKey, strings.Join(skipped, ", "))
		}
		return nil, nil, fmt.Errorf("authorized keys %s: %w", path, errNoKey)
	}
	return keys, skipped, nil
}

// A key file without a (usable) key: an error at the start, where a server
// nobody can enter is a mistake; later, its keys removed, it lets no one in.
var (
	errNoKey       = errors.New("no public key in the file")
	errNoUsableKey = errors.New("no usable public key in the file")
)

// harmlessOptions are the authorized_keys options that change nothing
// here: the server forwards no ports, agents or X11 and runs no rc file,
// environment or tunnel.
var harmlessOptions = map[string]bool{
	"no-agent-forwarding": true, "no-port-forwarding": true, "no-x11-forwarding": true,
	"no-user-rc": true, "agent-forwarding": true, "port-forwarding": true,
	"x11-forwarding": true, "user-rc": true, "pty": true,
	"permitopen": true, "permitlisten": true, "environment": true, "tunnel": true,
	"no-touch-required": true,
}

// unhonoured returns the first option that restricts a key in a way the
// server cannot honour (from=, command=, restrict, no-pty, expiry-time=,
// cert-authority, ...), "" if none. Such a key is not let in: honouring
// the key and dropping the restriction would let it in from anywhere, at
// any time, to a full session (the file may well be ~/.ssh/authorized_keys,
// with a backup key limited to one command from one host).
func unhonoured(opts []string) string {
	for _, o := range opts {
		name, _, _ := strings.Cut(o, "=")
		if !harmlessOptions[strings.ToLower(name)] {
			return name
		}
	}
	return ""
}

// authorized reports whether a key is in the file now (re-read at every
// check, so removing a key locks it out without a restart: new sessions at
// once, open ones at their next changing call, see keyGuard, and within
// seconds, see watchKey). A file that cannot be read, or has a line that
// does not parse, is an error: it lists nobody for sure.
func authorized(path string, key ssh.PublicKey) (bool, error) {
	if key == nil {
		return false, nil
	}
	keys, err := loadAuthorizedKeys(path)
	if errors.Is(err, errNoKey) || errors.Is(err, errNoUsableKey) {
		return false, nil // every key removed
	}
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if ssh.KeysEqual(k, key) {
			return true, nil
		}
	}
	return false, nil
}

// access is what a key may do in a session.
type access int

const (
	noAccess   access = iota
	viewAccess        // a read-only session
	fullAccess
)

// accessOf looks a key up in the key files (re-read now): a key in
// --authorized-keys gets a full session, even when it is also a viewer's.
// A key file it cannot read lists nobody.
func (c serveConfig) accessOf(key ssh.PublicKey) access {
	a, _ := c.lookUp(key)
	return a
}

// lookUp is accessOf that also says which key files could not be read,
// where the key may be too (more access than lookUp found).
func (c serveConfig) lookUp(key ssh.PublicKey) (access, error) {
	var errs []string
	for _, f := range []struct {
		flag, path string
		a          access
	}{{"--authorized-keys", c.authorizedKeys, fullAccess}, {"--viewer-keys", c.viewerKeys, viewAccess}} {
		if f.path == "" {
			continue
		}
		ok, err := authorized(f.path, key)
		if ok && len(errs) == 0 {
			return f.a, nil
		}
		if ok { // a viewer's key: it may also be in --authorized-keys
			return f.a, errors.New(strings.Join(errs, "; "))
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", f.flag, err))
		}
	}
	if len(errs) > 0 {
		return noAccess, errors.New(strings.Join(errs, "; ")) // one line: the log's
	}
	return noAccess, nil
}

// accessCtxKey holds a session's access, decided once by requireKey.
type accessCtxKey struct{}

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

// refusedKeys remembers the keys a connection offered that neither key
// file lists, until its handshake ends: a connection refused is logged
// with them, so that the operator can tell who was turned away and which
// key to add (the client only hears "Permission denied (publickey)",
// and the log said nothing at all). A connection that gets in with
// another key logs nothing of the ones it tried first.
type refusedKeys struct {
	mu    sync.Mutex
	conns map[string]refusal // by remote address
}

type refusal struct {
	user string
	keys []string // fingerprints
	// unreadable: the key files that could not be read (nil: none); the
	// keys may be in them.
	unreadable error
}

func (r *refusedKeys) add(ctx ssh.Context, key ssh.PublicKey, unreadable error) {
	fp := fmt.Sprintf("%s (%s)", gossh.FingerprintSHA256(key), key.Type())
	r.mu.Lock()
	defer r.mu.Unlock()
	a := ctx.RemoteAddr().String()
	e := r.conns[a]
	e.user = ctx.User()
	if unreadable != nil {
		e.unreadable = unreadable
	}
	if !slices.Contains(e.keys, fp) && len(e.keys) < maxRefusedKeys {
		e.keys = append(e.keys, fp)
	}
	r.conns[a] = e
}

// maxRefusedKeys bounds what one connection's offers take: a client may
// offer any number of keys.
const maxRefusedKeys = 8

// why says which keys were refused and where they are missing.
func (r refusal) why(c serveConfig) string {
	var files []string
	for _, f := range c.keyFiles() {
		files = append(files, f[0])
	}
	where := "not in " + files[0]
	if len(files) == 2 {
		where = "in neither " + files[0] + " nor " + files[1]
	}
	var why string
	if len(r.keys) == 1 {
		why = "its key " + r.keys[0] + " is " + where
	} else {
		why = "its keys " + strings.Join(r.keys, ", ") + " are " + where
	}
	if r.unreadable != nil {
		why += fmt.Sprintf(", or in what could not be read: %v", r.unreadable)
	}
	return why
}

// take returns and forgets what addr's connection offered in vain.
func (r *refusedKeys) take(addr net.Addr) (refusal, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.conns[addr.String()]
	delete(r.conns, addr.String())
	return e, ok
}

// handshakeTimeout is how long a connection has to get through key
// exchange and authentication: without one, a client that connects and
// says nothing holds its connection, goroutine and file descriptor
// forever, and enough of them lock everyone out. Two minutes, as OpenSSH's
// LoginGraceTime: the client asks for a key's passphrase, or a touch of a
// security key, in the middle of authentication.
var handshakeTimeout = 2 * time.Minute

// requireKey ends a session whose authenticated key is not authorized, or
// whose key has as many sessions open as c.sessions allows (a session
// counts until its workbench ends), and decides, once, whether the
// session is full or read-only (the workbench reads it from the
// session's context) and logs which.
func requireKey(c serveConfig, log connLog) wish.Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			a := c.accessOf(s.PublicKey())
			if a == noAccess {
				log.Printf("%q %s: public key not authorized", s.User(), s.RemoteAddr())
				wish.Fatalln(s, "poselab: public key not authorized")
				return
			}
			if !c.sessions.take(s.PublicKey()) {
				n := c.sessions.max
				log.Printf("%q %s: key %s refused a session: it has %d open, the limit (--max-sessions-per-key %d)",
					s.User(), s.RemoteAddr(), gossh.FingerprintSHA256(s.PublicKey()), n, n)
				wish.Fatalln(s, fmt.Sprintf("poselab: this key already has %d sessions open, the server's limit (--max-sessions-per-key %d): close one and try again", n, n))
				return
			}
			defer c.sessions.release(s.PublicKey())
			kind := "full session"
			if a == viewAccess {
				kind = "read-only session (viewer key)"
			}
			log.Printf("%q %s: %s, key %s", s.User(), s.RemoteAddr(), kind, gossh.FingerprintSHA256(s.PublicKey()))
			end, cancel := context.WithCancelCause(s.Context())
			defer cancel(nil)
			if c.stop != nil {
				defer context.AfterFunc(c.stop, func() { cancel(serverStopping) })()
			}
			o := ownSession{Session: s, ctx: sessionCtx{Context: s.Context(), end: end}}
			o.pty, o.win, o.hasPty = s.Pty()
			if o.hasPty {
				o.pty.Window = clampWindow(o.pty.Window)
				o.win = clampWindows(o.win, end.Done(), func() { cancel(nil) })
			}
			s = o
			s.Context().SetValue(accessCtxKey{}, a)
			go watchKey(c, s, cancel, log)
			next(s)
			var why sessionEnd
			if errors.As(context.Cause(end), &why) {
				// The workbench has quit and given the terminal back: the
				// line shows below the shell's prompt, not under a frame.
				// On stdout, not stderr, so that no client can show it
				// before the output that gives the terminal back.
				io.WriteString(s, string(why)+"\r\n")
				s.Exit(1)
				s.Close()
			}
		}
	}
}

// sessionEnd is why the server ended a session: its last line, once
// the workbench has given the terminal back.
type sessionEnd string

func (e sessionEnd) Error() string { return string(e) }

const (
	serverStopping sessionEnd = "poselab: the server is stopping: its runs stop with a checkpoint, to resume once it is back"
	keyRemoved     sessionEnd = "poselab: this key is no longer authorized"
)

// keyRemovedGrace is how long the workbench of a removed key has to quit
// before its session is closed under it (a client that stopped reading
// holds the workbench's last writes).
const keyRemovedGrace = 5 * time.Second

// sessionCap counts the open sessions of each public key, so that one key
// (a script reconnecting in a loop, a leaked key) cannot take all of the
// server's memory and file descriptors: every session holds a workbench
// and an engine subscription. Admins with other keys still get in.
// Sessions count, not connections: one connection may carry several
// (OpenSSH's ControlMaster). A nil *sessionCap sets no limit.
type sessionCap struct {
	max  int
	mu   sync.Mutex
	open map[string]int // the key's wire format -> its open sessions
}

// newSessionCap returns the counter of a limit of max sessions per key;
// nil (no limit) for 0.
func newSessionCap(max int) *sessionCap {
	if max <= 0 {
		return nil
	}
	return &sessionCap{max: max, open: map[string]int{}}
}

// take counts a new session of key, or reports false, counting nothing,
// when key has max sessions open already.
func (c *sessionCap) take(key ssh.PublicKey) bool {
	if c == nil {
		return true
	}
	k := string(key.Marshal())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[k] >= c.max {
		return false
	}
	c.open[k]++
	return true
}

// release counts a session of key, counted by take, as closed.
func (c *sessionCap) release(key ssh.PublicKey) {
	if c == nil {
		return
	}
	k := string(key.Marshal())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open[k]--; c.open[k] <= 0 {
		delete(c.open, k)
	}
}

// ownSession is an ssh.Session whose context ends with the session. The
// context of an ssh.Session is its connection's, and a client may run
// several sessions over one connection and keep it open after they end
// (OpenSSH's ControlMaster): what a session holds (its key watcher, its
// workbench and the workbench's engine subscription) has to go when the
// session ends, not when the connection does.
type ownSession struct {
	ssh.Session
	ctx sessionCtx
	// The PTY as the workbench sees it: its window clamped.
	pty    ssh.Pty
	win    <-chan ssh.Window
	hasPty bool
}

func (s ownSession) Context() ssh.Context { return s.ctx }

func (s ownSession) Pty() (ssh.Pty, <-chan ssh.Window, bool) { return s.pty, s.win, s.hasPty }

// The largest window a session draws. The workbench's memory and drawing
// time grow with the window's area (about a gigabyte at 2000x2000), and
// the size is the client's to say: any key, a viewer's too, could make
// the server run out of memory, and take every run with it. A larger
// terminal shows the workbench in its top left corner.
const maxCols, maxRows = 640, 240

func clampWindow(w ssh.Window) ssh.Window {
	w.Width, w.Height = min(max(w.Width, 0), maxCols), min(max(w.Height, 0), maxRows)
	return w
}

// clampWindows passes window changes on clamped until done. in closes
// when the client closes the session's channel: then it calls closed,
// which ends the session. The connection may stay open (OpenSSH's
// ControlMaster after its terminal window closed), and nothing else ends
// the workbench then: it held its key's place (--max-sessions-per-key) and
// its engine subscription until the connection closed. out stays open: a
// closed one would spin the reader's select (wish's bubbletea middleware
// receives from it until the session's context ends).
func clampWindows(in <-chan ssh.Window, done <-chan struct{}, closed func()) <-chan ssh.Window {
	out := make(chan ssh.Window, 1)
	go func() {
		for {
			select {
			case w, ok := <-in:
				if !ok {
					closed()
					return
				}
				select {
				case out <- clampWindow(w):
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return out
}

// sessionCtx is the connection's context (its values, user, addresses)
// with the end of one session.
type sessionCtx struct {
	ssh.Context
	end context.Context
}

func (c sessionCtx) Deadline() (time.Time, bool) { return c.end.Deadline() }
func (c sessionCtx) Done() <-chan struct{}       { return c.end.Done() }
func (c sessionCtx) Err() error                  { return c.end.Err() }

// keyCheckEvery is how often an open session's key is looked up again.
var keyCheckEvery = 2 * time.Second

// watchKey ends a session once its key is in neither key file any more:
// it ends the session's context (end) with keyRemoved, which quits its
// workbench, giving the terminal back, and then says why (requireKey);
// the channel is closed after keyRemovedGrace in any case. Closing it at
// once, as before, cut the workbench off: the terminal stayed in its
// screen and mouse modes, the line written over its last frame.
// A key file that cannot be read (a line that does not parse: a key half
// pasted, a typo) ends no session: it closed every session of every key
// in it, each told its key was no longer authorized.
func watchKey(c serveConfig, s ssh.Session, end context.CancelCauseFunc, log connLog) {
	t := time.NewTicker(keyCheckEvery)
	defer t.Stop()
	unreadable := ""
	for {
		select {
		case <-s.Context().Done():
			return
		case <-t.C:
			a, err := c.lookUp(s.PublicKey())
			if a == noAccess && err != nil {
				if err.Error() != unreadable { // once, not every check
					unreadable = err.Error()
					log.Printf("%q %s: key files unreadable, session kept until they can be read: %v", s.User(), s.RemoteAddr(), err)
				}
				continue
			}
			unreadable = ""
			if a == noAccess {
				log.Printf("%q %s: key %s removed from the key files: session closed", s.User(), s.RemoteAddr(),
					gossh.FingerprintSHA256(s.PublicKey()))
				end(keyRemoved)
				time.AfterFunc(keyRemovedGrace, func() { s.Close() })
				return
			}
		}
	}
}

// errDemoted is what a full session's changing call gets once its key has
// left --authorized-keys.
var errDemoted = errors.New("this key no longer has full access (the key files changed): reconnect for a read-only session")

// keyGuard is a full session's engine: it looks the session's key up
// again before every changing call, so that a key moved from
// --authorized-keys to --viewer-keys while its session is open can no
// longer change runs.
type keyGuard struct {
	*engine.Engine
	full func() (bool, error) // whether the key has full access; why it cannot tell
}

// The workbench asks these of its engine before its forms and questions
// (r on a run no extension takes, d on an active run, c on a run ended
// without outputs): promoted from the engine, they only read, so a full
// session refuses at the key as the local workbench does.
var _ interface {
	CanExtend(id string) error
	CanDelete(id string) error
	CanChain(id string) error
} = keyGuard{}

func (g keyGuard) check() error {
	switch full, err := g.full(); {
	case full:
		return nil
	case err != nil:
		// Not "no longer has full access": the key may well have it.
		return fmt.Errorf("the key files cannot be read, so runs cannot be changed until they can: %w", err)
	}
	return errDemoted
}

func (g keyGuard) Submit(spec engine.Spec) (string, error) {
	if err := g.check(); err != nil {
		return "", err
	}
	return g.Engine.Submit(spec)
}

func (g keyGuard) SubmitPipeline(name, preset string, base engine.Spec) ([]string, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	return g.Engine.SubmitPipeline(name, preset, base)
}

func (g keyGuard) Pause(id string) error { return g.guard(func() error { return g.Engine.Pause(id) }) }
func (g keyGuard) Resume(id string) error {
	return g.guard(func() error { return g.Engine.Resume(id) })
}
func (g keyGuard) Stop(id string) error { return g.guard(func() error { return g.Engine.Stop(id) }) }
func (g keyGuard) Delete(id string) error {
	return g.guard(func() error { return g.Engine.Delete(id) })
}
func (g keyGuard) Export(id, split, format, path string) (info engine.ExportInfo, err error) {
	err = g.guard(func() error {
		info, err = g.Engine.Export(id, split, format, path)
		return err
	})
	return info, err
}

// Extend is guarded too: promoted from the embedded engine as it was, a
// demoted key's open session could still extend a run with r.
func (g keyGuard) Extend(id string, epochs, patience int) error {
	return g.guard(func() error { return g.Engine.Extend(id, epochs, patience) })
}

// guard runs call only while the key still has full access.
func (g keyGuard) guard(call func() error) error {
	if err := g.check(); err != nil {
		return err
	}
	return call()
}

// sessionHandler gives every SSH session its own workbench on the shared
// engine, with the colour profile of the client's terminal.
func sessionHandler(c serveConfig, eng *engine.Engine) bm.Handler {
	return func(s ssh.Session) (tea.Model, []tea.ProgramOption) {
		// Anything but a full session decided by requireKey is read-only.
		full := s.Context().Value(accessCtxKey{}) == fullAccess
		ctrl := keyGuard{Engine: eng, full: func() (bool, error) {
			a, err := c.lookUp(s.PublicKey())
			return a == fullAccess, err
		}}
		m := tui.New(ctrl, tui.Options{RunsDir: c.runsDir, Remote: true, ReadOnly: !full, Title: "poselab · " + s.User() + "@ssh"})
		go func() {
			<-s.Context().Done()
			m.Close()
		}()
		env := s.Environ()
		if pty, _, ok := s.Pty(); ok {
			env = append(env, "TERM="+pty.Term)
		}
		// Without the signal handler: a Bubble Tea program catches the
		// process's SIGINT and SIGTERM, each session's quitting on its own
		// (wish logging each "ERROR app exit with error"), and none on
		// SIGHUP, whose sessions were cut off with their terminals left
		// in the workbench's screen modes. The server's stop quits them.
		return m, []tea.ProgramOption{tea.WithColorProfile(colorprofile.Env(env)), tea.WithoutSignalHandler()}
	}
}
