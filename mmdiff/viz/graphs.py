"""Graph figures: an adjacency (or Chebyshev term) heatmap, the 34-node cross-channel graph, and
attention maps. Each returns a ``View(fig, update)`` that redraws through named trace handles."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from mmdiff.errors import DataError
from mmdiff.skeleton import NAMES_17
from mmdiff.viz.base import Traces, View, as_array
from mmdiff.viz.skeletons import segments

#: A standing 17-joint pose (x right, y up, arbitrary units) used to lay out graph drawings.
TEMPLATE_17 = np.array([
    [0.0, 0.0], [-0.12, 0.0], [-0.13, -0.45], [-0.14, -0.9], [0.12, 0.0], [0.13, -0.45],
    [0.14, -0.9], [0.0, 0.25], [0.0, 0.5], [0.0, 0.62], [0.0, 0.75], [0.17, 0.47],
    [0.3, 0.22], [0.35, -0.02], [-0.17, 0.47], [-0.3, 0.22], [-0.35, -0.02]])


def node_labels(num_nodes: int) -> list[str]:
    """'Hip', ... for 17 nodes; '2D Hip' ... '3D RWrist' for the 34-node cross-channel graph."""
    if num_nodes == 17:
        return list(NAMES_17)
    if num_nodes == 34:
        return [f"2D {n}" for n in NAMES_17] + [f"3D {n}" for n in NAMES_17]
    return [str(i) for i in range(num_nodes)]


def _square(m, name: str) -> np.ndarray:
    a = as_array(m, name, (None, None), exact=True)
    if a.shape[0] != a.shape[1]:
        raise DataError(f"{name}: expected a square matrix (N, N), found {a.shape}")
    return a


def adjacency_heatmap(adj, labels=None, title: str | None = None, widget: bool = False) -> View:
    """A square matrix (N, N), e.g. a normalised adjacency or a Chebyshev term, as a heatmap
    (handle ``heatmap``). update(adj): new values (same N)."""
    a = _square(adj, "adj")
    labels = list(labels) if labels is not None else node_labels(a.shape[0])
    traces = Traces(go.Figure())
    traces.add("heatmap", go.Heatmap(z=a, x=labels, y=labels, colorscale="RdBu", zmid=0.0))
    traces.fig.update_yaxes(autorange="reversed", scaleanchor="x")
    traces.fig.update_layout(title=title, height=520, width=560,
                             margin=dict(l=80, r=10, t=40, b=80))
    traces.finish(widget)

    def update(adj):
        traces["heatmap"].z = _square(adj, "adj")
    return View(traces.fig, update)


def _classify_edges(edges, num_joints: int) -> dict[str, list]:
    """Edges inside the 2D half, inside the 3D half, and across the halves."""
    halves = {"2D bones": [], "3D bones": [], "2D-3D links": []}
    for i, j in edges:
        key = ("2D bones" if max(i, j) < num_joints else "3D bones" if min(i, j) >= num_joints
               else "2D-3D links")
        halves[key].append((i, j))
    return halves


def cross_channel_graph(edges=None, num_joints: int = 17, cross_links: bool = True,
                        widget: bool = False) -> View:
    """The 2J-node cross-channel graph: 2D half (nodes 0..J-1) left, 3D half (J..2J-1) right.

    edges: (i, j) node pairs, e.g. ``mmdiff.models.mmdiff.cross_channel_edges()`` (default);
    edges inside a half are bones, edges across halves are joint-to-joint links (dashed).
    Handles: ``2D bones``, ``3D bones``, ``2D-3D links``, ``2D nodes``, ``3D nodes``.
    update(cross_links): shows or hides the links across the halves.
    """
    if edges is None:
        from mmdiff.models.mmdiff import cross_channel_edges
        edges = cross_channel_edges()
    if num_joints != 17:
        raise DataError(f"cross_channel_graph: the layout template has 17 joints, "
                        f"found {num_joints}")
    xy = np.concatenate([TEMPLATE_17 - [0.8, 0.0], TEMPLATE_17 + [0.8, 0.0]])      # (34, 2)
    style = {"2D bones": dict(color="#2ca02c", width=3), "3D bones": dict(color="#9467bd", width=3),
             "2D-3D links": dict(color="#999999", width=1, dash="dot")}
    traces = Traces(go.Figure())
    for k, pairs in _classify_edges(edges, num_joints).items():
        seg = segments(xy, pairs)
        traces.add(k, go.Scatter(x=seg[:, 0], y=seg[:, 1], mode="lines",
                                 name=f"{k} ({len(pairs)})", line=style[k]))
    labels = node_labels(2 * num_joints)
    for name, half, color in (("2D nodes", slice(0, num_joints), "#2ca02c"),
                              ("3D nodes", slice(num_joints, None), "#9467bd")):
        traces.add(name, go.Scatter(x=xy[half, 0], y=xy[half, 1], mode="markers", name=name,
                                    text=labels[half], marker=dict(size=10, color=color),
                                    hoverinfo="text"))
    traces.fig.update_xaxes(visible=False, scaleanchor="y")
    traces.fig.update_yaxes(visible=False)
    traces.fig.update_layout(height=420, margin=dict(l=10, r=10, t=30, b=10),
                             title=f"{2 * num_joints} nodes, {len(edges)} edges")
    fig = traces.finish(widget)

    def update(cross_links: bool):
        traces["2D-3D links"].visible = bool(cross_links)
    update(cross_links)
    return View(fig, update)


def _as_lhnn(maps) -> np.ndarray:
    """(L, H, N, N), (H, N, N) or (N, N) attention -> (L, H, N, N)."""
    m = as_array(maps, "maps", (None, None))
    if m.ndim > 4 or m.shape[-1] != m.shape[-2]:
        raise DataError(f"maps: expected (L, H, N, N), (H, N, N) or (N, N), found {m.shape}")
    return m.reshape((1,) * (4 - m.ndim) + m.shape)                           # (L, H, N, N)


def attention_heatmap(maps, layer: int = 0, head: int = 0, labels=None, widget: bool = False) -> View:
    """Attention weights of one layer and head as an (N, N) heatmap (rows: queries; handle
    ``heatmap``).

    maps: (L, H, N, N), (H, N, N) or (N, N) attention probabilities (e.g. averaged over a batch).
    update(layer=0, head=0, maps=None): shows another layer / head, of new maps when given
    (e.g. the other branch of the denoiser).
    """
    store = {"m": _as_lhnn(maps)}
    labels = list(labels) if labels is not None else node_labels(store["m"].shape[-1])
    traces = Traces(go.Figure())
    traces.add("heatmap", go.Heatmap(x=labels, y=labels, colorscale="Viridis", zmin=0.0))
    traces.fig.update_yaxes(autorange="reversed", scaleanchor="x")
    traces.fig.update_layout(height=560, width=600, margin=dict(l=80, r=10, t=40, b=80))
    fig = traces.finish(widget)

    def update(layer: int = 0, head: int = 0, maps=None):
        if maps is not None:
            store["m"] = _as_lhnn(maps)
        m = store["m"]
        if not (0 <= layer < m.shape[0] and 0 <= head < m.shape[1]):
            raise DataError(f"attention_heatmap: layer {layer}, head {head} outside maps of "
                            f"shape {m.shape} (L, H, N, N)")
        with fig.batch_update():
            traces["heatmap"].z = m[layer, head]
            fig.layout.title = f"attention, layer {layer}, head {head}"
    update(layer, head)
    return View(fig, update)
