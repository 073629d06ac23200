"""What every figure builder shares: the ``View`` it returns, named trace handles, array checks.

A builder adds each trace under a handle name (``"3d/left bones"``, ``"gmm means"``) through a
:class:`Traces` object; its ``update`` finds the traces by those names, never by position, so
adding a trace to a figure cannot silently redraw the wrong one. The handle is also stored in
the trace's ``meta`` field, so ``view.trace("3d/joints")`` finds it from outside (tests, notebooks).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import plotly.graph_objects as go

from mmdiff.errors import DataError

LEFT_COLOR, RIGHT_COLOR, CENTRE_COLOR = "#d62728", "#1f77b4", "#555555"
SIDES = ("centre", "left", "right")
COLORS = {"centre": CENTRE_COLOR, "left": LEFT_COLOR, "right": RIGHT_COLOR}


class View(NamedTuple):
    """A figure and the function that redraws it in place (unpacks as ``fig, update``)."""
    fig: go.Figure
    update: Callable

    def trace(self, handle: str):
        """The trace added under ``handle`` (its ``meta``); KeyError listing the handles."""
        for tr in self.fig.data:
            if tr.meta == handle:
                return tr
        raise KeyError(f"no trace named {handle!r}; handles: {handle_names(self.fig)}")


def handle_names(fig: go.Figure) -> list[str]:
    """The handle of every trace of ``fig``, in drawing order (None for unnamed traces)."""
    return [tr.meta for tr in fig.data]


class Traces:
    """The traces of one figure, keyed by handle name.

    ``traces.add("3d/joints", go.Scatter3d(...), row=1, col=1)`` appends the trace and records its
    index; ``traces["3d/joints"]`` is that trace; ``traces.index`` maps handle -> index (what a
    ``go.Frame(traces=...)`` needs); ``traces.finish(widget)`` turns the figure into a
    ``go.FigureWidget`` when asked (trace order and handles survive) and returns it.
    """

    def __init__(self, fig: go.Figure):
        self.fig = fig
        self.index: dict[str, int] = {}

    def add(self, handle: str, trace, row: int | None = None, col: int | None = None) -> None:
        if handle in self.index:
            raise ValueError(f"trace handle {handle!r} is already taken")
        trace.meta = handle
        self.index[handle] = len(self.fig.data)
        if row is None:
            self.fig.add_trace(trace)
        else:
            self.fig.add_trace(trace, row=row, col=col)

    def __getitem__(self, handle: str):
        return self.fig.data[self.index[handle]]

    def indices(self, handles) -> list[int]:
        """Trace indices of ``handles`` (for ``go.Frame(traces=...)``)."""
        return [self.index[h] for h in handles]

    def finish(self, widget: bool) -> go.Figure:
        """The figure, made a ``go.FigureWidget`` when ``widget`` (needs anywidget in Jupyter)."""
        if widget:
            self.fig = go.FigureWidget(self.fig)
        return self.fig


def as_array(x, name: str, shape_tail=None, exact: bool = False) -> np.ndarray:
    """A float64 numpy copy of a numpy array / tensor / list, with an optional shape check.

    shape_tail: the expected trailing axes, None for any size (e.g. ``(None, 3)`` for (..., J, 3));
    exact: no leading axes allowed (``(None, 3)`` then means (J, 3)).
    Raises DataError naming ``name``, the expected and the found shape."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        arr = np.array(x, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name}: expected a numeric array, found {type(x).__name__} ({err})") from None
    if shape_tail is None:
        return arr
    n = len(shape_tail)
    bad_ndim = arr.ndim != n if exact else arr.ndim < n
    if bad_ndim or any(s is not None and a != s for a, s in zip(arr.shape[-n:], shape_tail)):
        want = ", ".join(str(s or "n") for s in shape_tail)
        raise DataError(f"{name}: expected shape ({'' if exact else '..., '}{want}), "
                        f"found {arr.shape}")
    return arr
