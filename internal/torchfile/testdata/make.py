"""Writes the small torch.save files torchfile_test.go reads (torch 1.13):
python3 make.py in this folder."""
from collections import OrderedDict
import torch

w = torch.arange(6, dtype=torch.float32).reshape(3, 2).t()  # a strided view: [[0, 2, 4], [1, 3, 5]]
d = OrderedDict([
    ("w", w),
    ("h", torch.tensor([1.5, -0.0, 1e-6, -1e-6, 65504.0], dtype=torch.float16)),  # subnormals and -0
    ("b", torch.tensor([1.0, -2.5, 3.0e38], dtype=torch.bfloat16)),
    ("d", torch.tensor([[0.25, -1.0]], dtype=torch.float64)),
    ("n", torch.tensor(7)),  # int64, as num_batches_tracked
])
torch.save(d, "small_zip.pth", _use_new_zipfile_serialization=True)
torch.save(d, "small_legacy.pth", _use_new_zipfile_serialization=False)
for k, v in d.items():
    print(k, v.float().tolist() if v.is_floating_point() else v.tolist())
