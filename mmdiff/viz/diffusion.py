"""Diffusion figures: a 'uvxyz' pose and its noised version, the beta schedule inspector, and
the 2D samples of lesson 08's toy diffusion (``points_view``).
Each returns a ``View(fig, update)``; ``update`` redraws in place through named trace handles."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mmdiff.errors import DataError
from mmdiff.viz.base import Traces, View, as_array
from mmdiff.viz.skeletons import (add_skeleton, cube_scene, display_3d, image_axes,
                                  pose_2d_traces, set_pose_2d, set_skeleton_3d,
                                  skeleton_3d_traces)


def noisy_pose_view(x0, x_t=None, title: str | None = None, widget: bool = False) -> View:
    """A 'uvxyz' pose and its noised version: 2D channels (u, v) left, 3D channels (x, y, z) right.

    x0, x_t: (J, 5) with u, v normalised and x, y, z metres (camera frame); x_t defaults to x0.
    The clean pose is drawn faint (handles ``x0 2d/...``, ``x0 3d/...``), the noisy one solid
    (``x_t 2d/...``, ``x_t 3d/...``). update(x_t): redraws the noisy pose.
    """
    c = as_array(x0, "x0", (None, 5), exact=True)                            # (J, 5)
    c3 = display_3d(c[:, 2:], "camera")                                      # (J, 3)
    traces = Traces(make_subplots(rows=1, cols=2, specs=[[{"type": "xy"}, {"type": "scene"}]],
                                  subplot_titles=("2D channels (u, v)", "3D channels (x, y, z)")))
    add_skeleton(traces, "x0 2d", pose_2d_traces(c[:, :2], showlegend=False, label="x0 ",
                                                 opacity=0.25), row=1, col=1)
    add_skeleton(traces, "x0 3d", skeleton_3d_traces(c3, showlegend=False, opacity=0.25),
                 row=1, col=2)
    add_skeleton(traces, "x_t 2d", pose_2d_traces(c[:, :2], label="x_t "), row=1, col=1)
    add_skeleton(traces, "x_t 3d", skeleton_3d_traces(c3, showlegend=False), row=1, col=2)
    fig = traces.fig
    fig.update_xaxes(range=[c[:, 0].min() - 0.3, c[:, 0].max() + 0.3], scaleanchor="y")
    fig.update_yaxes(range=[c[:, 1].max() + 0.3, c[:, 1].min() - 0.3])
    image_axes(fig, 1, 1)
    fig.update_layout(scene=cube_scene(c3, margin=0.3), title=title, height=420,
                      margin=dict(l=40, r=0, t=60, b=40))
    fig = traces.finish(widget)

    def update(x_t):
        n = as_array(x_t, "x_t", (None, 5), exact=True)                      # (J, 5)
        with fig.batch_update():
            set_pose_2d(traces, "x_t 2d", n[:, :2])
            set_skeleton_3d(traces, "x_t 3d", display_3d(n[:, 2:], "camera"))
    if x_t is not None:
        update(x_t)
    return View(fig, update)


def schedule_curves(schedule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(betas, alphas_bar, snr), each (T,), from a schedule object (attributes of those names)
    or a (T,) array of betas."""
    if hasattr(schedule, "betas"):
        betas = as_array(schedule.betas, "betas", (None,), exact=True)
        ab = as_array(schedule.alphas_bar, "alphas_bar", (None,), exact=True)
        snr = as_array(schedule.snr, "snr") if hasattr(schedule, "snr") else ab / (1 - ab)
        return betas, ab, snr
    betas = as_array(schedule, "betas", (None,), exact=True)
    ab = np.cumprod(1.0 - betas)
    return betas, ab, ab / (1.0 - ab)


CURVES = ("beta", "alpha_bar", "snr")


def schedule_plot(schedule, t: int | None = None, widget: bool = False) -> View:
    """beta_t, alpha-bar_t and SNR(t) = alpha-bar_t / (1 - alpha-bar_t) side by side (SNR log).

    schedule: an object with ``betas``, ``alphas_bar`` (and ``snr``) of shape (T,), or a (T,)
    array of betas. t: a timestep to mark on each curve. Handles: ``beta``, ``alpha_bar``,
    ``snr`` (curves) and ``beta at t`` ... (markers).
    update(schedule, t=None): new curves and marker.
    """
    traces = Traces(make_subplots(rows=1, cols=3, subplot_titles=("β_t", "ᾱ_t", "SNR(t)")))
    for col, name in enumerate(CURVES, start=1):
        traces.add(name, go.Scatter(mode="lines", showlegend=False, name=name,
                                    line=dict(color="#1f77b4")), row=1, col=col)
        traces.add(f"{name} at t", go.Scatter(mode="markers", showlegend=False, name="t",
                                              marker=dict(size=10, color="#d62728")),
                   row=1, col=col)
    traces.fig.update_yaxes(type="log", row=1, col=3)
    traces.fig.update_xaxes(title_text="t")
    traces.fig.update_layout(height=320, margin=dict(l=40, r=10, t=40, b=40))
    fig = traces.finish(widget)

    def update(schedule, t: int | None = None):
        curves = schedule_curves(schedule)
        steps = np.arange(len(curves[0]))
        with fig.batch_update():
            for name, y in zip(CURVES, curves):
                traces[name].update(x=steps, y=y)
                traces[f"{name} at t"].update(x=[] if t is None else [t],
                                              y=[] if t is None else [y[t]])
    update(schedule, t)
    return View(fig, update)


def points_view(panels: dict, centres=None, title: str | None = None, widget: bool = False):
    """Scatter panels side by side, one per entry of panels {name: (N, 2) points} (lesson 08's
    toy diffusion), each with the ``centres`` (K, 2) of the data's modes as crosses when given;
    equal axes from -3 to 3.

    Returns a :class:`mmdiff.viz.View`; update(panels, titles=None) replaces the points of
    some or all panels (same names), and their titles ({name: text}) when given."""
    names = list(panels)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names,
                        horizontal_spacing=0.04)
    traces = Traces(fig)
    for i, name in enumerate(names):
        xy = as_array(panels[name], name, (None, 2), exact=True)
        traces.add(name, go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", name=name,
                                      marker=dict(size=3, opacity=0.5), showlegend=False),
                   row=1, col=i + 1)
        if centres is not None:
            c = as_array(centres, "centres", (None, 2), exact=True)
            traces.add(f"{name}/modes", go.Scatter(x=c[:, 0], y=c[:, 1], mode="markers",
                                                   marker=dict(symbol="x", size=8, color="black"),
                                                   name="modes", showlegend=False),
                       row=1, col=i + 1)
    fig.update_xaxes(range=[-3, 3])
    fig.update_yaxes(range=[-3, 3])
    for i in range(len(names)):
        fig.update_yaxes(scaleanchor=f"x{i + 1 if i else ''}", row=1, col=i + 1)
    fig.update_layout(height=360, width=330 * len(names) + 40, title=title,
                      margin=dict(l=30, r=10, t=60, b=30))
    fig = traces.finish(widget)

    def update(new: dict, titles: dict | None = None):
        with fig.batch_update():
            for name, pts in new.items():
                if name not in traces.index:
                    raise DataError(f"points_view.update: unknown panel {name!r}; panels: {names}")
                xy = as_array(pts, name, (None, 2), exact=True)
                traces[name].update(x=xy[:, 0], y=xy[:, 1])
            for name, text in (titles or {}).items():
                fig.layout.annotations[names.index(name)].text = text
    return View(fig, update)
