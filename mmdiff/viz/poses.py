"""Pose figures: a 3D skeleton, a 2D pose with its GMM kernels, a sequence (3D beside 2D), several
3D poses side by side. Each returns a ``View(fig, update)``; ``update`` redraws in place.

Conventions: 3D poses (J, 3) metres, J = 17 or 32; camera coordinates (x right, y down, z
forward) are drawn with "up" pointing up, world coordinates (z up) as they are. 2D poses (J, 2)
normalised screen coordinates (u right, v down). GMM kernels (J, K, 5): (weight, mean u, mean v,
spread u, spread v) normalised, drawn as ellipses of one spread. Left red, right blue, spine grey.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mmdiff.errors import DataError
from mmdiff.viz.base import Traces, View, as_array
from mmdiff.viz.skeletons import (add_skeleton, cube_scene, display_3d, gmm_means, gmm_shapes,
                                  handles, image_axes, pose_2d_traces, set_pose_2d,
                                  set_skeleton_3d, skeleton_3d_traces)


def skeleton_3d(pose, coords: str = "camera", title: str | None = None, radius: float | None = None,
                widget: bool = False) -> View:
    """A 3D skeleton with left/right colours and equal aspect (handles ``3d/...``).

    pose: (J, 3) metres, J in {17, 32}; coords 'camera' (root-relative camera frame) or 'world'.
    radius: half-width of the view cube in metres (default: fit the first pose with 0.1 m margin).
    update(pose): redraws the same skeleton with new joint positions (axes stay fixed).
    """
    p = display_3d(as_array(pose, "pose", (None, 3), exact=True), coords)
    traces = Traces(go.Figure())
    add_skeleton(traces, "3d", skeleton_3d_traces(p))
    scene = cube_scene(p)
    if radius is not None:
        c = p[0] if coords == "camera" else p.mean(0)
        for a, ci in zip("xyz", c):
            scene[f"{a}axis"]["range"] = [ci - radius, ci + radius]
    traces.fig.update_layout(scene=scene, title=title, height=450, margin=dict(l=0, r=0, t=40, b=0))
    fig = traces.finish(widget)

    def update(pose):
        with fig.batch_update():
            pose = as_array(pose, "pose", (None, 3), exact=True)        # (J, 3)
            set_skeleton_3d(traces, "3d", display_3d(pose, coords))
    return View(fig, update)


def _gmm_patch(g):
    """(x, y, hover text, shapes) of the GMM means and ellipses; empty for ``g`` None."""
    if g is None:
        return [], [], [], []
    x, y, text = gmm_means(g)
    return x, y, text, gmm_shapes(g)


def pose_2d(pose, gmm=None, title: str | None = None, show_weights: bool = False,
            widget: bool = False) -> View:
    """A 2D pose in normalised screen coordinates, with its GMM kernels as ellipses.

    pose: (J, 2); gmm: (J, K, 5) or None. Each ellipse spans one spread around its mean; its
    opacity grows with the kernel weight; hovering a kernel mean shows 'joint kK: w=...'
    (``show_weights`` also prints the weights as labels). Handles ``2d/...``, ``gmm means``.
    update(pose, gmm=None): redraws joints, bones, ellipses and means.
    """
    p = as_array(pose, "pose", (None, 2), exact=True)
    traces = Traces(go.Figure())
    add_skeleton(traces, "2d", pose_2d_traces(p))
    mode = "markers+text" if show_weights else "markers"
    traces.add("gmm means", go.Scatter(x=[], y=[], mode=mode, name="GMM means",
                                       textposition="top center",
                                       marker=dict(size=4, color="orange", symbol="x")))
    traces.fig.update_layout(title=title, height=450, margin=dict(l=40, r=10, t=40, b=40))
    traces.fig.update_xaxes(scaleanchor="y", scaleratio=1)
    image_axes(traces.fig)
    fig = traces.finish(widget)

    def update(pose, gmm=None):
        g = None if gmm is None else as_array(gmm, "gmm", (None, None, 5), exact=True)
        x, y, text, shapes = _gmm_patch(g)
        with fig.batch_update():
            set_pose_2d(traces, "2d", as_array(pose, "pose", (None, 2), exact=True))
            traces["gmm means"].update(x=x, y=y, hovertext=text, text=[
                t.split(": ")[1] for t in text] if show_weights else None)
            fig.layout.shapes = shapes
    update(pose, gmm)
    return View(fig, update)


def _sequence_arrays(poses_3d, poses_2d, gmm, coords):
    p3 = display_3d(as_array(poses_3d, "poses_3d", (None, None, 3), exact=True), coords)
    p2 = as_array(poses_2d, "poses_2d", (None, None, 2), exact=True)
    g = None if gmm is None else as_array(gmm, "gmm", (None, None, None, 5), exact=True)
    if len(p3) != len(p2) or (g is not None and len(g) != len(p2)):
        raise DataError(f"sequence_view: frame counts differ: 3D {p3.shape}, 2D {p2.shape}, "
                        f"GMM {None if g is None else g.shape}")
    return p3, p2, g


def _sequence_axes(fig, p3: np.ndarray, p2: np.ndarray) -> None:
    """Fixed axes covering the whole sequence: a cube for 3D, the 2D extent (v down)."""
    lo, hi = np.nanmin(p2, axis=(0, 1)), np.nanmax(p2, axis=(0, 1))
    fig.update_xaxes(range=[lo[0] - 0.1, hi[0] + 0.1], scaleanchor="y", row=1, col=2)
    fig.update_yaxes(range=[hi[1] + 0.1, lo[1] - 0.1], row=1, col=2)
    fig.update_layout(scene=cube_scene(p3))


SEQUENCE_HANDLES = handles("3d") + handles("2d") + ["gmm means"]


def slider_steps(count: int, labels=None) -> list[dict]:
    """Slider steps that jump to plotly frames named '0' .. str(count - 1), labelled ``labels``."""
    labels = labels or [str(i) for i in range(count)]
    return [dict(method="animate", label=labels[i], args=[[str(i)], dict(
        mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))])
        for i in range(count)]


def sequence_view(poses_3d, poses_2d, gmm=None, coords: str = "world", frame: int = 0,
                  slider: bool = False, widget: bool = False) -> View:
    """A sequence: 3D skeleton (left) beside its 2D projection with GMM ellipses (right).

    poses_3d: (F, J, 3) metres (world coordinates by default: the camera is fixed, the axes cover
    the whole sequence); poses_2d: (F, J, 2) normalised; gmm: (F, J, K, 5) or None.
    Handles: ``3d/...``, ``2d/...``, ``gmm means`` (:data:`SEQUENCE_HANDLES`).
    update(frame, sequence=None): shows frame ``frame``; ``sequence=(poses_3d, poses_2d, gmm)``
    first swaps in another sequence (e.g. another subject, action or camera) and refits the axes.
    With ``slider=True`` the figure also carries plotly frames and its own slider, so it animates
    in a static HTML export without a kernel.
    """
    data = dict(zip(("p3", "p2", "g"), _sequence_arrays(poses_3d, poses_2d, gmm, coords)))
    p3, p2 = data["p3"], data["p2"]
    traces = Traces(make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "xy"}]],
                                  subplot_titles=("3D skeleton", "2D projection and GMM kernels")))
    add_skeleton(traces, "3d", skeleton_3d_traces(p3[frame]), row=1, col=1)
    add_skeleton(traces, "2d", pose_2d_traces(p2[frame], showlegend=False), row=1, col=2)
    traces.add("gmm means", go.Scatter(x=[], y=[], mode="markers", name="GMM means",
                                       marker=dict(size=4, color="orange", symbol="x")), row=1, col=2)
    image_axes(traces.fig, 1, 2)
    _sequence_axes(traces.fig, p3, p2)
    traces.fig.update_layout(height=450, margin=dict(l=0, r=10, t=40, b=40))

    def frame_patch(i: int):
        g = data["g"]
        return _gmm_patch(None if g is None else g[i])

    if slider:
        frames = []
        for i in range(len(p3)):
            x, y, text, shapes = frame_patch(i)
            parts = skeleton_3d_traces(p3[i]) + pose_2d_traces(p2[i], showlegend=False)
            parts.append(go.Scatter(x=x, y=y, hovertext=text, mode="markers"))
            frames.append(go.Frame(data=parts, traces=traces.indices(SEQUENCE_HANDLES),
                                   name=str(i), layout=dict(shapes=shapes)))
        traces.fig.frames = frames
        traces.fig.update_layout(sliders=[dict(active=frame, steps=slider_steps(len(p3)),
                                               currentvalue=dict(prefix="frame "))])
    fig = traces.finish(widget)

    def update(frame: int, sequence=None):
        if sequence is not None:
            data.update(zip(("p3", "p2", "g"), _sequence_arrays(*sequence, coords)))
        x, y, text, shapes = frame_patch(frame)
        with fig.batch_update():
            if sequence is not None:
                _sequence_axes(fig, data["p3"], data["p2"])
            set_skeleton_3d(traces, "3d", data["p3"][frame])
            set_pose_2d(traces, "2d", data["p2"][frame])
            traces["gmm means"].update(x=x, y=y, hovertext=text)
            fig.layout.shapes = shapes
    update(frame)
    return View(fig, update)


def poses_side_by_side(poses: dict, coords: str = "camera", widget: bool = False) -> View:
    """Several 3D poses of one frame side by side (e.g. ground truth, lifter, refined).

    poses: {title: (J, 3) metres} (J may differ, e.g. 32 and 17 joints); every panel shares the
    same cube so sizes compare. Handles: ``<title>/...`` per panel.
    update(poses): same titles, new joint positions; the shared cube is refitted to them (the
    view's camera angle is kept), so a pose far from the first is never cropped.
    """
    names = list(poses)
    ps = {k: display_3d(as_array(v, k, (None, 3), exact=True), coords) for k, v in poses.items()}
    traces = Traces(make_subplots(rows=1, cols=len(names), specs=[[{"type": "scene"}] * len(names)],
                                  subplot_titles=names))
    scenes = ["scene" if i == 0 else f"scene{i + 1}" for i in range(len(names))]
    for i, k in enumerate(names):
        add_skeleton(traces, k, skeleton_3d_traces(ps[k], scene=scenes[i], showlegend=i == 0))
    scene = cube_scene(np.concatenate([p.reshape(-1, 3) for p in ps.values()]))
    traces.fig.update_layout(**{s: scene for s in scenes}, height=400,
                             margin=dict(l=0, r=0, t=40, b=0))
    fig = traces.finish(widget)

    def update(poses: dict):
        if list(poses) != names:
            raise DataError(f"poses_side_by_side.update: expected panels {names}, "
                            f"found {list(poses)}")
        shown = {k: display_3d(as_array(poses[k], k, (None, 3), exact=True), coords)
                 for k in names}                                         # (J, 3) each
        axes = {a: v for a, v in cube_scene(np.concatenate(
            [p.reshape(-1, 3) for p in shown.values()])).items() if a != "camera"}
        with fig.batch_update():
            for k in names:
                set_skeleton_3d(traces, k, shown[k])
            fig.update_layout(**{s: axes for s in scenes})
    return View(fig, update)
