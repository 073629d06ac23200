"""Gaussian-mixture EM: pooled samples, and weighted per-frame evidence with kernel 0 anchored."""
from __future__ import annotations

import numpy as np
import pytest

from mmdiff.data import em
from mmdiff.errors import DataError


def _mixture_samples(rng, n, weights, means, sds):
    comp = rng.choice(len(weights), n, p=weights)
    return np.asarray(means)[comp] + np.asarray(sds)[comp] * rng.standard_normal((n, 2))


def test_em_recovers_a_known_two_component_mixture():
    rng = np.random.default_rng(0)
    truth = [((0.7, 0.3), ((0, 0), (5, -3)), ((1.0, 2.0), (0.5, 0.5))),
             ((0.5, 0.5), ((-2, 1), (3, 3)), ((0.8, 0.8), (1.5, 0.6)))]
    x = np.stack([_mixture_samples(rng, 4000, *t) for t in truth])      # (2, 4000, 2)
    w, m, s = em.fit_gmm(x, num_kernels=2, seed=0, iters=300, fixed_means=0, min_spread=0.01)
    for b, (tw, tm, ts) in enumerate(truth):
        order = np.argsort([np.linalg.norm(m[b, k] - np.asarray(tm[0])) for k in range(2)])
        assert w[b, order] == pytest.approx(tw, abs=0.03)
        assert np.abs(m[b, order] - np.asarray(tm)).max() < 0.2
        assert s[b, order] == pytest.approx(np.asarray(ts), rel=0.12)


def test_em_scale_mixture_with_means_fixed_at_zero():
    rng = np.random.default_rng(1)
    x = _mixture_samples(rng, 6000, (0.9, 0.1), ((0, 0), (0, 0)), ((2.0, 2.0), (10.0, 10.0)))
    w, m, s = em.fit_gmm(x[None], num_kernels=2, seed=0, iters=300, fixed_means=2)
    assert np.all(m == 0)
    assert w[0] == pytest.approx([0.9, 0.1], abs=0.03)                  # sorted by weight
    assert s[0, :, 0] == pytest.approx([2.0, 10.0], rel=0.12)


def test_em_is_reproducible_and_well_formed():
    rng = np.random.default_rng(2)
    x = rng.standard_t(3, (3, 500, 2))
    w, m, s = em.fit_gmm(x, 3, seed=5, fixed_means=1)
    assert all(np.array_equal(a, b) for a, b in zip((w, m, s), em.fit_gmm(x, 3, seed=5,
                                                                          fixed_means=1)))
    assert np.allclose(w.sum(-1), 1) and np.all(w >= 0)
    assert np.all(m[:, 0] == 0) and np.all(s >= em.MIN_SPREAD_PX)
    assert np.all(np.diff(w[:, 1:], axis=1) <= 0)                        # free kernels sorted


def test_fit_gmm_rejects_bad_shapes():
    with pytest.raises(DataError, match=r"\(B, N >= K, 2\)"):
        em.fit_gmm(np.zeros((10, 2)), 3)


def _grid_evidence(weights, means, spreads, pitch=1.0, half=40):
    """A heatmap of each set's mixture on a pixel grid: points (B, G, 2), weights (B, G) (the
    density times the pixel area), each pixel's own variance (B, G)."""
    ax = (np.arange(-half, half) + 0.5) * pitch
    grid = np.stack(np.meshgrid(ax, ax, indexing="ij"), -1).reshape(-1, 2)   # (G, 2)
    z = (grid[None, None] - means[:, :, None]) / spreads[:, :, None]          # (B, K, G, 2)
    dens = np.exp(-0.5 * np.sum(z ** 2, -1)) / (2 * np.pi * spreads.prod(-1))[..., None]
    w = np.einsum("bk,bkg->bg", weights, dens) * pitch ** 2
    B = len(weights)
    return np.broadcast_to(grid, (B,) + grid.shape), w, np.full(w.shape, pitch ** 2 / 12)


def test_weighted_em_recovers_known_per_frame_mixtures():
    """Every set (frame) has its own mixture; kernel 0 sits at the anchor (0, 0)."""
    rng = np.random.default_rng(0)
    B = 6
    weights = rng.dirichlet((6, 3, 2), B)                               # (B, 3) different per set
    means = np.zeros((B, 3, 2))
    means[:, 1] = rng.uniform(12, 22, (B, 2)) * rng.choice([-1, 1], (B, 2))
    means[:, 2] = rng.uniform(-3, 3, (B, 2))
    spreads = np.stack([rng.uniform(1.5, 3, B), rng.uniform(1.5, 3, B), rng.uniform(8, 10, B)],
                       1)[..., None].repeat(2, -1)                      # (B, 3, 2)
    x, w, pv = _grid_evidence(weights, means, spreads)
    fw, fm, fs = em.fit_weighted_gmm(x, w, np.zeros((B, 2)), 3, iters=500, tol=1e-10,
                                     point_var=pv)
    for b in range(B):
        order = [0] + [1 + int(np.argmin([np.linalg.norm(fm[b, k] - means[b, t])
                                           for k in (1, 2)])) for t in (1, 2)]
        assert sorted(order) == [0, 1, 2]
        assert fw[b, order] == pytest.approx(weights[b], abs=0.03)
        assert np.abs(fm[b, order] - means[b]).max() < 0.6
        assert fs[b, order] == pytest.approx(spreads[b], rel=0.1)
    assert np.array_equal(fm[:, 0], np.zeros((B, 2)))                   # anchored exactly


def test_weighted_em_blobs_at_their_fixed_point_and_anchor_exact():
    """Separated Gaussian blobs (points with their own variance) are their own EM solution."""
    centres = np.array([[[500.0, 300.0], [560.0, 330.0], [500.0, 300.0]]])       # (1, 3, 2)
    heights = np.array([[0.6, 0.3, 0.1]])
    var = np.array([[4.0, 9.0, 400.0]])
    w, m, s = em.fit_weighted_gmm(centres, heights, centres[:, 0], 3, iters=200, tol=0,
                                  point_var=var, init=(heights, centres, np.sqrt(var)[..., None]
                                                        .repeat(2, -1)))
    assert w[0] == pytest.approx([0.6, 0.3, 0.1], abs=0.01)
    assert np.abs(m[0, 1] - [560, 330]).max() < 0.5
    assert s[0, :2, 0] == pytest.approx([2.0, 3.0], rel=0.05)
    assert np.array_equal(m[:, 0], centres[:, 0])


def test_weighted_em_is_deterministic_and_checks_its_input():
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(4, 9, 2)) * 5, rng.uniform(size=(4, 9))
    a = x[:, 0].copy()
    first = em.fit_weighted_gmm(x, w, a, 3)
    assert all(np.array_equal(p, q) for p, q in zip(first, em.fit_weighted_gmm(x, w, a, 3)))
    assert np.allclose(first[0].sum(-1), 1) and np.all(first[2] >= em.MIN_SPREAD_PX)
    assert np.all(np.diff(first[0][:, 1:], axis=1) <= 0)               # kernels 1.. by weight
    with pytest.raises(DataError, match="weights must be >= 0"):
        em.fit_weighted_gmm(x, np.zeros((4, 9)), a, 3)
    with pytest.raises(DataError, match="anchor"):
        em.fit_weighted_gmm(x, w, a[:2], 3)
