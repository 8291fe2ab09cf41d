"""Writes the PyTorch files engine/init_torch_test.go reads: torchvision's
ResNet-18 state_dict (random weights) saved by torch.save in the zip and
the legacy format, inside a training checkpoint, in other float dtypes,
and an integer one; want*.npz hold the float32 values PyTorch holds."""
import sys, os
try:
    import numpy as np
    import torch, torchvision
except ImportError as e:
    print(e)
    sys.exit(3)  # the test skips

out = sys.argv[1]
torch.manual_seed(0)
m = torchvision.models.resnet18()
# Non-zero running statistics, as a trained network has.
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.normal_()
        mod.running_var.uniform_(0.5, 2)
sd = m.state_dict()
floats = {k: v for k, v in sd.items() if v.is_floating_point()}
np.savez(os.path.join(out, "want.npz"), **{k: v.numpy() for k, v in floats.items()})

zsd = dict(sd)
# A view with other strides: torch.save keeps them.
zsd["conv1.weight"] = sd["conv1.weight"].permute(2, 3, 1, 0).contiguous().permute(3, 2, 0, 1)
assert not zsd["conv1.weight"].is_contiguous()
torch.save(zsd, os.path.join(out, "zip.pth"), _use_new_zipfile_serialization=True)
torch.save(sd, os.path.join(out, "legacy.pth"), _use_new_zipfile_serialization=False)
few = ["conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight"]
torch.save({"epoch": 7, "state_dict": {k: sd[k] for k in few}}, os.path.join(out, "nested.pt"))
for name, dt in [("f64", torch.float64), ("f16", torch.float16), ("bf16", torch.bfloat16)]:
    d = {k: sd[k].to(dt) for k in few}
    torch.save(d, os.path.join(out, name + ".pth"))
    np.savez(os.path.join(out, "want_" + name + ".npz"), **{k: v.float().numpy() for k, v in d.items()})
torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7, dtype=torch.int32)}, os.path.join(out, "int.pth"))
