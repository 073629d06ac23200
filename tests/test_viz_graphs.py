"""Tests for mmdiff.viz.graphs: heatmaps and the cross-channel graph, by handle."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff import viz
from mmdiff.errors import DataError
from mmdiff.skeleton import EDGES_17


def test_adjacency_and_attention_heatmaps(rng):
    view = viz.adjacency_heatmap(np.eye(34))
    heat = view.trace("heatmap")
    assert heat.x[0] == "2D Hip" and heat.x[17] == "3D Hip"
    view.update(np.ones((34, 34)))
    assert np.all(np.array(view.trace("heatmap").z) == 1)
    with pytest.raises(DataError, match=r"adj: expected a square matrix \(N, N\), found \(3, 4\)"):
        view.update(np.ones((3, 4)))
    maps = rng.random((5, 4, 34, 34))
    m0 = maps.copy()
    view = viz.attention_heatmap(maps, layer=1, head=2)
    np.testing.assert_allclose(view.trace("heatmap").z, maps[1, 2])
    view.update(4, 3)
    np.testing.assert_allclose(view.trace("heatmap").z, maps[4, 3])
    assert "layer 4, head 3" in view.fig.layout.title.text
    view.update(0, 1, maps=np.zeros((2, 2, 34, 34)))
    np.testing.assert_allclose(view.trace("heatmap").z, 0.0)
    np.testing.assert_array_equal(maps, m0)
    with pytest.raises(DataError, match=r"layer 5, head 0 outside maps of shape \(2, 2, 34, 34\)"):
        view.update(5, 0)
    view = viz.attention_heatmap(rng.random((17, 17)))                      # (N, N) accepted
    assert view.trace("heatmap").x[0] == "Hip"


def test_cross_channel_graph_edges_classified():
    edges = ([(i, j) for i, j in EDGES_17] + [(i + 17, j + 17) for i, j in EDGES_17]
             + [(j, j + 17) for j in range(17)])
    view = viz.cross_channel_graph(edges)
    assert [view.trace(h).name for h in ("2D bones", "3D bones", "2D-3D links")] == [
        "2D bones (16)", "3D bones (16)", "2D-3D links (17)"]
    assert len(view.trace("2D nodes").x) == 17 and len(view.trace("3D nodes").x) == 17
    assert view.trace("2D-3D links").visible
    view.update(False)
    assert view.trace("2D-3D links").visible is False
    assert view.trace("3D bones").visible is not False
    with pytest.raises(DataError, match="17 joints"):
        viz.cross_channel_graph(edges, num_joints=16)
