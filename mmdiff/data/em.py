"""Expectation-maximisation for 2D Gaussian mixtures, vectorised over many independent fits.

Two fits serve the GMM files (:mod:`mmdiff.data.gmm`), both diagonal Gaussians in numpy:

- :func:`fit_gmm`: pooled samples (B sets of N equally weighted 2D points, e.g. one joint's
  detection errors over a whole dataset), kernels sorted by weight; some means may be fixed at 0
  (a zero-mean scale mixture).
- :func:`fit_weighted_gmm`: weighted points (B sets of N points with weights, e.g. the pixels of
  one frame's heatmap of one joint), with kernel 0's mean held at an anchor (the detection), the
  way DiffPose's files keep kernel 0 at the detector's output. Initialised deterministically from
  the evidence itself, so the same points give the same kernels.

Per set: weights pi (K,) summing to 1, means mu (K, 2), spreads s (K, 2) (standard deviations,
the unit of the points). With responsibilities r_ik = pi_k N(x_i; mu_k, s_k^2) / sum_k' ...,
point weights w_i (sum 1) and one M-step per iteration:

    pi_k = sum_i w_i r_ik,   mu_k = sum_i w_i r_ik x_i / pi_k,
    s_k^2 = sum_i w_i r_ik (x_i - mu_k)^2 / pi_k       (per axis, at least min_spread^2)
"""
from __future__ import annotations

import numpy as np

from mmdiff.errors import DataError

#: Smallest spread a fitted kernel may have (px at scale 1): keeps EM away from collapse.
MIN_SPREAD_PX = 0.3


def _log_gauss(x, means, spreads):
    """Log density of diagonal Gaussians. x: (B, N, 2); means, spreads: (B, K, 2) -> (B, N, K)."""
    z = (x[:, :, None, :] - means[:, None]) / spreads[:, None]          # (B, N, K, 2)
    return -0.5 * np.sum(z ** 2, -1) - np.sum(np.log(spreads), -1)[:, None] - np.log(2 * np.pi)


def _responsibilities(x, weights, means, spreads):
    """E-step: responsibilities (B, N, K) and per-point log-likelihood (B, N)."""
    log_p = _log_gauss(x, means, spreads) + np.log(np.maximum(weights, 1e-300))[:, None]
    top = log_p.max(-1, keepdims=True)                                  # (B, N, 1)
    log_norm = top + np.log(np.exp(log_p - top).sum(-1, keepdims=True))
    return np.exp(log_p - log_norm), log_norm[..., 0]


# --- pooled samples ---------------------------------------------------------------------------
def _init(x, num_kernels, rng, fixed_means):
    """Deterministic start: fixed kernels at 0, free ones at spread-out samples (k-means++-like),
    spreads growing by 2 per kernel from the robust sd."""
    B, N, _ = x.shape
    centre = np.zeros((B, 2)) if fixed_means else np.median(x, axis=1)  # (B, 2)
    mad = 1.4826 * np.median(np.abs(x - centre[:, None]), axis=1) + 1e-6  # (B, 2) robust sd
    means = np.zeros((B, num_kernels, 2))
    spreads = mad[:, None] * (2.0 ** np.arange(num_kernels))[None, :, None]   # (B, K, 2)
    dist = np.linalg.norm((x - centre[:, None]) / mad[:, None], axis=-1)  # (B, N)
    p = dist ** 2 / np.sum(dist ** 2, axis=1, keepdims=True)
    for k in range(fixed_means, num_kernels):                          # far samples seed outliers
        pick = np.array([rng.choice(N, p=p[b]) for b in range(B)])
        means[:, k] = centre if k == 0 else x[np.arange(B), pick]
    weights = np.full((B, num_kernels), 0.2 / max(1, num_kernels - 1))
    weights[:, 0] = 0.8 if num_kernels > 1 else 1.0
    return weights, means, spreads


