"""Charts: grouped bars (per joint, per action), lines (a live loss curve), overlaid histograms.
Each series is a trace whose handle is the series name; ``update`` finds it by that name."""
from __future__ import annotations

import plotly.graph_objects as go

from mmdiff.errors import DataError
from mmdiff.viz.base import Traces, View, as_array
from mmdiff.viz.skeletons import skeleton_layout


def _known(traces: Traces, name: str, chart: str):
    """The trace of series ``name``, or DataError listing the chart's series."""
    if name not in traces.index:
        raise DataError(f"{chart}.update: unknown series {name!r}; the chart has "
                        f"{list(traces.index)}")
    return traces[name]


def bar_chart(series: dict, categories, ylabel: str = "", title: str | None = None,
              widget: bool = False) -> View:
    """Grouped bars: series {name: (N,) values} over N categories (joints, actions, ...).

    update(series): new values for some or all of the same series names."""
    categories = list(categories)
    traces = Traces(go.Figure())
    for k, v in series.items():
        y = as_array(v, k, (len(categories),), exact=True)
        traces.add(k, go.Bar(x=categories, y=y, name=k))
    traces.fig.update_layout(barmode="group", yaxis_title=ylabel, title=title, height=380,
                             margin=dict(l=50, r=10, t=40, b=90))
    fig = traces.finish(widget)

    def update(series: dict):
        with fig.batch_update():
            for k, v in series.items():
                _known(traces, k, "bar_chart").y = as_array(v, k, (len(categories),), exact=True)
    return View(fig, update)


def per_joint_bars(series: dict, ylabel: str = "error (mm)", title: str | None = None,
                   widget: bool = False) -> View:
    """Bars per joint: series {name: (J,) values}, J = 17 or 32 (joint names on the axis)."""
    first = as_array(next(iter(series.values())), next(iter(series)), (None,), exact=True)
    return bar_chart(series, skeleton_layout(len(first))[3], ylabel, title, widget)


def per_action_bars(summary: dict, ylabel: str = "MPJPE (mm)", title: str | None = None,
                    widget: bool = False) -> View:
    """Bars per action: summary {series: {action: value}}; actions in the first series' order."""
    actions = list(next(iter(summary.values())))
    missing = {k: [a for a in actions if a not in v] for k, v in summary.items()}
    if any(missing.values()):
        raise DataError(f"per_action_bars: series lack actions {missing}")
    series = {k: [v[a] for a in actions] for k, v in summary.items()}
    return bar_chart(series, actions, ylabel, title, widget)


def line_chart(series: dict, xlabel: str = "", ylabel: str = "", log_y: bool = False,
               title: str | None = None, widget: bool = False) -> View:
    """Lines: series {name: (x, y)} of equal-length (N,) arrays. update(series) replaces (and
    adds) lines in place, e.g. a live loss curve fed from a training callback."""
    traces = Traces(go.Figure())
    traces.fig.update_layout(xaxis_title=xlabel, yaxis_title=ylabel, title=title, height=350,
                             margin=dict(l=50, r=10, t=40, b=40),
                             yaxis_type="log" if log_y else None)
    fig = traces.finish(widget)

    def update(series: dict):
        with fig.batch_update():
            for k, (x, y) in series.items():
                x, y = as_array(x, f"{k} x", (None,), exact=True), as_array(y, f"{k} y")
                if y.shape != x.shape:
                    raise DataError(f"line_chart: series {k!r} has x {x.shape} and y {y.shape}")
                if k not in traces.index:
                    traces.add(k, go.Scatter(mode="lines+markers", name=k))
                traces[k].update(x=x, y=y)
    update(series)
    return View(fig, update)


def histogram(series: dict, xlabel: str = "", bins: int = 60, title: str | None = None,
              widget: bool = False) -> View:
    """Overlaid normalised histograms: series {name: samples of any shape}. update(series) as
    :func:`bar_chart`."""
    traces = Traces(go.Figure())
    for k, v in series.items():
        traces.add(k, go.Histogram(x=as_array(v, k).ravel(), name=k, nbinsx=bins, opacity=0.6,
                                   histnorm="probability density"))
    traces.fig.update_layout(barmode="overlay", xaxis_title=xlabel, title=title, height=330,
                             margin=dict(l=50, r=10, t=40, b=40))
    fig = traces.finish(widget)

    def update(series: dict):
        with fig.batch_update():
            for k, v in series.items():
                _known(traces, k, "histogram").x = as_array(v, k).ravel()
    return View(fig, update)
