"""Tests for mmdiff.viz.diffusion: the noisy-pose view and the schedule inspector, by handle."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from mmdiff import viz
from mmdiff.errors import DataError


def test_noisy_pose_view(rng):
    p3, p2 = rng.normal(size=(17, 3)) * 0.3, rng.normal(size=(17, 2)) * 0.2
    x0 = np.concatenate([p2, p3], axis=-1)                                  # (17, 5)
    view = viz.noisy_pose_view(x0)
    assert len(view.fig.data) == 16
    assert view.trace("x0 2d/joints").opacity == 0.25
    view.update(x0 + 1.0)
    np.testing.assert_allclose(view.trace("x_t 2d/joints").x, p2[:, 0] + 1.0)   # noisy 2D joints
    np.testing.assert_allclose(view.trace("x_t 3d/joints").z, -(p3[:, 1] + 1.0))  # up = -y
    np.testing.assert_allclose(view.trace("x0 2d/joints").x, p2[:, 0])          # clean stays
    with pytest.raises(DataError, match=r"x_t: expected shape \(n, 5\), found \(17, 3\)"):
        view.update(x0[:, :3])


class _Sched:
    def __init__(self, betas):
        self.betas = torch.tensor(betas)
        self.alphas_bar = torch.cumprod(1 - self.betas, 0)
        self.snr = self.alphas_bar / (1 - self.alphas_bar)


def test_schedule_plot_object_or_betas():
    betas = np.linspace(1e-4, 1e-3, 51)
    view = viz.schedule_plot(betas, t=10)
    assert len(view.fig.data) == 6 and view.fig.layout.yaxis3.type == "log"
    np.testing.assert_allclose(view.trace("alpha_bar").y, np.cumprod(1 - betas))
    assert view.trace("beta at t").x == (10,)
    sched = _Sched(np.linspace(1e-4, 2e-2, 100))
    view.update(sched, t=99)
    assert len(view.trace("beta").x) == 100 and view.trace("snr at t").x == (99,)
    np.testing.assert_allclose(view.trace("snr").y[-1], float(sched.snr[-1]))
    view.update(sched)                                                      # no marker
    assert view.trace("alpha_bar at t").x == ()
    with pytest.raises(DataError, match=r"betas: expected shape \(n\), found \(2, 3\)"):
        viz.schedule_plot(np.zeros((2, 3)))
