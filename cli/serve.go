package cli

import (
	"bufio"
	"bytes"
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

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/activeterm"
	bm "charm.land/wish/v2/bubbletea"
	"charm.land/wish/v2/logging"
	"github.com/charmbracelet/colorprofile"

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
	serveSynopsis = `serve [--listen 127.0.0.1:2222] --authorized-keys FILE [--host-key FILE] [--runs-dir DIR]

Serves the workbench over SSH. Only the public keys in FILE (authorized_keys
format) get in: no password or keyboard-interactive login. The engine lives
in this process, so runs keep training when a session drops; several
sessions can watch the same runs; a session that reconnects sees the whole
history. SIGINT, SIGTERM or SIGHUP stop the runs with a checkpoint and end
the server.`
)

type serveConfig struct {
	listen, authorizedKeys, hostKey, runsDir string
	log                                      io.Writer // connection log (nil: none)
}

// connLog writes wish's connection log lines with a timestamp.
type connLog struct{ w io.Writer }

func (l connLog) Printf(format string, v ...any) {
	fmt.Fprintf(l.w, "%s poselab ssh: %s\n", time.Now().Format("15:04:05"), strings.TrimSpace(fmt.Sprintf(format, v...)))
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
	fs.StringVar(&c.authorizedKeys, "authorized-keys", "", "authorized_keys file of the public keys allowed in (required)")
	fs.StringVar(&c.hostKey, "host-key", "", "host private key (default RUNS-DIR/.ssh_host_ed25519, created if missing)")
	fs.StringVar(&c.runsDir, "runs-dir", "runs", "folder of the runs")
	c.log = stderr
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if c.authorizedKeys == "" {
		return Usagef("--authorized-keys FILE is required: the server accepts public keys only")
	}
	if c.hostKey == "" {
		c.hostKey = defaultHostKey(c.runsDir)
	}
	if _, err := loadAuthorizedKeys(c.authorizedKeys); err != nil {
		return UsageError{err}
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
		eng.Close()
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		eng.Close()
		return fmt.Errorf("listen on %s: %w", c.listen, err)
	}
	fmt.Fprintf(stderr, "poselab: serving the workbench on %s (ssh -p %s %s)\n", ln.Addr(), portOf(ln.Addr().String()), hostOf(ln.Addr().String()))
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return eng.Close()
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// loadAuthorizedKeys parses an authorized_keys file; a file without any
// key is an error (a server nobody can enter is a mistake).
func loadAuthorizedKeys(path string) ([]ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authorized keys: %w", err)
	}
	var keys []ssh.PublicKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("authorized keys %s line %d: %v", path, n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("authorized keys %s: no public key in the file", path)
	}
	return keys, nil
}

// authorized reports whether a key is in the file now (re-read at every
// check, so removing a key locks it out without a restart).
func authorized(path string, key ssh.PublicKey) bool {
	if key == nil {
		return false
	}
	keys, err := loadAuthorizedKeys(path)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if ssh.KeysEqual(k, key) {
			return true
		}
	}
	return false
}

// newServer builds the SSH server of the workbench on an engine. Public-key
// authentication is the only method (no password or keyboard-interactive
// handler is set, so the server offers no other), and the key the session
// actually authenticated with is checked again before the TUI starts: the
// public-key callback also sees keys a client merely offers.
func newServer(c serveConfig, eng *engine.Engine) (*ssh.Server, error) {
	if _, err := loadAuthorizedKeys(c.authorizedKeys); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(c.hostKey), 0o700); err != nil {
		return nil, err
	}
	logw := c.log
	if logw == nil {
		logw = io.Discard
	}
	return wish.NewServer(
		wish.WithAddress(c.listen),
		wish.WithHostKeyPath(c.hostKey),
		wish.WithPublicKeyAuth(func(_ ssh.Context, key ssh.PublicKey) bool { return authorized(c.authorizedKeys, key) }),
		wish.WithMiddleware(
			bm.Middleware(sessionHandler(eng, c.runsDir)),
			activeterm.Middleware(),
			requireKey(c.authorizedKeys),
			logging.MiddlewareWithLogger(connLog{logw}),
		),
	)
}

// requireKey ends a session whose authenticated key is not authorized.
func requireKey(path string) wish.Middleware {
	return func(next ssh.Handler) ssh.Handler {
		return func(s ssh.Session) {
			if !authorized(path, s.PublicKey()) {
				wish.Fatalln(s, "poselab: public key not authorized")
				return
			}
			next(s)
		}
	}
}

// sessionHandler gives every SSH session its own workbench on the shared
// engine, with the colour profile of the client's terminal.
func sessionHandler(eng *engine.Engine, runsDir string) bm.Handler {
	return func(s ssh.Session) (tea.Model, []tea.ProgramOption) {
		m := tui.New(eng, tui.Options{RunsDir: runsDir, Remote: true, Title: "poselab · " + s.User() + "@ssh"})
		go func() {
			<-s.Context().Done()
			m.Close()
		}()
		env := s.Environ()
		if pty, _, ok := s.Pty(); ok {
			env = append(env, "TERM="+pty.Term)
		}
		return m, []tea.ProgramOption{tea.WithColorProfile(colorprofile.Env(env))}
	}
}
