package engine

import "testing"

// A checkpoint is named with its epoch as people count them (from 1): the
// best one's is the epoch that scored best; one saved mid-epoch (a stop,
// --ckpt-every) is in the epoch after those it completed.
func TestCkptRefLabel(t *testing.T) {
	for _, c := range []struct {
		ref  CkptRef
		want string
	}{
		{CkptRef{Path: "runs/sb-1/checkpoints/best.ckpt", Step: 120, Epoch: 3}, "best.ckpt: epoch 3, step 120"},
		{CkptRef{Path: "runs/sb-1/checkpoints/last.ckpt", Step: 130, Epoch: 3, Pos: 10}, "last.ckpt: step 130, in epoch 4"},
		{CkptRef{Path: "runs/sb-1/checkpoints/last.ckpt", Step: 0}, "last.ckpt: step 0, in epoch 1"},
	} {
		if got := c.ref.Label(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.ref, got, c.want)
		}
	}
}
