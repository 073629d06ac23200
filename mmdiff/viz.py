"""Plotly figures for the notebooks, each with an ``update(...)`` that redraws it in place.

Every builder returns a ``View(fig, update)``: ``fig`` is a ``go.Figure`` (or a
``go.FigureWidget`` with ``widget=True``, which needs ``anywidget`` in Jupyter), and ``update``
replaces the data of the existing traces, so an ipywidgets callback is one line::

    view = viz.skeleton_3d(pose, widget=True)
    widgets.interact(lambda i: view.update(poses[i]), i=(0, len(poses) - 1))

Conventions. 3D poses are (J, 3) metres, J = 17 or 32 (bones from ``mmdiff.skeleton``); camera
coordinates (x right, y down, z forward) are drawn with "up" pointing up, world coordinates
(z up) as they are. 2D poses are (J, 2) normalised screen coordinates (u right, v down). GMM
kernels are (J, K, 5) rows (weight, mean u, mean v, spread u, spread v) in normalised units,
drawn as axis-aligned ellipses of one spread, opacity growing with the weight. Left joints are
red, right joints blue, the spine grey. Inputs (numpy or torch) are never modified.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mmdiff.skeleton import (EDGES_17, LEFT_17, LEFT_32, NAMES_17, NAMES_32, PARENTS_17,
                             PARENTS_32, RIGHT_17, RIGHT_32)

LEFT_COLOR, RIGHT_COLOR, CENTRE_COLOR = "#d62728", "#1f77b4", "#555555"
SIDES = ("centre", "left", "right")
_COLORS = {"centre": CENTRE_COLOR, "left": LEFT_COLOR, "right": RIGHT_COLOR}

#: A standing 17-joint pose (x right, y up, arbitrary units) used to lay out graph drawings.
TEMPLATE_17 = np.array([
    [0.0, 0.0], [-0.12, 0.0], [-0.13, -0.45], [-0.14, -0.9], [0.12, 0.0], [0.13, -0.45],
    [0.14, -0.9], [0.0, 0.25], [0.0, 0.5], [0.0, 0.62], [0.0, 0.75], [0.17, 0.47],
    [0.3, 0.22], [0.35, -0.02], [-0.17, 0.47], [-0.3, 0.22], [-0.35, -0.02]])


class View(NamedTuple):
    """A figure and the function that redraws it in place (unpacks as ``fig, update``)."""
    fig: go.Figure
    update: Callable


# --- helpers ----------------------------------------------------------------------------------
def _np(x, name: str, shape_tail=None) -> np.ndarray:
    """A float64 numpy copy of a numpy array / tensor / list, with an optional shape check."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.array(x, dtype=np.float64, copy=True)
    if shape_tail is not None and (arr.ndim < len(shape_tail) or any(
            s is not None and a != s for a, s in zip(arr.shape[-len(shape_tail):], shape_tail))):
        raise ValueError(f"{name}: expected shape (..., {', '.join(str(s or 'n') for s in shape_tail)})"
                         f", found {arr.shape}")
    return arr


def _finish(fig: go.Figure, widget: bool):
    return go.FigureWidget(fig) if widget else fig


def skeleton_layout(num_joints: int):
    """(parents, left, right, names) for a 17- or 32-joint skeleton."""
    if num_joints == 17:
        return PARENTS_17, LEFT_17, RIGHT_17, NAMES_17
    if num_joints == 32:
        return PARENTS_32, LEFT_32, RIGHT_32, NAMES_32
    raise ValueError(f"skeleton: expected 17 or 32 joints, found {num_joints}")


def _bone_groups(num_joints: int) -> dict[str, list[tuple[int, int]]]:
    """Bones (child, parent) grouped by the side of the child joint."""
    parents, left, right, _ = skeleton_layout(num_joints)
    groups = {s: [] for s in SIDES}
    for j, p in enumerate(parents):
        if p >= 0:
            groups["left" if j in left else "right" if j in right else "centre"].append((j, p))
    return groups


def _segments(points: np.ndarray, pairs) -> np.ndarray:
    """(P, C) points -> (3 * len(pairs), C) polyline with NaN breaks between segments."""
    out = np.full((3 * len(pairs), points.shape[-1]), np.nan)
    for i, (a, b) in enumerate(pairs):
        out[3 * i], out[3 * i + 1] = points[a], points[b]
    return out


