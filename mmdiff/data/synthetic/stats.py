"""Summary statistics of 3D motion, to compare the embedded data with real Human3.6M motion.

:func:`motion_statistics` works on any ``{subject: {action: (F, 32, 3) metres}}`` table (the
generator's output, or a ``data_3d_h36m``-format file loaded with
:func:`mmdiff.data.h36m.load_positions_3d`).
"""
from __future__ import annotations

import numpy as np

from mmdiff.data.h36m import action_base
from mmdiff.data.synthetic.body import CLEARANCE, FPS
from mmdiff.skeleton import reduce_32_to_17


def _flexion(pos, a, b, c):
    """Flexion angle at joint b in degrees (0 = straight): 180 - angle(a, b, c). pos (N, 32, 3)."""
    u, v = pos[:, a] - pos[:, b], pos[:, c] - pos[:, b]
    cos = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1) + 1e-12)
    return 180.0 - np.degrees(np.arccos(np.clip(cos, -1, 1)))


def canonical_17(pos: np.ndarray) -> np.ndarray:
    """Root-relative 17-joint poses (N, 17, 3) from (N, 32, 3) metres, turned about z so the hips
    face +x (left hip toward +y)."""
    p = reduce_32_to_17(pos) - pos[:, :1]
    left = p[:, 4] - p[:, 1]                                            # RHip -> LHip
    ang = np.arctan2(left[:, 1], left[:, 0]) - np.pi / 2                # left -> +y
    c, s = np.cos(-ang), np.sin(-ang)
    x, y = c[:, None] * p[..., 0] - s[:, None] * p[..., 1], s[:, None] * p[..., 0] + c[:, None] * p[..., 1]
    return np.stack([x, y, p[..., 2]], -1)


def stance_drift(positions: np.ndarray, band: float = 0.02, floor=None) -> np.ndarray:
    """How far feet slide in stance: per contiguous run of frames in which an ankle (17-joint
    "foot") is within ``band`` metres of its resting height, the largest horizontal distance (m)
    from where the run began. positions: (F, 32, 3) metres; floor: the ankles' resting height
    (default: the generator's CLEARANCE; for other data, e.g. each ankle's 1st percentile).
    Returns (R,) metres, one value per run of at least two frames."""
    out = []
    for ankle in (3, 8):
        z, xy = positions[:, ankle, 2], positions[:, ankle, :2]
        rest = CLEARANCE[ankle] if floor is None else floor
        low = np.r_[False, z < rest + band, False]
        edges = np.flatnonzero(np.diff(low.astype(int)))                # run starts and ends
        for start, end in zip(edges[::2], edges[1::2]):
            if end - start >= 2:
                out.append(np.linalg.norm(xy[start:end] - xy[start], axis=-1).max())
    return np.asarray(out)


def _percentiles(x):
    return tuple(float(v) for v in np.percentile(x, (5, 50, 95)))


def motion_statistics(positions_3d: dict, fps: float = FPS) -> dict:
    """Summary statistics of a 32-joint 3D dataset ({subject: {action: (F, 32, 3) metres}}).

    Returns a flat dict: root height (m) mean and 5/50/95 percentiles; joint speeds (m/s) mean
    and 95th percentile for the root, head, wrists and ankles; knee and elbow flexion (deg)
    5/50/95 percentiles; left-right symmetry (mean |L - R| knee and elbow flexion, deg; ratio of
    mean left to right wrist speed); pose variety of root-relative, heading-aligned 17-joint
    poses (mean distance to the mean pose, mm; PCA components for 90 % of the variance); and
    per base action the mean root height (m) and horizontal root speed (m/s).
    """
    seqs = [np.asarray(a, dtype=np.float64) for acts in positions_3d.values() for a in acts.values()]
    pos = np.concatenate(seqs)                                          # (N, 32, 3)
    speed = np.concatenate([np.linalg.norm(np.diff(s, axis=0), axis=-1) * fps for s in seqs])
    st = {"frames": len(pos), "root_height_mean": float(pos[:, 0, 2].mean())}
    st["root_height_p5_p50_p95"] = _percentiles(pos[:, 0, 2])
    for name, joints in {"root": [0], "head": [15], "wrists": [19, 27], "ankles": [3, 8]}.items():
        v = speed[:, joints].ravel()
        st[f"speed_{name}_mean_p95"] = (float(v.mean()), float(np.percentile(v, 95)))
    knees = [_flexion(pos, 1, 2, 3), _flexion(pos, 6, 7, 8)]
    elbows = [_flexion(pos, 25, 26, 27), _flexion(pos, 17, 18, 19)]
    st["knee_flex_p5_p50_p95"] = _percentiles(np.concatenate(knees))
    st["elbow_flex_p5_p50_p95"] = _percentiles(np.concatenate(elbows))
    st["knee_lr_absdiff"] = float(np.abs(knees[0] - knees[1]).mean())
    st["elbow_lr_absdiff"] = float(np.abs(elbows[0] - elbows[1]).mean())
    st["wrist_speed_l_over_r"] = float(speed[:, 19].mean() / speed[:, 27].mean())
    canon = canonical_17(pos).reshape(len(pos), -1)                    # (N, 51)
    centred = canon - canon.mean(0)
    st["pose_spread_mm"] = float(np.linalg.norm(centred.reshape(-1, 17, 3), axis=-1).mean() * 1000)
    eig = np.linalg.eigvalsh(np.cov(centred.T))[::-1]
    st["pca_components_90"] = int(np.searchsorted(np.cumsum(eig) / eig.sum(), 0.9) + 1)
    per_action: dict = {}
    for acts in positions_3d.values():
        for a, arr in acts.items():
            arr = np.asarray(arr, dtype=np.float64)
            v = np.linalg.norm(np.diff(arr[:, 0, :2], axis=0), axis=-1) * fps
            per_action.setdefault(action_base(a), []).append((arr[:, 0, 2], v))
    for a, parts in sorted(per_action.items()):
        st[f"root_height,speed[{a}]"] = (float(np.concatenate([h for h, _ in parts]).mean()),
                                         float(np.concatenate([v for _, v in parts]).mean()))
    return st
