package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"
)

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