def _display_3d(pose: np.ndarray, coords: str) -> np.ndarray:
    """(..., 3) -> plot axes (x, y, z) with z up: camera (x, y down, z fwd) -> (x, z, -y)."""
    if coords == "camera":
        return np.stack([pose[..., 0], pose[..., 2], -pose[..., 1]], axis=-1)
    if coords == "world":
        return pose
    raise ValueError(f"coords: expected 'camera' or 'world', found {coords!r}")


def _cube_scene(points: np.ndarray, margin: float = 0.1) -> dict:
    """Scene settings with equal aspect: one cube around every point of (..., 3)."""
    pts = points.reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    centre = (pts.max(0) + pts.min(0)) / 2 if len(pts) else np.zeros(3)
    half = (np.max(pts.max(0) - pts.min(0)) / 2 if len(pts) else 1.0) + margin
    axes = {f"{a}axis": dict(range=[c - half, c + half], title=t)
            for a, c, t in zip("xyz", centre, ("x (m)", "depth (m)", "up (m)"))}
    return dict(aspectmode="cube", camera=dict(eye=dict(x=0.0, y=-2.0, z=0.6)), **axes)


def _skeleton_traces(pose: np.ndarray, scene: str = "scene", showlegend: bool = True):
    """Three bone traces (centre, left, right) and one joint trace for a (J, 3) display pose."""
    groups = _bone_groups(len(pose))
    traces = [go.Scatter3d(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2], mode="lines", name=f"{side} bones",
                           line=dict(color=_COLORS[side], width=6), scene=scene,
                           showlegend=showlegend, legendgroup=side)
              for side in SIDES for seg in [_segments(pose, groups[side])]]
    names = skeleton_layout(len(pose))[3]
    traces.append(go.Scatter3d(x=pose[:, 0], y=pose[:, 1], z=pose[:, 2], mode="markers",
                               marker=dict(size=3, color="black"), name="joints", text=names,
                               scene=scene, showlegend=showlegend, legendgroup="joints"))
    return traces


def _set_skeleton(fig, first: int, pose: np.ndarray) -> None:
    """Overwrite the four skeleton traces starting at ``fig.data[first]``."""
    groups = _bone_groups(len(pose))
    for i, side in enumerate(SIDES):
        seg = _segments(pose, groups[side])
        fig.data[first + i].update(x=seg[:, 0], y=seg[:, 1], z=seg[:, 2])
    fig.data[first + 3].update(x=pose[:, 0], y=pose[:, 1], z=pose[:, 2])


def _pose_2d_traces(pose: np.ndarray, xaxis="x", yaxis="y", showlegend=True, prefix=""):
    groups = _bone_groups(len(pose))
    traces = [go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", name=f"{prefix}{side} bones",
                         line=dict(color=_COLORS[side], width=3), xaxis=xaxis, yaxis=yaxis,
                         showlegend=showlegend, legendgroup=side)
              for side in SIDES for seg in [_segments(pose, groups[side])]]
    traces.append(go.Scatter(x=pose[:, 0], y=pose[:, 1], mode="markers", name=f"{prefix}joints",
                             marker=dict(size=6, color="black"), xaxis=xaxis, yaxis=yaxis,
                             text=skeleton_layout(len(pose))[3], showlegend=showlegend))
    return traces


def _set_pose_2d(fig, first: int, pose: np.ndarray) -> None:
    groups = _bone_groups(len(pose))
    for i, side in enumerate(SIDES):
        seg = _segments(pose, groups[side])
        fig.data[first + i].update(x=seg[:, 0], y=seg[:, 1])
    fig.data[first + 3].update(x=pose[:, 0], y=pose[:, 1])


def _gmm_shapes(gmm: np.ndarray, xref="x", yref="y") -> list[dict]:
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


def _gmm_means(gmm: np.ndarray):
    """Kernel means (x, y) and hover labels 'joint k: w=...' for a (J, K, 5) GMM."""
    names = skeleton_layout(gmm.shape[0])[3]
    keep = gmm[..., 0] > 0                                                     # (J, K)
    jj, kk = np.nonzero(keep)
    text = [f"{names[j]} k{k}: w={gmm[j, k, 0]:.2f}" for j, k in zip(jj, kk)]
    return gmm[jj, kk, 1], gmm[jj, kk, 2], text


