package cli

import (
	"errors"
	"fmt"

	"poselab/engine"
)

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