def fit_gmm(x: np.ndarray, num_kernels: int = 3, seed: int = 0, iters: int = 100,
            tol: float = 1e-6, fixed_means: int = 0, min_spread: float = MIN_SPREAD_PX):
    """Fit a diagonal Gaussian mixture to each of B sample sets by EM (vectorised over B).

    x: (B, N, 2) samples (e.g. B joints, N scale-normalised errors in px). The first
    ``fixed_means`` kernels keep their mean at 0 (K of them: a zero-mean scale mixture, the
    usual model of a heavy-tailed error); the others are free. Kernels are sorted by decreasing
    weight after the fixed ones. Stops when the mean log-likelihood changes by < tol.
    Same inputs and seed -> identical output. Returns weights (B, K), means (B, K, 2), spreads
    (B, K, 2) (standard deviations, >= min_spread).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] != 2 or x.shape[1] < num_kernels or num_kernels < 1:
        raise DataError(f"fit_gmm expects samples (B, N >= K, 2) and K >= 1; got {x.shape}, "
                         f"K={num_kernels}")
    fixed = int(np.clip(fixed_means, 0, num_kernels))
    weights, means, spreads = _init(x, num_kernels, np.random.default_rng(seed), fixed)
    prev = -np.inf
    for _ in range(iters):
        resp, log_norm = _responsibilities(x, weights, means, spreads)  # (B, N, K) E-step
        nk = resp.sum(1) + 1e-12                                        # (B, K)
        weights = nk / nk.sum(-1, keepdims=True)                        # M-step
        means = np.einsum("bnk,bnc->bkc", resp, x) / nk[..., None]
        means[:, :fixed] = 0.0
        var = np.einsum("bnk,bnkc->bkc", resp, (x[:, :, None] - means[:, None]) ** 2)
        spreads = np.maximum(np.sqrt(var / nk[..., None]), min_spread)
        ll = float(log_norm.mean())
        if abs(ll - prev) < tol:
            break
        prev = ll
    return _sort_kernels(weights, means, spreads, fixed)


def _sort_kernels(weights, means, spreads, fixed):
    """Order kernels: fixed ones first as they are, the others by decreasing weight (when all
    are fixed at 0 they are interchangeable, and all are sorted by weight)."""
    keep = 0 if fixed == weights.shape[1] else fixed
    rest = np.argsort(-weights[:, keep:], axis=1, kind="stable") + keep          # (B, K - keep)
    order = np.concatenate([np.broadcast_to(np.arange(keep), (len(weights), keep)), rest], 1)
    take = np.take_along_axis
    return (take(weights, order, 1), take(means, order[..., None], 1),
            take(spreads, order[..., None], 1))


# --- weighted points, kernel 0 anchored -------------------------------------------------------
def _init_anchored(x, w, anchor, num_kernels, min_spread):
    """Start from the evidence: kernel 0 at the anchor with the spread of the half of the mass
    nearest to it (the main mode), kernel 1 at the heaviest point away from it, kernel 2 (and
    later) broad over all points. x: (B, N, 2); w: (B, N) summing to 1; anchor: (B, 2)."""
    B = len(x)
    d2 = np.sum((x - anchor[:, None]) ** 2, -1)                        # (B, N)
    order = np.argsort(d2, axis=1, kind="stable")
    d2_sorted, w_sorted = np.take_along_axis(d2, order, 1), np.take_along_axis(w, order, 1)
    inner = (np.cumsum(w_sorted, 1) - w_sorted) < 0.5                   # (B, N) nearest half
    wn = w_sorted * inner
    s0 = np.sqrt(np.sum(wn * d2_sorted, 1) / (2 * wn.sum(1) + 1e-12)) + min_spread   # (B,)
    overall = np.sqrt(np.sum(w * d2, 1) / 2) + min_spread               # (B,) rms per axis
    means = np.repeat(anchor[:, None], num_kernels, 1).copy()           # (B, K, 2)
    spreads = np.empty((B, num_kernels, 2))
    spreads[:, 0] = s0[:, None]                                         # (B, 2)
    if num_kernels > 1:
        far = w * (1 - np.exp(-0.5 * d2 / (2 * s0[:, None]) ** 2))      # heavy and away
        means[:, 1] = x[np.arange(B), np.argmax(far, 1)]
        spreads[:, 1] = s0[:, None]
    for k in range(2, num_kernels):
        means[:, k] = np.einsum("bn,bnc->bc", w, x)
        spreads[:, k] = (np.maximum(overall, 2 * s0) * 2.0 ** (k - 1))[:, None]
    weights = np.full((B, num_kernels), 0.3 / max(1, num_kernels - 1))
    weights[:, 0] = 0.7 if num_kernels > 1 else 1.0
    return weights, means, np.maximum(spreads, min_spread[:, None, None])


def _estep_planar(xu, xv, pv, weights, mu_u, mu_v, s_u, s_v):
    """E-step on planar arrays (the set axis B last, so every operation runs over it).

    xu, xv, pv: (N, B) point coordinates and each point's own variance per axis (0 for points;
    a point with variance stands for a Gaussian blob, whose expected log-density under kernel k
    adds -0.5 var (1/s_u^2 + 1/s_v^2)); weights, mu_u, mu_v, s_u, s_v: (K, B).
    Returns responsibilities (K, N, B) and the per-point log-likelihood (N, B)."""
    K = len(weights)
    log_p = np.empty((K,) + xu.shape, dtype=xu.dtype)
    inv_u, inv_v = 1.0 / (s_u * s_u), 1.0 / (s_v * s_v)                 # (K, B)
    const = np.log(np.maximum(weights, 1e-30)) - np.log(s_u * s_v) - np.log(2 * np.pi)
    for k in range(K):
        du, dv = xu - mu_u[k], xv - mu_v[k]                             # (N, B)
        log_p[k] = const[k] - 0.5 * (du * du * inv_u[k] + dv * dv * inv_v[k]
                                     + pv * (inv_u[k] + inv_v[k]))
    top = log_p.max(0)                                                  # (N, B)
    p = np.exp(log_p - top)
    total = p.sum(0)
    return p / total, top + np.log(total)


def fit_weighted_gmm(x: np.ndarray, w: np.ndarray, anchor: np.ndarray, num_kernels: int = 3,
                     iters: int = 30, tol: float = 1e-6, min_spread: float = MIN_SPREAD_PX,
                     init=None, point_var=None):
    """Fit K kernels to each of B weighted point sets by EM, kernel 0's mean held at ``anchor``.

    x: (B, N, 2) points (e.g. heatmap pixel centres, px); w: (B, N) non-negative weights (heatmap
    values; normalised per set here, a set needs some positive weight); anchor: (B, 2) kernel
    0's mean (the detection). point_var: optional (B, N) variance per axis of each point: a
    point then stands for an isotropic Gaussian blob of evidence (a heatmap peak; a pixel has
    pitch^2 / 12), fitted as hierarchical EM does (Vasconcelos & Lippman, NIPS 1998).
    min_spread: a scalar or (B,) floor on every spread, in x's unit. init: optional start
    (weights (B, K), means (B, K, 2), spreads (B, K, 2)), e.g. the peaks of a heatmap; default:
    from the points (:func:`_init_anchored`). Stops when the mean weighted log-likelihood changes
    by < tol (or after ``iters``). Kernels 1.. are sorted by decreasing weight. Deterministic.
    Returns weights (B, K), means (B, K, 2) (means[:, 0] == anchor exactly), spreads (B, K, 2).
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    anchor = np.asarray(anchor, dtype=np.float64)
    B = len(x)
    pv = np.zeros(w.shape) if point_var is None else np.asarray(point_var, dtype=np.float64)
    if (x.ndim != 3 or x.shape[-1] != 2 or w.shape != x.shape[:2] or anchor.shape != (B, 2)
            or pv.shape != w.shape or num_kernels < 1):
        raise DataError(f"fit_weighted_gmm expects points (B, N, 2), weights and point_var "
                         f"(B, N), anchor (B, 2) and K >= 1; got {x.shape}, {w.shape}, "
                         f"{pv.shape}, {anchor.shape}, K={num_kernels}")
    total = w.sum(1, keepdims=True)
    if np.any(w < 0) or np.any(total <= 0) or np.any(pv < 0):
        raise DataError("fit_weighted_gmm: weights must be >= 0 with a positive sum per set, "
                         "point_var >= 0")
    w = w / total                                                       # (B, N) sum 1
    floor = np.broadcast_to(np.asarray(min_spread, dtype=np.float64), (B,))     # (B,)
    x = x - anchor[:, None]                                             # (B, N, 2) around anchor
    if init is None:
        weights, means, spreads = _init_anchored(x, w, np.zeros((B, 2)), num_kernels, floor)
    else:
        weights, means, spreads = (np.array(a, dtype=np.float64) for a in init)
        weights = np.maximum(weights, 1e-3) / np.maximum(weights, 1e-3).sum(-1, keepdims=True)
        means = means - anchor[:, None]
    # planar float32 layout: sets last, (N, B) points and (K, B) kernel parameters (coordinates
    # are relative to the anchor, so single precision loses nothing that matters)
    def planar(a):
        return np.ascontiguousarray(a.T, dtype=np.float32)
    xu, xv, pv, w = (planar(a) for a in (x[..., 0], x[..., 1], pv, w))
    pi, mu_u, mu_v = planar(weights), planar(means[..., 0]), planar(means[..., 1])
    floor = floor.astype(np.float32)
    s_u = np.maximum(planar(spreads[..., 0]), floor)
    s_v = np.maximum(planar(spreads[..., 1]), floor)
    mu_u[0] = mu_v[0] = 0.0                                             # kernel 0 at the anchor
    xu2, xv2 = xu * xu + pv, xv * xv + pv                               # (N, B) second moments
    prev = -np.inf
    for _ in range(iters):
        resp, log_norm = _estep_planar(xu, xv, pv, pi, mu_u, mu_v, s_u, s_v)   # E-step
        rw = resp * w                                                   # (K, N, B) weighted
        nk = rw.sum(1) + 1e-12                                          # (K, B)
        pi = nk / nk.sum(0)                                             # M-step
        first_u, first_v = (rw * xu).sum(1) / nk, (rw * xv).sum(1) / nk
        second_u, second_v = (rw * xu2).sum(1) / nk, (rw * xv2).sum(1) / nk
        mu_u, mu_v = first_u.copy(), first_v.copy()
        mu_u[0] = mu_v[0] = 0.0
        var_u = second_u - 2 * mu_u * first_u + mu_u * mu_u             # E[(x - mean)^2]
        var_v = second_v - 2 * mu_v * first_v + mu_v * mu_v
        s_u = np.maximum(np.sqrt(np.maximum(var_u, 0.0)), floor)
        s_v = np.maximum(np.sqrt(np.maximum(var_v, 0.0)), floor)
        ll = float(np.sum(w * log_norm) / B)
        if abs(ll - prev) < tol:
            break
        prev = ll
    weights = pi.T.astype(np.float64)
    means = np.stack([mu_u.T, mu_v.T], -1).astype(np.float64)          # (B, K, 2)
    spreads = np.stack([s_u.T, s_v.T], -1).astype(np.float64)
    weights, means, spreads = _sort_kernels(weights, means, spreads, 1)
    means = means + anchor[:, None]
    means[:, 0] = anchor                                                # exactly
    return weights, means, spreads
