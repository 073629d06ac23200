"""Standalone HTML pages: the animated view ``mmdiff predict --html`` writes.

:func:`pose_sequence_view` draws a lifted sequence as a plotly animation that plays without a
kernel: the 3D skeletons (left; several people side by side) beside the 2D keypoints they were
lifted from (right, in pixels, on the image rectangle), a play / pause button and a frame slider. Frames filled by interpolation are
marked in the slider ("12 filled") and the title; joints that were interpolated or are below the
confidence threshold are ringed in orange in the 2D panel. :func:`write_pose_html` writes it as
one self-contained page (plotly.js included, works offline).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from mmdiff.errors import DataError
from mmdiff.viz.base import Traces, View
from mmdiff.viz.poses import slider_steps
from mmdiff.viz.skeletons import (add_skeleton, cube_scene, display_3d, handles, pose_2d_traces,
                                  set_pose_2d, set_skeleton_3d, skeleton_3d_traces,
                                  skeleton_segments)

FLAG_COLOR = "#ff7f0e"


def _flags(flags, shape: tuple, name: str, one: tuple) -> np.ndarray:
    """Boolean flags of ``shape`` (P, ...) (all False when None; ``one``, one person's shape, is
    taken for a single person); DataError naming the shape at fault."""
    if flags is None:
        return np.zeros(shape, dtype=bool)
    f = np.asarray(flags, dtype=bool)
    if shape[0] == 1 and f.shape == one:
        f = f[None]
    if f.shape != shape:
        raise DataError(f"{name}: expected shape {one if shape[0] == 1 else shape}, found "
                        f"{f.shape}")
    return f


def _people(x, name: str, tail: tuple) -> np.ndarray:
    """(F, *tail) or (P, F, *tail) -> (P, F, *tail) float64, shapes checked."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == len(tail) + 1:
        arr = arr[None]
    if arr.ndim != len(tail) + 2 or arr.shape[2:] != tail:
        raise DataError(f"{name}: expected shape (n, {', '.join(map(str, tail))}) or (people, n, "
                        f"{', '.join(map(str, tail))}), found {np.shape(x)}")
    return arr


def _check(pose_3d, keypoints_px, image_size):
    p3 = _people(pose_3d, "pose_3d", (17, 3))                                # (P, F, 17, 3)
    if p3.shape[1] == 0:
        raise DataError(f"pose_3d: no frames, found shape {np.shape(pose_3d)}")
    if keypoints_px is None:
        return p3, None, None
    p2 = _people(keypoints_px, "keypoints_px", (17, 2))                     # (P, F, 17, 2)
    if p2.shape[:2] != p3.shape[:2]:
        raise DataError(f"pose_sequence_view: frame counts differ: pose_3d {np.shape(pose_3d)}, "
                        f"keypoints_px {np.shape(keypoints_px)}")
    if image_size is None or len(image_size) != 2 or min(image_size) <= 0:
        raise DataError(f"image_size: expected (width, height) in pixels, found {image_size!r}")
    return p3, p2, (float(image_size[0]), float(image_size[1]))


def _frame_title(title: str, i: int, count: int, filled: bool) -> str:
    return f"{title}: frame {i} of {count}" + (" (filled by interpolation)" if filled else "")


#: Space between people in the 3D panel (each is root-relative), metres along x.
SPACING = 1.0


def _spread(d3: np.ndarray, p2) -> np.ndarray:
    """(P, F, 17, 3) display poses -> the same, person k moved ``SPACING`` * its rank along x,
    ranked left to right by its median 2D pelvis x (or in order without 2D)."""
    if len(d3) == 1:
        return d3
    order = (np.argsort(np.nanmedian(p2[:, :, 0, 0], axis=1)) if p2 is not None
             else np.arange(len(d3)))
    rank = np.empty(len(d3), int)
    rank[order] = np.arange(len(d3))
    shift = (rank - (len(d3) - 1) / 2) * SPACING
    return d3 + np.stack([shift, 0 * shift, 0 * shift], axis=1)[:, None, None, :]