def _image_axes(fig, row=None, col=None):
    kw = {} if row is None else dict(row=row, col=col)
    fig.update_yaxes(autorange="reversed", title_text="v (normalised)", **kw)
    fig.update_xaxes(title_text="u (normalised)", **kw)


# --- poses --------------------------------------------------------------------------------------
def skeleton_3d(pose, coords: str = "camera", title: str | None = None, radius: float | None = None,
                widget: bool = False) -> View:
    """A 3D skeleton with left/right colours and equal aspect.

    pose: (J, 3) metres, J in {17, 32}; coords 'camera' (root-relative camera frame) or 'world'.
    radius: half-width of the view cube in metres (default: fit the first pose with 0.1 m margin).
    update(pose): redraws the same skeleton with new joint positions (axes stay fixed).
    """
    p = _display_3d(_np(pose, "pose", (None, 3)), coords)
    fig = go.Figure(_skeleton_traces(p))
    scene = _cube_scene(p)
    if radius is not None:
        c = p[0] if coords == "camera" else p.mean(0)
        for a, ci in zip("xyz", c):
            scene[f"{a}axis"]["range"] = [ci - radius, ci + radius]
    fig.update_layout(scene=scene, title=title, height=450, margin=dict(l=0, r=0, t=40, b=0))
    fig = _finish(fig, widget)

    def update(pose):
        with fig.batch_update():
            _set_skeleton(fig, 0, _display_3d(_np(pose, "pose", (None, 3)), coords))
    return View(fig, update)


def pose_2d(pose, gmm=None, title: str | None = None, show_weights: bool = False,
            widget: bool = False) -> View:
    """A 2D pose in normalised screen coordinates, with its GMM kernels as ellipses.

    pose: (J, 2); gmm: (J, K, 5) or None. Each ellipse spans one spread around its mean; its
    opacity grows with the kernel weight; hovering a kernel mean shows 'joint kK: w=...'
    (``show_weights`` also prints the weights as labels).
    update(pose, gmm=None): redraws joints, bones, ellipses and means.
    """
    p = _np(pose, "pose", (None, 2))
    fig = go.Figure(_pose_2d_traces(p))
    mode = "markers+text" if show_weights else "markers"
    fig.add_trace(go.Scatter(x=[], y=[], mode=mode, name="GMM means", textposition="top center",
                             marker=dict(size=4, color="orange", symbol="x")))
    fig.update_layout(title=title, height=450, margin=dict(l=40, r=10, t=40, b=40))
    fig.update_xaxes(scaleanchor="y", scaleratio=1)
    _image_axes(fig)
    fig = _finish(fig, widget)

    def update(pose, gmm=None):
        with fig.batch_update():
            _set_pose_2d(fig, 0, _np(pose, "pose", (None, 2)))
            g = None if gmm is None else _np(gmm, "gmm", (None, None, 5))
            x, y, text = _gmm_means(g) if g is not None else ([], [], [])
            fig.data[4].update(x=x, y=y, hovertext=text, text=[t.split(": ")[1] for t in text]
                               if show_weights else None)
            fig.layout.shapes = _gmm_shapes(g) if g is not None else []
    update(pose, gmm)
    return View(fig, update)


def _sequence_arrays(poses_3d, poses_2d, gmm, coords):
    p3 = _display_3d(_np(poses_3d, "poses_3d", (None, None, 3)), coords)
    p2 = _np(poses_2d, "poses_2d", (None, None, 2))
    g = None if gmm is None else _np(gmm, "gmm", (None, None, None, 5))
    if len(p3) != len(p2) or (g is not None and len(g) != len(p2)):
        raise ValueError(f"sequence_view: frame counts differ: 3D {len(p3)}, 2D {len(p2)}, "
                         f"GMM {None if g is None else len(g)}")
    return p3, p2, g


def _sequence_axes(fig, p3: np.ndarray, p2: np.ndarray) -> None:
    """Fixed axes covering the whole sequence: a cube for 3D, the 2D extent (v down)."""
    lo, hi = np.nanmin(p2, axis=(0, 1)), np.nanmax(p2, axis=(0, 1))
    fig.update_xaxes(range=[lo[0] - 0.1, hi[0] + 0.1], scaleanchor="y", row=1, col=2)
    fig.update_yaxes(range=[hi[1] + 0.1, lo[1] - 0.1], row=1, col=2)
    fig.update_layout(scene=_cube_scene(p3))


