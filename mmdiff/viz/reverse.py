"""Reverse-process and uncertainty figures: a DDIM run step by step against a ground-truth ghost,
a cloud of hypotheses, a spread-versus-error calibration plot, and a limb reflected in depth.
Each returns a ``View(fig, update)``; ``update`` redraws in place through named trace handles.

Poses: (J, 3) root-relative camera metres (x right, y down, z depth), drawn with "up" up.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mmdiff.errors import DataError
from mmdiff.viz.base import Traces, View, as_array
from mmdiff.viz.poses import slider_steps
from mmdiff.viz.skeletons import (add_skeleton, cube_scene, display_3d, handles, image_axes,
                                  pose_2d_traces, set_pose_2d, set_skeleton_3d, skeleton_3d_traces)

AXIS_COLORS = {"x": "#2ca02c", "y": "#9467bd", "z": "#ff7f0e", "P1": "#000000"}
STEP_HANDLES = handles("pose") + ["errors at step"]


def _stage_arrays(poses, target, errors):
    p = as_array(poses, "poses", (None, 3))                                   # (K, J, 3)
    g = as_array(target, "target", (None, 3), exact=True)                     # (J, 3)
    if p.ndim != 3 or p.shape[1:] != g.shape:
        raise DataError(f"reverse_step_view: expected poses (K, J, 3) and target (J, 3), "
                        f"found {p.shape} and {g.shape}")
    if len(errors) != len(p):
        raise DataError(f"reverse_step_view: {len(errors)} error rows for {len(p)} stages")
    return display_3d(p, "camera"), display_3d(g, "camera")


def reverse_step_view(poses, target, labels, errors, step: int = 0, slider: bool = False,
                      widget: bool = False) -> View:
    """A DDIM run stage by stage: the pose (solid) over the ground truth (faint ghost), and the
    error along x, y, z and P1 at every stage with the current one marked.

    poses: (K, J, 3) metres, one per stage (:func:`mmdiff.course.analysis.trajectory_poses` of one
    test pose); target: (J, 3); labels: K stage names; errors: K dicts with "x", "y", "z", "P1"
    (mm). Handles: ``ghost/...``, ``pose/...``, one line per error (``x``, ``y``, ``z``, ``P1``) and
    ``errors at step``. update(step, poses=None, target=None, labels=None, errors=None) shows stage
    ``step`` (new arrays first when given: another pose, eta, start or denoiser). ``slider=True``
    adds plotly frames and a slider, so the figure steps without a kernel.
    """
    data = {"labels": list(labels), "errors": list(errors)}
    data["p"], data["g"] = _stage_arrays(poses, target, data["errors"])
    traces = Traces(make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45],
                                  specs=[[{"type": "scene"}, {"type": "xy"}]],
                                  subplot_titles=("pose (solid) and ground truth (faint)",
                                                  "error per stage (mm)")))
    add_skeleton(traces, "ghost", skeleton_3d_traces(data["g"], showlegend=False, opacity=0.25),
                 row=1, col=1)
    add_skeleton(traces, "pose", skeleton_3d_traces(data["p"][step]), row=1, col=1)
    for k, color in AXIS_COLORS.items():
        traces.add(k, go.Scatter(mode="lines+markers", name=f"error {k}" if k != "P1" else "P1",
                                 line=dict(color=color, dash="dot" if k == "P1" else None)),
                   row=1, col=2)
    traces.add("errors at step", go.Scatter(mode="markers", name="this stage", showlegend=False,
                                            marker=dict(size=14, color="rgba(0,0,0,0)",
                                                        line=dict(width=2, color="black"))),
               row=1, col=2)
    fig = traces.fig
    fig.update_layout(height=430, margin=dict(l=0, r=10, t=50, b=60),
                      legend=dict(orientation="h", y=-0.15))

    def refit():
        every = np.concatenate([data["p"].reshape(-1, 3), data["g"]])
        fig.update_layout(scene=cube_scene(every))
        x = list(range(len(data["labels"])))
        for k in AXIS_COLORS:
            traces[k].update(x=x, y=[e[k] for e in data["errors"]], text=data["labels"])
        fig.update_xaxes(tickvals=x, ticktext=data["labels"], tickangle=30, row=1, col=2)

    def marker(i: int) -> dict:
        e = data["errors"][i]
        return dict(x=[i] * 4, y=[e[k] for k in AXIS_COLORS])

    refit()
    if slider:
        frames = [go.Frame(data=skeleton_3d_traces(data["p"][i]) + [go.Scatter(**marker(i))],
                           traces=traces.indices(STEP_HANDLES), name=str(i),
                           layout=dict(title=_title(data, i)))
                  for i in range(len(data["p"]))]
        fig.frames = frames
        fig.update_layout(sliders=[dict(active=step, steps=slider_steps(len(frames), data["labels"]),
                                        currentvalue=dict(prefix="stage: "))])
    fig = traces.finish(widget)

    def update(step: int, poses=None, target=None, labels=None, errors=None):
        with fig.batch_update():
            if poses is not None:
                data["labels"] = list(labels if labels is not None else data["labels"])
                data["errors"] = list(errors if errors is not None else data["errors"])
                data["p"], data["g"] = _stage_arrays(poses, target, data["errors"])
                set_skeleton_3d(traces, "ghost", data["g"])
                refit()
            set_skeleton_3d(traces, "pose", data["p"][step])
            traces["errors at step"].update(**marker(step))
            fig.layout.title = _title(data, step)
    update(step)
    return View(fig, update)


def _title(data: dict, i: int) -> str:
    e = data["errors"][i]
    return (f"{data['labels'][i]}: P1 {e['P1']:.1f} mm "
            f"(x {e['x']:.1f}, y {e['y']:.1f}, z {e['z']:.1f})")


def hypothesis_cloud(hypotheses, target, title: str | None = None, widget: bool = False) -> View:
    """S hypotheses of one pose as a cloud of joints, their mean as a skeleton, the ground truth
    as a faint ghost. hypotheses: (S, J, 3), target: (J, 3), metres. Handles ``cloud``,
    ``mean/...``, ``ghost/...``. update(hypotheses, target) redraws and refits the cube."""
    traces = Traces(go.Figure())
    h = display_3d(as_array(hypotheses, "hypotheses", (None, None, 3)), "camera")
    g = display_3d(as_array(target, "target", (None, 3), exact=True), "camera")
    add_skeleton(traces, "ghost", skeleton_3d_traces(g, showlegend=False, opacity=0.25))
    add_skeleton(traces, "mean", skeleton_3d_traces(h.mean(0)))
    traces.add("cloud", go.Scatter3d(mode="markers", name="hypotheses' joints",
                                     marker=dict(size=2, color="#ff7f0e", opacity=0.5)))
    traces.fig.update_layout(height=450, title=title, margin=dict(l=0, r=0, t=40, b=0))
    fig = traces.finish(widget)

    def update(hypotheses, target):
        h = display_3d(as_array(hypotheses, "hypotheses", (None, None, 3)), "camera")  # (S, J, 3)
        g = display_3d(as_array(target, "target", (None, 3), exact=True), "camera")
        with fig.batch_update():
            set_skeleton_3d(traces, "ghost", g)
            set_skeleton_3d(traces, "mean", h.mean(0))
            traces["cloud"].update(x=h[..., 0].ravel(), y=h[..., 1].ravel(), z=h[..., 2].ravel())
            fig.update_layout(scene=cube_scene(np.concatenate([h.reshape(-1, 3), g])))
    update(hypotheses, target)
    return View(fig, update)


def calibration_plot(calibration, title: str | None = None) -> View:
    """Hypothesis spread (x axis) against the RMS error of their mean (y axis), per camera axis,
    with the line error = spread that a calibrated Gaussian spread would follow.
    calibration: :class:`mmdiff.metrics.Calibration`. Handles: ``x``, ``y``, ``z``,
    ``ideal``. update(calibration) redraws."""
    traces = Traces(go.Figure())
    for k in ("x", "y", "z"):
        traces.add(k, go.Scatter(mode="lines+markers", name=f"{k} axis",
                                 line=dict(color=AXIS_COLORS[k])))
    traces.add("ideal", go.Scatter(mode="lines", name="error = spread",
                                   line=dict(color="grey", dash="dash")))
    traces.fig.update_layout(xaxis_title="hypothesis spread, std over S (mm)",
                             yaxis_title="RMS error of the mean (mm)", title=title, height=380,
                             margin=dict(l=50, r=10, t=40, b=40))

    def update(calibration):
        s, e = np.asarray(calibration.spread), np.asarray(calibration.error)  # (bins, 3)
        with traces.fig.batch_update():
            for a, k in enumerate(("x", "y", "z")):
                traces[k].update(x=s[:, a], y=e[:, a])
            top = float(np.nanmax(np.concatenate([s.ravel(), e.ravel()])))
            traces["ideal"].update(x=[0, top], y=[0, top])
    update(calibration)
    return View(traces.fig, update)


def depth_flip_view(pose, flipped, depth: float = 5.0, title: str | None = None,
                    widget: bool = False) -> View:
    """A pose and the same pose with a limb reflected in depth, in 3D (left) and as seen by a
    camera ``depth`` metres away (right, pinhole projection x / (depth + z), y / (depth + z)).
    pose, flipped: (J, 3) root-relative camera metres. Handles ``pose/...``, ``flipped/...`` in
    3D, ``2d pose/...``, ``2d flipped/...``. update(flipped) redraws the reflected pose."""
    p = as_array(pose, "pose", (None, 3), exact=True)
    traces = Traces(make_subplots(rows=1, cols=2, specs=[[{"type": "scene"}, {"type": "xy"}]],
                                  subplot_titles=("3D: original (faint) and reflected",
                                                  "what the camera sees (2D)")))
    add_skeleton(traces, "pose", skeleton_3d_traces(display_3d(p, "camera"), showlegend=False,
                                                    opacity=0.3), row=1, col=1)
    add_skeleton(traces, "flipped", skeleton_3d_traces(display_3d(p, "camera")), row=1, col=1)
    add_skeleton(traces, "2d pose", pose_2d_traces(_project(p, depth), showlegend=False,
                                                   opacity=0.3), row=1, col=2)
    add_skeleton(traces, "2d flipped", pose_2d_traces(_project(p, depth), showlegend=False),
                 row=1, col=2)
    image_axes(traces.fig, 1, 2)
    traces.fig.update_yaxes(scaleanchor="x2", row=1, col=2)
    traces.fig.update_layout(height=420, title=title, scene=cube_scene(display_3d(p, "camera"),
                                                                       margin=0.3),
                             margin=dict(l=0, r=10, t=60, b=40))
    fig = traces.finish(widget)

    def update(flipped):
        f = as_array(flipped, "flipped", (None, 3), exact=True)
        with fig.batch_update():
            set_skeleton_3d(traces, "flipped", display_3d(f, "camera"))
            set_pose_2d(traces, "2d flipped", _project(f, depth))
    update(flipped)
    return View(fig, update)


def _project(pose: np.ndarray, depth: float) -> np.ndarray:
    """(J, 3) root-relative camera metres -> (J, 2) pinhole image plane at focal length 1."""
    return pose[:, :2] / (depth + pose[:, 2:3])
