# Reference values for pose's metric tests, computed independently with
# numpy (VideoPose3D-style formulas: root-aligned MPJPE; Procrustes via
# SVD of H = X0^T Y0 on normalised centred poses with the reflection fix;
# N-MPJPE scale sum(p.g)/sum(p.p)). Run with /usr/bin/python3 (numpy).
import json
import numpy as np

rng = np.random.default_rng(42)
n = 40
gt = rng.normal(0, 250, (n, 17, 3)) + np.array([0, 0, 5000])
pred = gt + rng.normal(0, 60, (n, 17, 3))
# Some predictions rotated, scaled, moved and one mirrored.
for i in range(0, n, 4):
    a = rng.normal(size=3); a /= np.linalg.norm(a); t = rng.uniform(0, np.pi)
    K = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    R = np.eye(3) + np.sin(t) * K + (1 - np.cos(t)) * K @ K
    pred[i] = 1.3 * pred[i] @ R.T + np.array([100, -50, 30])
pred[3, :, 0] *= -1

gr = gt - gt[:, :1]; pr = pred - pred[:, :1]
err = np.linalg.norm(pr - gr, axis=2)
mpjpe = err.mean()

def p_mpjpe(p, g):
    mx, my = g.mean(1, keepdims=True), p.mean(1, keepdims=True)
    X0, Y0 = g - mx, p - my
    nx = np.sqrt((X0 ** 2).sum((1, 2), keepdims=True)); ny = np.sqrt((Y0 ** 2).sum((1, 2), keepdims=True))
    X0 /= nx; Y0 /= ny
    H = X0.transpose(0, 2, 1) @ Y0
    U, s, Vt = np.linalg.svd(H)
    V = Vt.transpose(0, 2, 1)
    R = V @ U.transpose(0, 2, 1)
    sgn = np.sign(np.expand_dims(np.linalg.det(R), 1))
    V[:, :, -1] *= sgn; s[:, -1] *= sgn.flatten()
    R = V @ U.transpose(0, 2, 1)
    tr = s.sum(1, keepdims=True)[:, :, None]
    a = tr * nx / ny
    t = mx - a * (my @ R)
    al = a * (p @ R) + t
    return np.linalg.norm(al - g, axis=2).mean()

sc = (pr * gr).sum((1, 2), keepdims=True) / (pr * pr).sum((1, 2), keepdims=True)
nmpjpe = np.linalg.norm(sc * pr - gr, axis=2).mean()
pck = (err <= 150).mean()
auc = np.mean([(err <= t).mean() for t in np.arange(0, 151, 5)])
json.dump({
    "pred": pred.tolist(), "gt": gt.tolist(),
    "mpjpe": mpjpe, "p_mpjpe": p_mpjpe(pred, gt), "n_mpjpe": nmpjpe, "pck150": pck, "auc": auc,
    "per_joint": err.mean(0).tolist(),
}, open("reference_metrics.json", "w"))
print(mpjpe, p_mpjpe(pred, gt), nmpjpe, pck, auc)