def sequence_view(poses_3d, poses_2d, gmm=None, coords: str = "world", frame: int = 0,
                  slider: bool = False, widget: bool = False) -> View:
    """A sequence: 3D skeleton (left) beside its 2D projection with GMM ellipses (right).

    poses_3d: (F, J, 3) metres (world coordinates by default: the camera is fixed, the axes cover
    the whole sequence); poses_2d: (F, J, 2) normalised; gmm: (F, J, K, 5) or None.
    update(frame, sequence=None): shows frame ``frame``; ``sequence=(poses_3d, poses_2d, gmm)``
    first swaps in another sequence (e.g. another subject, action or camera) and refits the axes.
    With ``slider=True`` the figure also carries plotly frames and its own slider, so it animates
    in a static HTML export without a kernel.
    """
    data = dict(zip(("p3", "p2", "g"), _sequence_arrays(poses_3d, poses_2d, gmm, coords)))
    p3, p2, g = data["p3"], data["p2"], data["g"]
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "xy"}]],
                        subplot_titles=("3D skeleton", "2D projection and GMM kernels"))
    for tr in _skeleton_traces(p3[frame]):
        fig.add_trace(tr, row=1, col=1)
    for tr in _pose_2d_traces(p2[frame], showlegend=False):
        fig.add_trace(tr, row=1, col=2)
    fig.add_trace(go.Scatter(x=[], y=[], mode="markers", name="GMM means",
                             marker=dict(size=4, color="orange", symbol="x")), row=1, col=2)
    _image_axes(fig, 1, 2)
    _sequence_axes(fig, p3, p2)
    fig.update_layout(height=450, margin=dict(l=0, r=10, t=40, b=40))

    def frame_patch(i: int):
        g = data["g"]
        x, y, text = _gmm_means(g[i]) if g is not None else ([], [], [])
        shapes = _gmm_shapes(g[i]) if g is not None else []
        return x, y, text, shapes

    if slider:
        frames = []
        for i in range(len(p3)):
            x, y, text, shapes = frame_patch(i)
            traces = _skeleton_traces(p3[i]) + _pose_2d_traces(p2[i], showlegend=False)
            traces.append(go.Scatter(x=x, y=y, hovertext=text, mode="markers"))
            frames.append(go.Frame(data=traces, name=str(i), layout=dict(shapes=shapes)))
        fig.frames = frames
        steps = [dict(method="animate", label=str(i), args=[[str(i)], dict(
            mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))])
            for i in range(len(p3))]
        fig.update_layout(sliders=[dict(active=frame, steps=steps, currentvalue=dict(
            prefix="frame "))])
    fig = _finish(fig, widget)

    def update(frame: int, sequence=None):
        if sequence is not None:
            data.update(zip(("p3", "p2", "g"), _sequence_arrays(*sequence, coords)))
        x, y, text, shapes = frame_patch(frame)
        with fig.batch_update():
            if sequence is not None:
                _sequence_axes(fig, data["p3"], data["p2"])
            _set_skeleton(fig, 0, data["p3"][frame])
            _set_pose_2d(fig, 4, data["p2"][frame])
            fig.data[8].update(x=x, y=y, hovertext=text)
            fig.layout.shapes = shapes
    update(frame)
    return View(fig, update)


def poses_side_by_side(poses: dict, coords: str = "camera", widget: bool = False) -> View:
    """Several 3D poses of one frame side by side (e.g. ground truth, lifter, refined).

    poses: {title: (J, 3) metres} (J may differ, e.g. 32 and 17 joints); every panel shares the
    same cube so sizes compare.
    update(poses): same titles, new joint positions.
    """
    names = list(poses)
    ps = {k: _display_3d(_np(v, k, (None, 3)), coords) for k, v in poses.items()}
    fig = make_subplots(rows=1, cols=len(names), specs=[[{"type": "scene"}] * len(names)],
                        subplot_titles=names)
    for i, k in enumerate(names):
        for tr in _skeleton_traces(ps[k], scene="scene" if i == 0 else f"scene{i + 1}",
                                   showlegend=i == 0):
            fig.add_trace(tr)
    scene = _cube_scene(np.concatenate([p.reshape(-1, 3) for p in ps.values()]))
    fig.update_layout(**{("scene" if i == 0 else f"scene{i + 1}"): scene for i in range(len(names))},
                      height=400, margin=dict(l=0, r=0, t=40, b=0))
    fig = _finish(fig, widget)

    def update(poses: dict):
        if list(poses) != names:
            raise ValueError(f"poses_side_by_side.update: expected panels {names}, found {list(poses)}")
        with fig.batch_update():
            for i, k in enumerate(names):
                _set_skeleton(fig, 4 * i, _display_3d(_np(poses[k], k, (None, 3)), coords))
    return View(fig, update)


