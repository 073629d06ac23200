"""Tests for mmdiff.viz.charts: bars, lines and histograms keyed by series name."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff import viz
from mmdiff.errors import DataError


def test_bars_lines_histograms(rng):
    view = viz.per_joint_bars({"lifter": rng.random(17), "mmdiff": rng.random(17)})
    assert len(view.fig.data) == 2 and view.trace("lifter").x[0] == "Hip"
    view.update({"mmdiff": np.zeros(17)})
    assert np.all(np.array(view.trace("mmdiff").y) == 0)
    assert np.all(np.array(view.trace("lifter").y) > 0)
    with pytest.raises(DataError, match="unknown series 'other'"):
        view.update({"other": np.zeros(17)})
    with pytest.raises(DataError, match=r"mmdiff: expected shape \(17\), found \(16,\)"):
        view.update({"mmdiff": np.zeros(16)})
    fig, _ = viz.per_action_bars({"P1": {"Walking": 40.0, "Eating": 50.0}})
    assert fig.data[0].x == ("Walking", "Eating")
    with pytest.raises(DataError, match="lack actions"):
        viz.per_action_bars({"P1": {"Walking": 40.0}, "P2": {"Eating": 1.0}})
    view = viz.line_chart({"loss": ([0, 1], [2.0, 1.0])}, log_y=True)
    view.update({"loss": ([0, 1, 2], [2.0, 1.0, 0.5]), "val": ([0], [1.0])})
    assert [t.name for t in view.fig.data] == ["loss", "val"] and len(view.trace("loss").x) == 3
    with pytest.raises(DataError, match="series 'val' has x"):
        view.update({"val": ([0, 1], [1.0])})
    view = viz.histogram({"gauss": rng.normal(size=100)})
    view.update({"gauss": np.zeros(5)})
    assert len(view.trace("gauss").x) == 5


def test_empty_line_chart_then_live_updates():
    view = viz.line_chart({"loss": ([], [])}, widget=True)
    for step in range(3):
        view.update({"loss": (list(range(step + 1)), [1.0 / (s + 1) for s in range(step + 1)])})
    assert view.trace("loss").y[-1] == pytest.approx(1 / 3)