def pose_sequence_view(pose_3d, keypoints_px=None, image_size=None, title: str = "mmdiff predict",
                       filled_frames=None, flagged_joints=None, fps: float = 25.0,
                       widget: bool = False, frames: bool = True, labels=None,
                       size_note: str | None = None) -> View:
    """An animated lifted sequence of one person or several: 3D skeletons beside their 2D
    keypoints, play / pause, slider.

    pose_3d: (F, 17, 3), or (P, F, 17, 3) for P people on one frame axis (NaN where a person is
        absent), metres, camera coordinates (x right, y down, z forward), root-relative; drawn
        with up = -y and depth = z, in one cube that holds every frame; several people stand
        ``SPACING`` m apart along x, in their left-to-right order in the image.
    keypoints_px: (F, 17, 2) / (P, F, 17, 2) image pixels (x right, y down) or None (3D only);
        image_size: (width, height) pixels, the 2D panel's extent; size_note: said beside it.
    filled_frames: (F,) / (P, F) bool, frames with no detection, filled by interpolation
        (marked). flagged_joints: (F, 17) / (P, F, 17) bool, joints interpolated or of low
        confidence (ringed in orange). labels: a name per person (hover text).
    fps: the play speed. Handles: person 0 ``3d/...``, ``2d/...``, ``2d/flagged joints``;
        person k > 0 the same under ``3d/k/``, ``2d/k/``.
    frames: attach the plotly frames (``False``: ``view.update.frames`` holds them as plain
        dicts, for :func:`write_pose_html`, which skips plotly's slow validation of hundreds of
        frames).
    update(frame): shows frame ``frame`` (for a notebook slider; the page animates by itself).
    """
    p3, p2, size = _check(pose_3d, keypoints_px, image_size)
    people, count = p3.shape[:2]
    filled = _flags(filled_frames, (people, count), "filled_frames", (count,))
    flagged = _flags(flagged_joints, (people, count, 17), "flagged_joints", (count, 17))
    labels = labels or [f"person {k}" for k in range(people)]
    d3 = _spread(display_3d(p3, "camera"), p2)                               # (P, F, 17, 3)
    two_d = p2 is not None
    heading = "3D (metres, root-relative" + (f"; people {SPACING:g} m apart)" if people > 1
                                             else ")")
    fig = (make_subplots(rows=1, cols=2, column_widths=[0.5, 0.5],
                         specs=[[{"type": "scene"}, {"type": "xy"}]],
                         subplot_titles=(heading,
                                         f"2D keypoints ({size[0]:.0f} x {size[1]:.0f} px"
                                         + (f"; {size_note})" if size_note else ")")))
           if two_d else go.Figure())
    traces = Traces(fig)
    where3, where2 = (dict(row=1, col=1), dict(row=1, col=2)) if two_d else ({}, {})
    key = lambda dim, k: dim if k == 0 else f"{dim}/{k}"
    for k in range(people):
        add_skeleton(traces, key("3d", k), skeleton_3d_traces(d3[k, 0], showlegend=k == 0),
                     **where3)
        if two_d:
            add_skeleton(traces, key("2d", k), pose_2d_traces(p2[k, 0], showlegend=False,
                                                              label=f"{labels[k]} "), **where2)
            traces.add(f"{key('2d', k)}/flagged joints", go.Scatter(
                mode="markers", name="interpolated / low-confidence joints", showlegend=k == 0,
                marker=dict(size=13, color="rgba(0,0,0,0)", line=dict(color=FLAG_COLOR, width=2))),
                **where2)
    if two_d:
        _image_panel(fig, size)
    fig.update_layout(scene=cube_scene(d3), height=520, margin=dict(l=0, r=10, t=60, b=40))
    shown = [h for k in range(people) for h in handles(key("3d", k))
             + (handles(key("2d", k)) + [f"{key('2d', k)}/flagged joints"] if two_d else [])]
    any_filled = filled.any(axis=0)                                          # (F,)

    def frame_data(i: int) -> list:
        """Plain dicts holding only the coordinates: plotly validates them fast."""
        parts = []
        for k in range(people):
            parts += [dict(type="scatter3d", x=seg[:, 0], y=seg[:, 1], z=seg[:, 2])
                      for seg in skeleton_segments(d3[k, i])]
            if two_d:
                j = np.nonzero(flagged[k, i])[0]
                parts += [dict(type="scatter", x=seg[:, 0], y=seg[:, 1])
                          for seg in skeleton_segments(p2[k, i])]
                parts.append(dict(type="scatter", x=p2[k, i, j, 0], y=p2[k, i, j, 1]))
        return parts

    frame_dicts = [dict(data=frame_data(i), traces=traces.indices(shown), name=str(i),
                        layout=dict(title=dict(text=_frame_title(title, i, count,
                                                                 any_filled[i]))))
                   for i in range(count)]
    if frames:
        fig.frames = frame_dicts
    steps = [f"{i} filled" if any_filled[i] else str(i) for i in range(count)]
    fig.update_layout(title_text=_frame_title(title, 0, count, any_filled[0]),
                      updatemenus=[_play_pause(fps)],
                      sliders=[dict(active=0, steps=slider_steps(count, steps), x=0.1, len=0.9,
                                    currentvalue=dict(prefix="frame "), ticklen=0)])
    fig = traces.finish(widget)

    def update(frame: int):
        with fig.batch_update():
            for k in range(people):
                set_skeleton_3d(traces, key("3d", k), d3[k, frame])
                if two_d:
                    set_pose_2d(traces, key("2d", k), p2[k, frame])
                    j = np.nonzero(flagged[k, frame])[0]
                    traces[f"{key('2d', k)}/flagged joints"].update(x=p2[k, frame, j, 0],
                                                                    y=p2[k, frame, j, 1])
            fig.layout.title.text = _frame_title(title, frame, count, any_filled[frame])
    update(0)
    update.frames = frame_dicts
    return View(fig, update)