def noisy_pose_view(x0, x_t=None, title: str | None = None, widget: bool = False) -> View:
    """A 'uvxyz' pose and its noised version: 2D channels (u, v) left, 3D channels (x, y, z) right.

    x0, x_t: (J, 5) with u, v normalised and x, y, z metres (camera frame); x_t defaults to x0.
    The clean pose is drawn faint, the noisy one solid. update(x_t): redraws the noisy pose.
    """
    c = _np(x0, "x0", (None, 5))
    fig = make_subplots(rows=1, cols=2, specs=[[{"type": "xy"}, {"type": "scene"}]],
                        subplot_titles=("2D channels (u, v)", "3D channels (x, y, z)"))
    for tr in _pose_2d_traces(c[:, :2], showlegend=False, prefix="x0 "):
        tr.opacity = 0.25
        fig.add_trace(tr, row=1, col=1)
    for tr in _skeleton_traces(_display_3d(c[:, 2:], "camera"), showlegend=False):
        tr.opacity = 0.25
        fig.add_trace(tr, row=1, col=2)
    for tr in _pose_2d_traces(c[:, :2], prefix="x_t "):
        fig.add_trace(tr, row=1, col=1)
    for tr in _skeleton_traces(_display_3d(c[:, 2:], "camera"), showlegend=False):
        fig.add_trace(tr, row=1, col=2)
    fig.update_xaxes(range=[c[:, 0].min() - 0.3, c[:, 0].max() + 0.3], scaleanchor="y")
    fig.update_yaxes(range=[c[:, 1].max() + 0.3, c[:, 1].min() - 0.3])
    _image_axes(fig, 1, 1)
    scene = _cube_scene(_display_3d(c[:, 2:], "camera"), margin=0.3)
    fig.update_layout(scene=scene, title=title, height=420, margin=dict(l=40, r=0, t=60, b=40))
    fig = _finish(fig, widget)

    def update(x_t):
        n = _np(x_t, "x_t", (None, 5))
        with fig.batch_update():
            _set_pose_2d(fig, 8, n[:, :2])
            _set_skeleton(fig, 12, _display_3d(n[:, 2:], "camera"))
    if x_t is not None:
        update(x_t)
    return View(fig, update)


