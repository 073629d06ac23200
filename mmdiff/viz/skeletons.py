"""Skeleton drawing blocks shared by the pose figures: bones grouped by side, 3D and 2D traces
added under handle names, GMM ellipses, equal-aspect scenes.

Handles: a skeleton added with prefix ``p`` owns ``p/centre bones``, ``p/left bones``,
``p/right bones`` and ``p/joints``; :func:`set_skeleton_3d` / :func:`set_pose_2d` redraw them.
Bones are drawn as one polyline per side with NaN breaks between segments.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mmdiff.errors import ConfigError, DataError
from mmdiff.skeleton import (LEFT_17, LEFT_32, NAMES_17, NAMES_32, PARENTS_17, PARENTS_32,
                             RIGHT_17, RIGHT_32)
from mmdiff.viz.base import CENTRE_COLOR, COLORS, LEFT_COLOR, RIGHT_COLOR, SIDES, Traces

PARTS = tuple(f"{side} bones" for side in SIDES) + ("joints",)


def skeleton_layout(num_joints: int):
    """(parents, left, right, names) for a 17- or 32-joint skeleton."""
    if num_joints == 17:
        return PARENTS_17, LEFT_17, RIGHT_17, NAMES_17
    if num_joints == 32:
        return PARENTS_32, LEFT_32, RIGHT_32, NAMES_32
    raise DataError(f"skeleton: expected 17 or 32 joints, found {num_joints}")


def handles(prefix: str) -> list[str]:
    """The four handles of a skeleton added under ``prefix``."""
    return [f"{prefix}/{part}" for part in PARTS]


def bone_groups(num_joints: int) -> dict[str, list[tuple[int, int]]]:
    """Bones (child, parent) grouped by the side of the child joint."""
    parents, left, right, _ = skeleton_layout(num_joints)
    groups = {s: [] for s in SIDES}
    for j, p in enumerate(parents):
        if p >= 0:
            groups["left" if j in left else "right" if j in right else "centre"].append((j, p))
    return groups


def segments(points: np.ndarray, pairs) -> np.ndarray:
    """(P, C) points -> (3 * len(pairs), C) polyline with NaN breaks between segments."""
    out = np.full((3 * len(pairs), points.shape[-1]), np.nan)
    for i, (a, b) in enumerate(pairs):
        out[3 * i], out[3 * i + 1] = points[a], points[b]
    return out


def skeleton_segments(pose: np.ndarray) -> list[np.ndarray]:
    """The :data:`PARTS` coordinates of a (J, C) pose: three bone polylines, then the joints."""
    groups = bone_groups(len(pose))
    return [segments(pose, groups[side]) for side in SIDES] + [pose]


def display_3d(pose: np.ndarray, coords: str) -> np.ndarray:
    """(..., 3) -> plot axes (x, y, z) with z up: camera (x, y down, z fwd) -> (x, z, -y)."""
    if coords == "camera":
        return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)
    if coords == "world":
        return pose
    raise ConfigError(f"coords: expected 'camera' or 'world', found {coords!r}")


def cube_scene(points: np.ndarray, margin: float = 0.1) -> dict:
    """Scene settings with equal aspect: one cube around every finite point of (..., 3)."""
    pts = points.reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    centre = (pts.max(0) + pts.min(0)) / 2 if len(pts) else np.zeros(3)
    half = (np.max(pts.max(0) - pts.min(0)) / 2 if len(pts) else 1.0) + margin
    axes = {f"{a}axis": dict(range=[c - half, c + half], title=t)
            for a, c, t in zip("xyz", centre, ("x (m)", "depth (m)", "up (m)"))}
    return dict(aspectmode="cube", camera=dict(eye=dict(x=0.0, y=-2.0, z=0.6)), **axes)


def skeleton_3d_traces(pose: np.ndarray, scene: str = "scene", showlegend: bool = True,
                       opacity: float = 1.0) -> list:
    """Traces in :data:`PARTS` order (three bone sides, joints) for a (J, 3) display pose."""
    groups = bone_groups(len(pose))
    traces = [go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines", name=f"{side} bones",
                           line=dict(color=COLORS[side], width=6), scene=scene, opacity=opacity,
                           showlegend=showlegend, legendgroup=side)
              for side in SIDES for seg in [segments(pose, groups[side])]]
    traces.append(go.Scatter3d(x=pose[:, 0], y=pose[:, 1], z=pose[:, 2], mode="markers",
                               marker=dict(size=3, color="black"), name="joints", opacity=opacity,
                               text=skeleton_layout(len(pose))[3], scene=scene,
                               showlegend=showlegend, legendgroup="joints"))
    return traces


def pose_2d_traces(pose: np.ndarray, showlegend: bool = True, label: str = "",
                   opacity: float = 1.0) -> list:
    """Traces in :data:`PARTS` order for a (J, 2) pose (x right, y down)."""
    groups = bone_groups(len(pose))
    traces = [go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", name=f"{label}{side} bones",
                         line=dict(color=COLORS[side], width=3), showlegend=showlegend,
                         legendgroup=side, opacity=opacity)
              for side in SIDES for seg in [segments(pose, groups[side])]]
    traces.append(go.Scatter(x=pose[:, 0], y=pose[:, 1], mode="markers", name=f"{label}joints",
                             marker=dict(size=6, color="black"), opacity=opacity,
                             text=skeleton_layout(len(pose))[3], showlegend=showlegend))
    return traces


def add_skeleton(traces: Traces, prefix: str, parts: list, row=None, col=None) -> None:
    """Add the four traces from :func:`skeleton_3d_traces` / :func:`pose_2d_traces` as ``prefix/...``."""
    for handle, tr in zip(handles(prefix), parts):
        traces.add(handle, tr, row=row, col=col)


def set_skeleton_3d(traces: Traces, prefix: str, pose: np.ndarray) -> None:
    """Redraw the 3D skeleton ``prefix`` with a (J, 3) display pose."""
    groups = bone_groups(len(pose))
    for side in SIDES:
        seg = segments(pose, groups[side])
        traces[f"{prefix}/{side} bones"].update(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2])
    traces[f"{prefix}/joints"].update(x=pose[:, 0], y=pose[:, 1], z=pose[:, 2])


def set_pose_2d(traces: Traces, prefix: str, pose: np.ndarray) -> None:
    """Redraw the 2D skeleton ``prefix`` with a (J, 2) pose."""
    groups = bone_groups(len(pose))
    for side in SIDES:
        seg = segments(pose, groups[side])
        traces[f"{prefix}/{side} bones"].update(x=seg[:, 0], y=seg[:, 1])
    traces[f"{prefix}/joints"].update(x=pose[:, 0], y=pose[:, 1])


def gmm_shapes(gmm: np.ndarray, xref="x", yref="y") -> list[dict]:
    """One ellipse per kernel: (J, K, 5) -> layout shapes, opacity from the weight."""
    _, left, right, _ = skeleton_layout(gmm.shape[0])
    shapes = []
    for j in range(gmm.shape[0]):
        color = LEFT_COLOR if j in left else RIGHT_COLOR if j in right else CENTRE_COLOR
        for w, mu, mv, su, sv in gmm[j]:
            if w <= 0:
                continue
            shapes.append(dict(type="circle", xref=xref, yref=yref, x0=mu - su, x1=mu + su,
                               y0=mv - sv, y1=mv + sv, line=dict(color=color, width=1),
                               fillcolor=color, opacity=float(0.1 + 0.5 * min(w, 1.0))))
    return shapes


def gmm_means(gmm: np.ndarray):
    """Kernel means (x, y) and hover labels 'joint kK: w=...' for a (J, K, 5) GMM."""
    names = skeleton_layout(gmm.shape[0])[3]
    keep = gmm[..., 0] > 0                                                     # (J, K)
    jj, kk = np.nonzero(keep)
    text = [f"{names[j]} k{k}: w={gmm[j, k, 0]:.2f}" for j, k in zip(jj, kk)]
    return gmm[jj, kk, 1], gmm[jj, kk, 2], text


def image_axes(fig, row=None, col=None, unit: str = "normalised") -> None:
    """Image-style axes: v (or y) pointing down, titles in ``unit``."""
    kw = {} if row is None else dict(row=row, col=col)
    fig.update_yaxes(autorange="reversed", title_text=f"v ({unit})", **kw)
    fig.update_xaxes(title_text=f"u ({unit})", **kw)
