package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"poselab/engine"
)

func writeKeys(t *testing.T, path string, signers ...gossh.Signer) {
	t.Helper()
	var b []byte
	for _, s := range signers {
		b = append(b, gossh.MarshalAuthorizedKey(s.PublicKey())...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitState polls a run until it is in state want.
func waitState(t *testing.T, eng *engine.Engine, id string, want engine.State, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		info, _ := eng.Run(id)
		if info.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %s (%s) after %v, want %s", id, info.State, info.Reason, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeViewerKeys: a viewer key gets a read-only workbench whose p, s
// and n leave a training run alone and whose q leaves at once without
// stopping it; a key in both files gets a full session that can pause it;
// the connection log says which is which.
func TestServeViewerKeys(t *testing.T) {
	dir := t.TempDir()
	viewer, owner, stranger := newClientKey(t), newClientKey(t), newClientKey(t)
	full, views := filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "viewer_keys")
	writeKeys(t, full, owner)
	writeKeys(t, views, viewer, owner) // owner in both files: full session
	log := &lockedBuffer{}
	eng, id, dial := serveWatched(t, dir, full, views, log)

	if c, err := dial(gossh.PublicKeys(stranger)); err == nil {
		c.Close()
		t.Fatal("a key in neither file got in")
	}

	client, err := dial(gossh.PublicKeys(viewer))
	if err != nil {
		t.Fatalf("viewer key refused: %v", err)
	}
	defer client.Close()
	wb := openWorkbench(t, client, "watched")
	if !strings.Contains(wb.out.String(), "read-only") {
		t.Fatalf("the viewer's workbench does not say read-only: %q", wb.out.String())
	}
	// Keys are handled in order: q ends the session at once only if p, s
	// and n were refused before it (n's form would take the q as text).
	wb.press(t, "p", "s", "n", "q")
	ended := make(chan error, 1)
	go func() { ended <- wb.sess.Wait() }()
	select {
	case <-ended:
	case <-time.After(time.Minute):
		t.Fatalf("the viewer's q did not end the session; screen %q", wb.out.String())
	}
	// The run kept its state and keeps training.
	info, _ := eng.Run(id)
	before := info.Step
	deadline := time.Now().Add(time.Minute)
	for {
		info, _ = eng.Run(id)
		if info.State != engine.Running {
			t.Fatalf("after the viewer's keys the run is %s (%s)", info.State, info.Reason)
		}
		if info.Step > before+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run stopped advancing after the viewer left: step %d -> %d", before, info.Step)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if l := log.String(); !strings.Contains(l, "tester") || !strings.Contains(l, "read-only session (viewer key)") || strings.Contains(l, "full session") {
		t.Fatalf("connection log after the viewer: %q", l)
	}

	// The owner's key is in both files: a full session, whose p pauses.
	oc, err := dial(gossh.PublicKeys(owner))
	if err != nil {
		t.Fatalf("owner key refused: %v", err)
	}
	defer oc.Close()
	ow := openWorkbench(t, oc, "watched")
	if strings.Contains(ow.out.String(), "read-only") {
		t.Fatal("the owner's session is read-only")
	}
	ow.press(t, "p")
	waitState(t, eng, id, engine.Paused, time.Minute)
	if !strings.Contains(log.String(), "full session") {
		t.Fatalf("connection log after the owner: %q", log.String())
	}
}

// TestServeAccessOf reads the key files at every check: a key removed
// from --authorized-keys drops to read-only while it stays a viewer, and
// out altogether when it leaves that file too.
func TestServeAccessOf(t *testing.T) {
	dir := t.TempDir()
	a, b := newClientKey(t), newClientKey(t)
	c := serveConfig{authorizedKeys: filepath.Join(dir, "full"), viewerKeys: filepath.Join(dir, "views")}
	writeKeys(t, c.authorizedKeys, a)
	writeKeys(t, c.viewerKeys, a, b)
	if c.accessOf(a.PublicKey()) != fullAccess || c.accessOf(b.PublicKey()) != viewAccess || c.accessOf(nil) != noAccess {
		t.Fatal("access before the change")
	}
	writeKeys(t, c.authorizedKeys, b)
	writeKeys(t, c.viewerKeys, a)
	if c.accessOf(a.PublicKey()) != viewAccess || c.accessOf(b.PublicKey()) != fullAccess {
		t.Fatal("access after the change")
	}
	os.WriteFile(c.viewerKeys, nil, 0o600)
	if c.accessOf(a.PublicKey()) != noAccess {
		t.Fatal("a key in no file still gets in")
	}
	// Viewers only: nobody gets a full session.
	v := serveConfig{viewerKeys: filepath.Join(dir, "only")}
	writeKeys(t, v.viewerKeys, a)
	if v.accessOf(a.PublicKey()) != viewAccess || v.accessOf(b.PublicKey()) != noAccess {
		t.Fatal("viewer-only server")
	}
}

// The key files are looked up again while a session is open: a key moved
// from --authorized-keys to --viewer-keys can no longer change runs from
// its open session, and a key removed from both files loses its session
// within seconds.
func TestServeKeyChangesReachOpenSessions(t *testing.T) {
	dir := t.TempDir()
	owner, other := newClientKey(t), newClientKey(t)
	full, views := filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "viewer_keys")
	writeKeys(t, full, owner)
	writeKeys(t, views, other)
	eng, id, dial := serveWatched(t, dir, full, views, nil)
	oc, err := dial(gossh.PublicKeys(owner))
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	ow := openWorkbench(t, oc, "watched")
	// Demote the owner to a viewer: its open session's p must not pause.
	// The viewer file first: written the other way round, the key was in
	// neither file for a moment, and a key check then (every
	// keyCheckEvery; a loaded machine can stall the test between the two
	// writes) closed the session before p.
	writeKeys(t, views, owner)
	writeKeys(t, full, other)
	ow.press(t, "p")
	// The session says p was refused: then it has been handled (a fixed
	// 1.5 s could pass before it was, on a loaded machine).
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(ow.out.String(), "no longer has full access") {
		if info, _ := eng.Run(id); info.State != engine.Running {
			t.Fatalf("a demoted key's open session changed the run: it is %s", info.State)
		}
		if time.Now().After(deadline) {
			t.Fatalf("a demoted key's p was not refused; screen %q", ow.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info, _ := eng.Run(id); info.State != engine.Running {
		t.Fatalf("a demoted key's open session changed the run: it is %s", info.State)
	}
	// Remove it altogether: the session ends, its workbench giving the
	// terminal back (leaving its alternate screen) before the session
	// says why.
	writeKeys(t, views, other)
	done := make(chan error, 1)
	go func() { done <- ow.sess.Wait() }()
	select {
	case err := <-done:
		var exit *gossh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
			t.Fatalf("the session of a removed key ended with %v, want exit status 1", err)
		}
	case <-time.After(time.Minute): // its key is looked up every keyCheckEvery: a loaded machine stretches that
		t.Fatal("the session of a removed key is still open")
	}
	screen := ow.out.String()
	left, told := strings.LastIndex(screen, "\x1b[?1049l"), strings.LastIndex(screen, string(keyRemoved))
	if left < 0 || told < left {
		t.Fatalf("the session of a removed key does not leave the workbench's screen, then say %q: ends %q", keyRemoved, screen[max(0, len(screen)-300):])
	}
}

// serveWatched starts an engine in dir training a run named "watched" and
// an SSH server on it with the two key files; the engine closes with the
// test.
func serveWatched(t *testing.T, dir, full, views string, log *lockedBuffer) (*engine.Engine, string, func(...gossh.AuthMethod) (*gossh.Client, error)) {
	t.Helper()
	runs := filepath.Join(dir, "runs")
	eng, err := engine.Open(engine.Options{RunsDir: runs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	id, err := eng.Submit(engine.Spec{Name: "watched", Model: "sb", Preset: "tiny", Data: "synth", Device: "cpu", Epochs: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, eng, id, engine.Running, time.Minute)
	cfg := serveConfig{listen: "127.0.0.1:0", authorizedKeys: full, viewerKeys: views,
		hostKey: filepath.Join(dir, "host_ed25519"), runsDir: runs}
	if log != nil {
		cfg.log = log
	}
	return eng, id, startServer(t, cfg, eng)
}

// A demoted key's guard refuses every changing call before it reaches the
// engine (here there is none: a call that got through would panic).
func TestKeyGuardRefusesEveryChangingCall(t *testing.T) {
	g := keyGuard{full: func() (bool, error) { return false, nil }}
	_, err := g.Submit(engine.Spec{})
	_, perr := g.SubmitPipeline("C", "tiny", engine.Spec{})
	_, xerr := g.Export("r", "val", "csv", "x.csv")
	for i, e := range []error{err, perr, g.Pause("r"), g.Resume("r"), g.Stop("r"), g.Delete("r"), xerr, g.Extend("r", 2, -1)} {
		if !errors.Is(e, errDemoted) {
			t.Errorf("call %d: %v, want errDemoted", i, e)
		}
	}
}

// Keys in ~/.ssh/authorized_keys often carry restrictions (from=,
// command=, restrict, no-pty, expiry-time=) the server cannot honour: such
// a key is not let in, rather than let in without its restriction; options
// that change nothing here (no forwarding) keep their key. A file left
// without a usable key is refused, naming the lines.
func TestServeKeyOptions(t *testing.T) {
	dir := t.TempDir()
	line := func(opts string, s gossh.Signer) string {
		return opts + " " + string(gossh.MarshalAuthorizedKey(s.PublicKey()))
	}
	var refused, kept []gossh.Signer
	var file strings.Builder
	for _, opts := range []string{`from="10.9.9.9"`, `command="/usr/bin/backup"`, `restrict`, `no-port-forwarding,no-pty`,
		`expiry-time="20200101"`, `cert-authority`, `verify-required`, `FROM="10.9.9.9"`} {
		k := newClientKey(t)
		refused = append(refused, k)
		file.WriteString(line(opts, k))
	}
	// The from= key again, bare: still out.
	file.WriteString(line("", refused[0]))
	for _, opts := range []string{`no-agent-forwarding,no-port-forwarding,no-X11-forwarding`, `environment="A=b"`, ``} {
		k := newClientKey(t)
		kept = append(kept, k)
		file.WriteString(line(opts, k))
	}
	c := serveConfig{authorizedKeys: filepath.Join(dir, "keys")}
	if err := os.WriteFile(c.authorizedKeys, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, k := range refused {
		if c.accessOf(k.PublicKey()) != noAccess {
			t.Errorf("refused key %d (line %d) got in", i, i+1)
		}
	}
	for i, k := range kept {
		if c.accessOf(k.PublicKey()) != fullAccess {
			t.Errorf("kept key %d (line %d) refused", i, len(refused)+i+2)
		}
	}
	var stderr bytes.Buffer
	if err := c.checkKeyFiles(&stderr); err != nil || !strings.Contains(stderr.String(), "line 1 (from), line 2 (command), line 3 (restrict), line 4 (no-pty)") {
		t.Fatalf("check: %v; warning %q", err, stderr.String())
	}

	only := filepath.Join(dir, "only")
	os.WriteFile(only, []byte(line(`from="10.9.9.9"`, refused[0])), 0o600)
	stderr.Reset()
	if code := Main([]string{"serve", "--viewer-keys", only}, &stderr, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "no usable public key in the file") || !strings.Contains(stderr.String(), "line 1 (from)") {
		t.Fatalf("serve with only a from= key: exit %d, %q", code, stderr.String())
	}
}

// A comment line longer than 64 KiB does not hide the keys after it.
func TestServeKeysAfterALongLine(t *testing.T) {
	k := newClientKey(t)
	c := serveConfig{authorizedKeys: filepath.Join(t.TempDir(), "keys")}
	text := "# " + strings.Repeat("x", 100<<10) + "\n" + string(gossh.MarshalAuthorizedKey(k.PublicKey()))
	if err := os.WriteFile(c.authorizedKeys, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if c.accessOf(k.PublicKey()) != fullAccess {
		t.Fatal("the key after a 100 KiB line was not read")
	}
}

// A key file that cannot be read for a while (a line half pasted, a typo)
// ends no open session: every session of every key in it was closed,
// told its key was no longer authorized, and the log said the key had
// been removed. The log says what is wrong instead; a key then really
// removed still loses its session.
func TestServeUnreadableKeyFileKeepsSessions(t *testing.T) {
	defer func(d time.Duration) { keyCheckEvery = d }(keyCheckEvery)
	keyCheckEvery = 20 * time.Millisecond
	dir := t.TempDir()
	key, other := newClientKey(t), newClientKey(t)
	full := filepath.Join(dir, "authorized_keys")
	writeKeys(t, full, key)
	log := &lockedBuffer{}
	runs := filepath.Join(dir, "runs")
	eng, err := engine.Open(engine.Options{RunsDir: runs})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	dial := startServer(t, serveConfig{listen: "127.0.0.1:0", authorizedKeys: full, hostKey: filepath.Join(dir, "host"), runsDir: runs, log: log}, eng)
	c, err := dial(gossh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wb, end, refused := tryWorkbench(t, c)
	if refused != "" {
		t.Fatalf("refused: %q", refused)
	}
	good, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, append(good, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI-half-pasted\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Minute)
	for !strings.Contains(log.String(), "key files unreadable, session kept until they can be read: --authorized-keys: authorized keys "+full+" line 2") {
		select {
		case <-end:
			t.Fatalf("a line that does not parse closed the session: screen ends %q; log %q", wb.out.String()[max(0, len(wb.out.String())-200):], log.String())
		case <-deadline:
			t.Fatalf("the log does not say the key file is unreadable: %q", log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if strings.Contains(log.String(), "removed") {
		t.Fatalf("the log says the key was removed: %q", log.String())
	}
	writeKeys(t, full, other) // really removed now
	select {
	case <-end:
	case <-time.After(time.Minute):
		t.Fatal("the session of a removed key is still open")
	}
}

// A full session's changing call while the key files cannot be read is
// refused with that reason, not as a demotion ("reconnect for a read-only
// session" sent people away from a session that had not lost anything).
func TestKeyGuardUnreadableKeyFiles(t *testing.T) {
	dir := t.TempDir()
	key := newClientKey(t)
	full, views := filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "viewer_keys")
	writeKeys(t, views, key)
	os.WriteFile(full, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI-half-pasted\n"), 0o600)
	c := serveConfig{authorizedKeys: full, viewerKeys: views}
	if a, err := c.lookUp(key.PublicKey()); a != viewAccess || err == nil {
		t.Fatalf("a viewer's key, --authorized-keys unreadable: %v, %v; want a view and the error", a, err)
	}
	g := keyGuard{full: func() (bool, error) {
		a, err := c.lookUp(key.PublicKey())
		return a == fullAccess, err
	}}
	if err := g.Pause("r"); errors.Is(err, errDemoted) || err == nil || !strings.Contains(err.Error(), "the key files cannot be read") {
		t.Fatalf("pause with the key files unreadable: %v", err)
	}
}