# --- diffusion schedules -------------------------------------------------------------------------
def _schedule_curves(schedule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(betas, alphas_bar, snr) from a schedule object (attributes of those names) or betas."""
    if hasattr(schedule, "betas"):
        betas = _np(schedule.betas, "betas")
        ab = _np(schedule.alphas_bar, "alphas_bar")
        snr = _np(schedule.snr, "snr") if hasattr(schedule, "snr") else ab / (1 - ab)
        return betas, ab, snr
    betas = _np(schedule, "betas")
    ab = np.cumprod(1.0 - betas)
    return betas, ab, ab / (1.0 - ab)


def schedule_plot(schedule, t: int | None = None, widget: bool = False) -> View:
    """beta_t, alpha-bar_t and SNR(t) = alpha-bar_t / (1 - alpha-bar_t) side by side (SNR log).

    schedule: an object with ``betas``, ``alphas_bar`` (and ``snr``) of shape (T,), or a (T,)
    array of betas. t: a timestep to mark on each curve.
    update(schedule, t=None): new curves and marker.
    """
    fig = make_subplots(rows=1, cols=3, subplot_titles=("β_t", "ᾱ_t", "SNR(t)"))
    for col in (1, 2, 3):
        fig.add_trace(go.Scatter(mode="lines", showlegend=False, line=dict(color="#1f77b4")),
                      row=1, col=col)
    for col in (1, 2, 3):
        fig.add_trace(go.Scatter(mode="markers", showlegend=False, name="t",
                                 marker=dict(size=10, color="#d62728")), row=1, col=col)
    fig.update_yaxes(type="log", row=1, col=3)
    fig.update_xaxes(title_text="t")
    fig.update_layout(height=320, margin=dict(l=40, r=10, t=40, b=40))
    fig = _finish(fig, widget)

    def update(schedule, t: int | None = None):
        curves = _schedule_curves(schedule)
        steps = np.arange(len(curves[0]))
        with fig.batch_update():
            for i, y in enumerate(curves):
                fig.data[i].update(x=steps, y=y)
                fig.data[3 + i].update(x=[] if t is None else [t], y=[] if t is None else [y[t]])
    update(schedule, t)
    return View(fig, update)


# --- graphs and attention --------------------------------------------------------------------------
def node_labels(num_nodes: int) -> list[str]:
    """'Hip', ... for 17 nodes; '2D Hip' ... '3D RWrist' for the 34-node cross-channel graph."""
    if num_nodes == 17:
        return list(NAMES_17)
    if num_nodes == 34:
        return [f"2D {n}" for n in NAMES_17] + [f"3D {n}" for n in NAMES_17]
    return [str(i) for i in range(num_nodes)]


def adjacency_heatmap(adj, labels=None, title: str | None = None, widget: bool = False) -> View:
    """A square matrix (N, N), e.g. a normalised adjacency or a Chebyshev term, as a heatmap.

    update(adj): new values (same N)."""
    a = _np(adj, "adj", (None, None))
    labels = list(labels) if labels is not None else node_labels(a.shape[0])
    fig = go.Figure(go.Heatmap(z=a, x=labels, y=labels, colorscale="RdBu", zmid=0.0))
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    fig.update_layout(title=title, height=520, width=560, margin=dict(l=80, r=10, t=40, b=80))
    fig = _finish(fig, widget)

    def update(adj):
        fig.data[0].z = _np(adj, "adj", (None, None))
    return View(fig, update)


def cross_channel_graph(edges=None, num_joints: int = 17, cross_links: bool = True,
                        widget: bool = False) -> View:
    """The 2J-node cross-channel graph: 2D half (nodes 0..J-1) left, 3D half (J..2J-1) right.

    edges: (i, j) node pairs, e.g. ``mmdiff.models.mmdiff.cross_channel_edges()`` (default);
    edges inside a half are bones, edges across halves are joint-to-joint links (dashed).
    update(cross_links): shows or hides the links across the halves.
    """
    if edges is None:
        from mmdiff.models.mmdiff import cross_channel_edges
        edges = cross_channel_edges()
    if num_joints != 17:
        raise ValueError(f"cross_channel_graph: the layout template has 17 joints, found {num_joints}")
    xy = np.concatenate([TEMPLATE_17 - [0.8, 0.0], TEMPLATE_17 + [0.8, 0.0]])      # (34, 2)
    halves = {"2D bones": [], "3D bones": [], "2D-3D links": []}
    for i, j in edges:
        key = ("2D bones" if max(i, j) < num_joints else "3D bones" if min(i, j) >= num_joints
               else "2D-3D links")
        halves[key].append((i, j))
    style = {"2D bones": dict(color="#2ca02c", width=3), "3D bones": dict(color="#9467bd", width=3),
             "2D-3D links": dict(color="#999999", width=1, dash="dot")}
    fig = go.Figure([go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines", name=f"{k} ({len(v)})",
                                line=style[k]) for k, v in halves.items()
                     for seg in [_segments(xy, v)]])
    labels = node_labels(2 * num_joints)
    for half, color in ((slice(0, num_joints), "#2ca02c"), (slice(num_joints, None), "#9467bd")):
        fig.add_trace(go.Scatter(x=xy[half, 0], y=xy[half, 1], mode="markers", text=labels[half],
                                 marker=dict(size=10, color=color), name=labels[half][0][:2] + " nodes",
                                 hoverinfo="text"))
    fig.update_xaxes(visible=False, scaleanchor="y")
    fig.update_yaxes(visible=False)
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10),
                      title=f"{2 * num_joints} nodes, {len(edges)} edges")
    fig = _finish(fig, widget)

    def update(cross_links: bool):
        fig.data[2].visible = bool(cross_links)
    update(cross_links)
    return View(fig, update)


def attention_heatmap(maps, layer: int = 0, head: int = 0, labels=None, widget: bool = False) -> View:
    """Attention weights of one layer and head as an (N, N) heatmap (rows: queries).

    maps: (L, H, N, N), (H, N, N) or (N, N) attention probabilities (e.g. averaged over a batch).
    update(layer=0, head=0, maps=None): shows another layer / head, of new maps when given
    (e.g. the other branch of the denoiser).
    """
    def as_lhnn(maps):
        m = _np(maps, "maps", (None, None))
        return m.reshape((1,) * (4 - m.ndim) + m.shape)                         # (L, H, N, N)

    store = {"m": as_lhnn(maps)}
    m = store["m"]
    labels = list(labels) if labels is not None else node_labels(m.shape[-1])
    fig = go.Figure(go.Heatmap(x=labels, y=labels, colorscale="Viridis", zmin=0.0))
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    fig.update_layout(height=560, width=600, margin=dict(l=80, r=10, t=40, b=80))
    fig = _finish(fig, widget)

    def update(layer: int = 0, head: int = 0, maps=None):
        if maps is not None:
            store["m"] = as_lhnn(maps)
        with fig.batch_update():
            fig.data[0].z = store["m"][layer, head]
            fig.layout.title = f"attention, layer {layer}, head {head}"
    update(layer, head)
    return View(fig, update)


# --- charts --------------------------------------------------------------------------------------
def bar_chart(series: dict, categories, ylabel: str = "", title: str | None = None,
              widget: bool = False) -> View:
    """Grouped bars: series {name: (N,) values} over N categories (joints, actions, ...).

    update(series): new values for the same series names."""
    categories = list(categories)
    fig = go.Figure([go.Bar(x=categories, y=_np(v, k), name=k) for k, v in series.items()])
    fig.update_layout(barmode="group", yaxis_title=ylabel, title=title, height=380,
                      margin=dict(l=50, r=10, t=40, b=90))
    fig = _finish(fig, widget)
    names = list(series)

    def update(series: dict):
        with fig.batch_update():
            for k, v in series.items():
                fig.data[names.index(k)].y = _np(v, k)
    return View(fig, update)


def per_joint_bars(series: dict, ylabel: str = "error (mm)", title: str | None = None,
                   widget: bool = False) -> View:
    """Bars per joint: series {name: (J,) values}, J = 17 or 32 (joint names on the axis)."""
    num = len(_np(next(iter(series.values())), "values"))
    return bar_chart(series, skeleton_layout(num)[3], ylabel, title, widget)


def per_action_bars(summary: dict, ylabel: str = "MPJPE (mm)", title: str | None = None,
                    widget: bool = False) -> View:
    """Bars per action: summary {series: {action: value}}; actions in the first series' order."""
    actions = list(next(iter(summary.values())))
    series = {k: [v[a] for a in actions] for k, v in summary.items()}
    return bar_chart(series, actions, ylabel, title, widget)


def line_chart(series: dict, xlabel: str = "", ylabel: str = "", log_y: bool = False,
               title: str | None = None, widget: bool = False) -> View:
    """Lines: series {name: (x, y)}. update(series) replaces (and adds) lines in place, e.g. a
    live loss curve fed from a training callback."""
    fig = go.Figure()
    fig.update_layout(xaxis_title=xlabel, yaxis_title=ylabel, title=title, height=350,
                      margin=dict(l=50, r=10, t=40, b=40), yaxis_type="log" if log_y else None)
    fig = _finish(fig, widget)

    def update(series: dict):
        names = [tr.name for tr in fig.data]
        with fig.batch_update():
            for k, (x, y) in series.items():
                if k not in names:
                    fig.add_trace(go.Scatter(mode="lines+markers", name=k))
                    names.append(k)
                fig.data[names.index(k)].update(x=_np(x, k), y=_np(y, k))
    update(series)
    return View(fig, update)


def histogram(series: dict, xlabel: str = "", bins: int = 60, title: str | None = None,
              widget: bool = False) -> View:
    """Overlaid normalised histograms: series {name: (N,) samples}. update(series) as above."""
    fig = go.Figure([go.Histogram(x=_np(v, k).ravel(), name=k, nbinsx=bins, opacity=0.6,
                                  histnorm="probability density") for k, v in series.items()])
    fig.update_layout(barmode="overlay", xaxis_title=xlabel, title=title, height=330,
                      margin=dict(l=50, r=10, t=40, b=40))
    fig = _finish(fig, widget)
    names = list(series)

    def update(series: dict):
        with fig.batch_update():
            for k, v in series.items():
                fig.data[names.index(k)].x = _np(v, k).ravel()
    return View(fig, update)
