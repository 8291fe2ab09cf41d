package cli

import (
	"context"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	bm "charm.land/wish/v2/bubbletea"
	"github.com/charmbracelet/colorprofile"
	gossh "golang.org/x/crypto/ssh"

	"poselab/engine"
	"poselab/tui"
)

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
