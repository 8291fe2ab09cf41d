"""Runs scripts/peer.py's model on poselab's exported weights, for cli/weights_torch_test.go.

Usage: peer_forward.py PEER_DIR WEIGHTS.npz 'SB(d=32, ...)' INPUT.npy OUT.npz
Loads the weights exactly as `poselab export --help` tells users to (strict loading), runs the
model in eval mode on the input and saves its output ("out"; SH's list of stacks stacked on axis
1) and, for IR, the volumetric heatmaps before the soft-argmax ("volume").
"""
import sys

import numpy as np
import torch

peer_dir, weights, call, inp, out = sys.argv[1:6]
sys.path.insert(0, peer_dir)
import peer  # noqa: E402

torch.set_num_threads(2)
model = eval(call, vars(peer))
sd = {k: torch.from_numpy(v) for k, v in np.load(weights).items()}
model.load_state_dict(sd)
model.eval()
x = torch.from_numpy(np.load(inp))
with torch.no_grad():
    y = model(x)
    outs = {'out': torch.stack(y, 1) if isinstance(y, list) else y}
    if isinstance(model, peer.IR):
        outs['volume'] = model.final(model.deconv(model.back(x)))
absent = sorted(set(model.state_dict()) - set(sd))
assert all(k.endswith('.num_batches_tracked') for k in absent), absent
print('torch', torch.__version__, 'loaded', len(sd), 'arrays strictly;', len(absent), 'num_batches_tracked filled in')
np.savez(out, **{k: v.numpy() for k, v in outs.items()})