def _image_panel(fig, size: tuple[float, float]) -> None:
    """The 2D panel as the image: x in [0, width], y in [height, 0] (down), equal aspect,
    the image border drawn."""
    w, h = size
    fig.update_xaxes(range=[0, w], title_text="x (px)", scaleanchor="y", scaleratio=1,
                     constrain="domain", row=1, col=2)
    fig.update_yaxes(range=[h, 0], title_text="y (px)", constrain="domain", row=1, col=2)
    fig.add_shape(type="rect", x0=0, y0=0, x1=w, y1=h, line=dict(color="#999999", width=1),
                  row=1, col=2)


def _play_pause(fps: float) -> dict:
    """A play / pause button pair: play runs the frames from the current one at ``fps``."""
    if not fps > 0:
        raise DataError(f"fps: expected a positive frame rate, found {fps!r}")
    play = dict(label="play", method="animate", args=[None, dict(
        frame=dict(duration=1000.0 / fps, redraw=True), fromcurrent=True, mode="immediate",
        transition=dict(duration=0))])
    pause = dict(label="pause", method="animate", args=[[None], dict(
        frame=dict(duration=0, redraw=False), mode="immediate", transition=dict(duration=0))])
    return dict(type="buttons", direction="left", showactive=False, x=0.0, y=0.0,
                xanchor="left", yanchor="top", pad=dict(t=40), buttons=[play, pause])


def write_pose_html(pose_3d, path, title: str = "mmdiff predict", keypoints_px=None,
                    image_size=None, filled_frames=None, flagged_joints=None,
                    fps: float = 25.0, labels=None, size_note: str | None = None) -> Path:
    """Write :func:`pose_sequence_view` as a standalone page (plotly.js inlined) at ``path``.
    Arguments as :func:`pose_sequence_view`. Returns the path written."""
    view = pose_sequence_view(pose_3d, keypoints_px, image_size, title=title,
                              filled_frames=filled_frames, flagged_joints=flagged_joints, fps=fps,
                              frames=False, labels=labels, size_note=size_note)
    page = view.fig.to_dict()
    page["frames"] = view.update.frames                                      # plain dicts
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pio.write_html(page, path, include_plotlyjs=True, auto_play=False, validate=False)
    return path
