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
    c, s = c[:, None], s[:, None]                                       # (N, 1)
    x, y = c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1]
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


def _sequences(positions_3d: dict):
    """[(base action, (F, 32, 3) float64 metres)] of a {subject: {action: array}} table."""
    return [(action_base(a), np.asarray(arr, dtype=np.float64))
            for acts in positions_3d.values() for a, arr in acts.items()]


def _speed_stats(seqs, fps) -> dict:
    speed = np.concatenate([np.linalg.norm(np.diff(x, axis=0), axis=-1) * fps for _, x in seqs])
    out = {}
    for name, joints in {"root": [0], "head": [15], "wrists": [19, 27], "ankles": [3, 8]}.items():
        v = speed[:, joints].ravel()
        out[f"speed_{name}_mean_p95"] = (float(v.mean()), float(np.percentile(v, 95)))
    out["wrist_speed_l_over_r"] = float(speed[:, 19].mean() / speed[:, 27].mean())
    return out


def _angle_stats(pos) -> dict:
    knees = [_flexion(pos, 1, 2, 3), _flexion(pos, 6, 7, 8)]
    elbows = [_flexion(pos, 25, 26, 27), _flexion(pos, 17, 18, 19)]
    return {"knee_flex_p5_p50_p95": _percentiles(np.concatenate(knees)),
            "elbow_flex_p5_p50_p95": _percentiles(np.concatenate(elbows)),
            "knee_lr_absdiff": float(np.abs(knees[0] - knees[1]).mean()),
            "elbow_lr_absdiff": float(np.abs(elbows[0] - elbows[1]).mean())}


def _variety_stats(pos) -> dict:
    canon = canonical_17(pos).reshape(len(pos), -1)                    # (N, 51)
    centred = canon - canon.mean(0)
    eig = np.linalg.eigvalsh(np.cov(centred.T))[::-1]
    return {"pose_spread_mm": float(np.linalg.norm(centred.reshape(-1, 17, 3), axis=-1).mean()
                                    * 1000),
            "pca_components_90": int(np.searchsorted(np.cumsum(eig) / eig.sum(), 0.9) + 1)}


def _action_stats(seqs, fps) -> dict:
    groups: dict = {}
    for a, x in seqs:
        groups.setdefault(a, []).append(x)
    out = {}
    for a, xs in sorted(groups.items()):
        h = np.concatenate([x[:, 0, 2] for x in xs])
        v = np.concatenate([np.linalg.norm(np.diff(x[:, 0, :2], axis=0), axis=-1) * fps
                            for x in xs])
        out[f"root_height[{a}]"] = (float(h.mean()),) + _percentiles(h)
        out[f"root_height_lowest[{a}]"] = float(min(x[:, 0, 2].min() for x in xs))
        out[f"root_speed[{a}]"] = float(v.mean())
    return out


def motion_statistics(positions_3d: dict, fps: float = FPS) -> dict:
    """Summary statistics of a 32-joint 3D dataset ({subject: {action: (F, 32, 3) metres}}).

    Returns a flat dict: "frames"; root height (m) mean and 5/50/95 percentiles; joint speeds
    (m/s) mean and 95th percentile for the root, head, wrists and ankles; knee and elbow flexion
    (deg) 5/50/95 percentiles; left-right symmetry (mean |L - R| knee and elbow flexion, deg;
    mean left over right wrist speed); pose variety of root-relative, heading-aligned 17-joint
    poses (mean distance to the mean pose, mm; PCA components for 90 % of the variance); and per
    base action "root_height[A]" (mean, p5, p50, p95 m), "root_height_lowest[A]" (the lowest
    root of any sequence, m) and "root_speed[A]" (mean horizontal root speed, m/s).
    """
    seqs = _sequences(positions_3d)
    pos = np.concatenate([x for _, x in seqs])                          # (N, 32, 3)
    st = {"frames": len(pos), "root_height_mean": float(pos[:, 0, 2].mean()),
          "root_height_p5_p50_p95": _percentiles(pos[:, 0, 2])}
    for part in (_speed_stats(seqs, fps), _angle_stats(pos), _variety_stats(pos),
                 _action_stats(seqs, fps)):
        st.update(part)
    return st


def compare_statistics(ours: dict, real: dict, tolerance: float = 0.10) -> list[tuple]:
    """Rows (name, real, ours, relative difference, within tolerance) for the statistics the
    embedded data is held to: pose spread, PCA components, mean and p95 speeds, knee and elbow
    flexion (p50, p95), root height overall and per action. ours, real: from
    :func:`motion_statistics`."""
    rows = [("pose spread (mm)", real["pose_spread_mm"], ours["pose_spread_mm"]),
            ("PCA components for 90 %", real["pca_components_90"], ours["pca_components_90"])]
    for j in ("root", "head", "wrists", "ankles"):
        for i, q in ((0, "mean"), (1, "p95")):
            rows.append((f"{j} speed {q} (m/s)", real[f"speed_{j}_mean_p95"][i],
                         ours[f"speed_{j}_mean_p95"][i]))
    for j in ("knee", "elbow"):
        for i, q in ((1, "p50"), (2, "p95")):
            rows.append((f"{j} flexion {q} (deg)", real[f"{j}_flex_p5_p50_p95"][i],
                         ours[f"{j}_flex_p5_p50_p95"][i]))
    rows.append(("root height (m)", real["root_height_mean"], ours["root_height_mean"]))
    for key in sorted(k for k in real if k.startswith("root_height[") and k in ours):
        rows.append((f"root height {key[12:-1]} (m)", real[key][0], ours[key][0]))
    return [(n, r, o, (o - r) / r, abs(o - r) <= tolerance * abs(r)) for n, r, o in rows]
