"""mmdiff.course.toy: the toy diffusion of lesson 08 (ring of Gaussians, Tweedie, the sweep)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mmdiff.course import toy
from mmdiff.course.analysis import reflect_in_depth
from mmdiff.diffusion import BetaSchedule
from mmdiff.errors import ConfigError, DataError
from mmdiff.viz import points_view

RING = toy.GaussianRing()
SCHED = toy.toy_schedule()
SCHED64 = BetaSchedule.linear(1e-4, 0.2, 100, dtype=torch.float64)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def trained():
    """The lesson's recipe at a test budget: a diffusion (1500 steps) and a pure-noise
    regressor (300 steps), seeded (a few seconds on one thread)."""
    torch.manual_seed(0)
    net, reg = toy.ToyMLP(), toy.ToyMLP()
    toy.train_denoiser(net, RING, SCHED, steps=1500, generator=_gen(0))
    toy.train_regressor(reg, RING, SCHED, t=99, steps=300, generator=_gen(1))
    return net, reg


# ----------------------------------------------------------------------------- the data

def test_ring_samples_are_seeded_and_on_the_ring():
    a, b = RING.sample(4000, _gen(3)), RING.sample(4000, _gen(3))
    assert a.shape == (4000, 2) and torch.equal(a, b)
    assert a.norm(dim=-1).mean() == pytest.approx(2.0, abs=0.01)
    assert a.mean(0).abs().max() < 0.1                                 # centred: E[x_0] = 0
    assert RING.centres().shape == (8, 2)
    s = toy.mode_summary(a, RING)
    assert s.covered == 8 and s.near > 0.97 and s.distance == pytest.approx(0.1 * math.sqrt(
        math.pi / 2), rel=0.05)                                         # Rayleigh mean


def test_score_is_the_gradient_of_the_noised_log_density():
    x = torch.randn(64, 2, generator=_gen(), dtype=torch.float64, requires_grad=True)
    a = 0.3
    means, v = math.sqrt(a) * RING.centres(dtype=torch.float64), a * RING.std ** 2 + 1 - a
    log_p = torch.logsumexp(-((x[:, None] - means) ** 2).sum(-1) / (2 * v), dim=-1)
    (grad,) = torch.autograd.grad(log_p.sum(), x)
    torch.testing.assert_close(RING.score(x.detach(), a), grad)


@pytest.mark.parametrize("t", [0, 5, 20, 60, 95])
def test_tweedie_identity_with_the_exact_eps(t):
    """DDIM's x0-prediction from the exact eps = Tweedie's formula = the closed-form posterior
    mean of the Gaussian mixture (three different formulas, float64)."""
    x0 = RING.sample(500, _gen(t), dtype=torch.float64)
    noise = torch.randn(x0.shape, generator=_gen(t + 1), dtype=torch.float64)
    x_t = SCHED64.q_sample(x0, torch.full((500,), t), noise)
    a = SCHED64.alpha_bar(t)
    eps = RING.eps_fn(SCHED64)(x_t, torch.full((500,), float(t)))
    x0_hat = toy.tweedie_x0(eps, x_t, t, SCHED64)
    exact = RING.posterior_mean(x_t, a)
    torch.testing.assert_close(x0_hat, exact, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close((x_t + (1 - a) * RING.score(x_t, a)) / a.sqrt(), exact,
                               atol=1e-9, rtol=1e-9)


def test_posterior_spread_is_the_mmse():
    """Law of total variance: E ||x_0 - E[x_0 | x_t]||^2 = E[posterior spread^2]."""
    t, n = 20, 40000
    x0 = RING.sample(n, _gen(5), dtype=torch.float64)
    x_t = SCHED64.q_sample(x0, torch.full((n,), t),
                           torch.randn(x0.shape, generator=_gen(6), dtype=torch.float64))
    a = SCHED64.alpha_bar(t)
    mse = ((x0 - RING.posterior_mean(x_t, a)) ** 2).sum(-1).mean()
    assert float(mse) == pytest.approx(float((RING.posterior_spread(x_t, a) ** 2).mean()),
                                       rel=0.03)


def test_posterior_weights_turn_multimodal_with_noise():
    x0 = RING.sample(2000, _gen(7))
    frac = []
    for t in (2, 20, 60):
        x_t = SCHED.q_sample(x0, torch.full((2000,), t), torch.randn(x0.shape, generator=_gen(t)))
        w = RING.posterior_weights(x_t, SCHED.alpha_bar(t))
        assert torch.allclose(w.sum(-1), torch.ones(2000))
        frac.append(float((w.max(-1).values < 0.9).float().mean()))
    assert frac[0] < 0.01 and frac[1] > 0.5 and frac[2] > 0.95


# ----------------------------------------------------------------------------- the model

def test_schedule_reaches_noise_and_mlp_shapes():
    assert SCHED.num_timesteps == 100 and SCHED.alphas_bar[-1] < 1e-4
    net = toy.ToyMLP()
    x, t = torch.randn(5, 2), torch.arange(5).float()
    before = x.clone()
    assert net(x, t).shape == (5, 2) and torch.equal(x, before)          # input unchanged
    assert net.num_params() == (34 * 128 + 128) + (128 * 128 + 128) + (128 * 2 + 2)
    assert toy.timestep_embedding(t, 32).shape == (5, 32)
    with pytest.raises(DataError, match=r"\(N, 2\)"):
        net(torch.randn(5, 3), t)
    with pytest.raises(ConfigError, match="t must lie"):
        toy.train_regressor(net, RING, SCHED, t=100, steps=1)


def test_ideal_denoiser_generates_the_ring():
    traj = toy.generate(RING.eps_fn(SCHED), SCHED, 2000, steps=50, generator=_gen(8))
    assert len(traj.xs) == 51 and traj.timesteps[0] == 99 and traj.final.shape == (2000, 2)
    s = toy.mode_summary(traj.final, RING)
    assert s.covered == 8 and s.near > 0.9
    again = toy.generate(RING.eps_fn(SCHED), SCHED, 2000, steps=50, generator=_gen(8))
    assert torch.equal(traj.final, again.final)                         # seeded


def test_trained_diffusion_covers_the_modes_and_the_regressor_collapses(trained):
    net, reg = trained
    samples = toy.generate(toy.as_function(net), SCHED, 2000, steps=50, generator=_gen(9)).final
    s = toy.mode_summary(samples, RING)
    assert s.covered >= 6 and s.near > 0.3 and s.radius == pytest.approx(2.0, abs=0.2)
    out = toy.as_function(reg)(torch.randn(2000, 2, generator=_gen(10)), torch.full((2000,), 99.0))
    r = toy.mode_summary(out, RING)
    assert r.radius < 0.3 and r.covered == 0 and r.near == 0.0          # the centre: E[x_0]


def test_mode_summary_of_a_collapse_and_of_one_mode():
    assert toy.mode_summary(torch.zeros(100, 2), RING).covered == 0
    one = RING.centres()[:1].expand(100, 2)
    s = toy.mode_summary(one, RING)
    assert s.covered == 1 and s.near == 1.0 and s.distance == pytest.approx(0.0, abs=1e-6)
    assert "1 of 8 modes covered" in s.line()


# ----------------------------------------------------------------------------- the sweep

def _check_sweep(rows, small_gap, large_gap, near_ddim):
    gaps, spreads = [r["gap"] for r in rows], [r["spread"] for r in rows]
    assert gaps[0] < small_gap and gaps[-1] > large_gap
    assert spreads[0] == pytest.approx(0.0, abs=1e-6)                   # t = 0: one step, sigma 0
    assert spreads[-1] > 1.0 and spreads[-1] > 5 * spreads[1]
    assert rows[0]["multimodal"] < 0.01 and rows[-1]["multimodal"] > 0.95
    assert rows[-1]["near_tweedie"] < 0.05 and rows[-1]["near_ddim"] > near_ddim  # mean: between


def test_sweep_gap_and_spread_grow_with_t_for_the_ideal_denoiser():
    x0 = RING.sample(500, _gen(11))
    rows = toy.tweedie_sweep(RING.eps_fn(SCHED), SCHED, x0, (0, 5, 20, 60), generator=_gen(12),
                             ring=RING)
    assert [r["t"] for r in rows] == [0, 5, 20, 60]
    _check_sweep(rows, small_gap=0.01, large_gap=1.0, near_ddim=0.9)
    assert "multimodal" in toy.sweep_table(rows).splitlines()[0]


def test_sweep_gap_grows_with_t_for_the_trained_denoiser(trained):
    x0 = RING.sample(500, _gen(13))
    rows = toy.tweedie_sweep(toy.as_function(trained[0]), SCHED, x0, (0, 5, 20, 60),
                             generator=_gen(14), ring=RING)
    _check_sweep(rows, small_gap=0.05, large_gap=0.8, near_ddim=0.4)


# ----------------------------------------------------------------------------- real poses

def test_reflection_separation_is_what_reflect_in_depth_moves():
    pose = np.random.default_rng(0).normal(0, 0.3, (4, 17, 3))
    d = toy.reflection_separation(pose, [(16, 15), (3, 2)])
    assert d.shape == (4, 2)
    for i in range(4):
        moved = reflect_in_depth(pose[i], 16, 15) - pose[i]
        assert np.linalg.norm(moved[16]) == pytest.approx(d[i, 0])
    with pytest.raises(DataError):
        toy.reflection_separation(pose[0], [(16, 15)])


def test_two_mode_ambiguity_matches_the_posterior_of_two_points():
    """A two-mode ring with (almost) point modes is the two-point prior of the formula."""
    two = toy.GaussianRing(modes=2, radius=1.0, std=1e-3)
    n = 100000
    for t, a in ((10, None), (20, None), (30, None)):
        a = SCHED64.alpha_bar(t)
        x_t = SCHED64.q_sample(two.sample(n, _gen(t), dtype=torch.float64), torch.full((n,), t),
                               torch.randn(n, 2, generator=_gen(t + 50), dtype=torch.float64))
        mc = float((two.posterior_weights(x_t, a).max(-1).values < 0.9).double().mean())
        v = a * two.std ** 2 + 1 - a
        assert toy.two_mode_ambiguity(2 * a.sqrt(), v.sqrt()) == pytest.approx(mc, abs=0.01)
    assert toy.two_mode_ambiguity(10.0, 1.0) < 1e-6 < 0.99 < toy.two_mode_ambiguity(0.01, 1.0)
    with pytest.raises(DataError):
        toy.two_mode_ambiguity(1.0, 0.0)


# ----------------------------------------------------------------------------- the figure

def test_points_view_updates_points_and_titles():
    view = points_view({"data": RING.sample(50), "samples": torch.zeros(50, 2)}, RING.centres())
    view.update({"samples": torch.ones(20, 2)}, titles={"samples": "step 3"})
    assert list(view.trace("samples").x) == [1.0] * 20
    assert view.fig.layout.annotations[1].text == "step 3"
    assert len(view.trace("data/modes").x) == 8
    with pytest.raises(DataError, match="unknown panel"):
        view.update({"regressor": torch.zeros(3, 2)})
