# Builds the small malformed ETH-layout pickles the loader tests reject
# (and one numpy-2-style pickle they must accept), from eth/val.pkl.
# Run with /usr/bin/python3 (numpy 1.24); the outputs are committed.
import copy, copyreg, pickle, sys, types
import numpy as np

class Camera:  # stands in for lib.utils.cameras.Camera
    pass
Camera.__module__ = 'lib.utils.cameras'
mod = types.ModuleType('lib.utils.cameras'); mod.Camera = Camera
sys.modules['lib'] = types.ModuleType('lib'); sys.modules['lib.utils'] = types.ModuleType('lib.utils')
sys.modules['lib.utils.cameras'] = mod

val = pickle.load(open('eth/val.pkl', 'rb'))

def dump(name, obj, protocol=4):
    with open(name, 'wb') as f:
        pickle.dump(obj, f, protocol=protocol)

d = copy.deepcopy(val); d[1][0]['joints_3d'] = d[1][0]['joints_3d'][:16]
dump('eth_bad_shape.pkl', d)
d = copy.deepcopy(val); d[1][0]['joints_3d'] = np.array([['a', 'b', 'c']] * 17)
dump('eth_bad_dtype.pkl', d)
d = copy.deepcopy(val); d[2][1]['pelvis'] = np.array([1.0, np.nan, 5000.0])
dump('eth_nan.pkl', d)
d = copy.deepcopy(val); del d[1][1]['c_p']
dump('eth_missing_key.pkl', d)
dump('eth_not_dict.pkl', [1, 2, 3])

# numpy 2 pickles name numpy._core.multiarray._reconstruct.
from numpy.core.multiarray import _reconstruct
core = types.ModuleType('numpy._core.multiarray')
def _reconstruct2(*a): return _reconstruct(*a)
_reconstruct2.__module__ = 'numpy._core.multiarray'; _reconstruct2.__qualname__ = _reconstruct2.__name__ = '_reconstruct'
core._reconstruct = _reconstruct2
sys.modules['numpy._core'] = types.ModuleType('numpy._core'); sys.modules['numpy._core.multiarray'] = core
def reduce2(a):
    fn, args, state = a.__reduce__()
    return (_reconstruct2, args, state)
copyreg.pickle(np.ndarray, reduce2)
dump('eth_numpy2.pkl', val, protocol=5)

# mmpose npz with a wrong shape and a wrong dtype; VideoPose3D with a
# wrong joint count.
z = dict(np.load('test_h36m_body3d.npz'))
b = dict(z); b['part'] = b['part'][:, :, :2]
np.savez('mmpose_bad_shape.npz', **b)
b = dict(z); b['S'] = np.array(['x'] * 4)
np.savez('mmpose_bad_dtype.npz', **b)
v = np.load('data_3d_h36m_sample.npz', allow_pickle=True)['positions_3d'].item()
v['S1']['Directions 1'] = v['S1']['Directions 1'][:, :20]
np.savez('vp3d_bad_shape.npz', positions_3d=v)

# The same mmpose frames with S in millimetres (formats.md: mm or m).
b = dict(z); b['S'] = b['S'].copy(); b['S'][..., :3] *= 1000
np.savez('mmpose_mm.npz', **b)

# The same mmpose frames with S in world coordinates (metres, z up;
# formats.md: world or camera), through cameras.json's extrinsics.
import json
cams = {(c['subject'], c['id']): c for c in json.load(open('cameras.json'))['cameras']}
b = dict(z); b['S'] = b['S'].copy()
for i, name in enumerate(b['imgname']):
    c = cams[(name.split('/')[0], name.split('/')[1].split('.')[1])]
    R, t = np.array(c['R_world_to_cam']), np.array(c['translation'])
    b['S'][i, :, :3] = (b['S'][i, :, :3] * 1000 @ R + t) / 1000
np.savez('mmpose_world.npz', **b)
