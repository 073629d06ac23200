"""Smooth random signals: bounds, smoothness, seeds."""
from __future__ import annotations

import numpy as np

from mmdiff.data.synthetic import signals


def test_keyframes_stay_in_range_and_are_smooth():
    x = signals.keyframes(np.random.default_rng(0), 500, 12.5, 2.0, -3.0, 5.0)
    assert x.shape == (500,) and x.min() >= -3.0 and x.max() <= 5.0
    assert np.abs(np.diff(x)).max() < 8.0 * 1.5 / (2.0 * 0.6 * 12.5)   # <= 1.5x the mean slope
    again = signals.keyframes(np.random.default_rng(0), 500, 12.5, 2.0, -3.0, 5.0)
    assert np.array_equal(x, again)


def test_gate_switches_between_zero_and_one():
    g = signals.gate(np.random.default_rng(1), 1000, 12.5, (1.0, 2.0), (1.0, 2.0), ramp=0.8)
    assert g.min() >= 0.0 and g.max() <= 1.0
    assert (g == 0).any() and (g == 1).any()
    assert np.abs(np.diff(g)).max() <= 1.5 / (0.8 * 12.5) + 1e-9        # smoothstep peak slope
    on = signals.gate(np.random.default_rng(2), 50, 12.5, (10, 20), (1, 2), start_on=True)
    assert on[0] == 1.0


def test_smooth_series_keeps_constants_and_shape():
    x = np.stack([np.full(40, 2.0), np.arange(40.0)], 1)                # (F, 2)
    y = signals.smooth_series(x, 12.5, 0.3)
    assert y.shape == x.shape and np.allclose(y[:, 0], 2.0)
    assert np.allclose(y[12:28, 1], x[12:28, 1])                        # linear stays linear
