"""The forward noise eps and the training timesteps.

The reference scales a standard Gaussian per channel (0.1 for u, v and 1 for x, y, z:
:data:`DEFAULT_NOISE_SCALE`); DiffPose scales u, v per joint by the spread of a Gaussian-mixture
kernel of the 2D detection, drawn by its weight (:func:`gmm_noise`). Training timesteps come in
antithetic pairs (t, T-1-t) (:func:`antithetic_timesteps`). All draws take an explicit
``torch.Generator``.
"""
from __future__ import annotations

from typing import Sequence

import torch

from mmdiff.errors import ConfigError, DataError

#: per-channel std of the forward noise (u, v, x, y, z), as the reference trains with
DEFAULT_NOISE_SCALE = (0.1, 0.1, 1.0, 1.0, 1.0)


def _randn(shape, generator, device, dtype) -> torch.Tensor:
    """Standard normal draws made on the generator's device, then moved to ``device``."""
    where = generator.device if generator is not None else device
    return torch.randn(shape, generator=generator, device=where, dtype=dtype).to(device)


def scaled_noise(shape: Sequence[int], scale=DEFAULT_NOISE_SCALE,
                 generator: torch.Generator | None = None, device=None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Gaussian noise with a per-channel standard deviation.

    shape: (..., C); scale: (C,) stds (default 0.1 for u, v and 1 for x, y, z) or a tensor
    broadcastable to ``shape`` (e.g. per joint). Returns eps of ``shape`` on ``device``.
    """
    scale = torch.as_tensor(scale, dtype=dtype, device=device)
    try:
        torch.broadcast_shapes(tuple(shape), tuple(scale.shape))
    except RuntimeError:
        raise DataError(f"scaled_noise: scale of shape {tuple(scale.shape)} does not broadcast "
                        f"to the noise shape {tuple(shape)}") from None
    return _randn(tuple(shape), generator, device, dtype) * scale


def _check_gmm(gmm: torch.Tensor) -> None:
    if gmm.ndim != 4 or gmm.shape[-1] != 5:
        raise DataError(f"gmm: expected (B, J, K, 5) = (weight, mean u, mean v, spread u, "
                        f"spread v), found {tuple(gmm.shape)}")
    w = gmm[..., 0]
    if (w < 0).any() or not torch.isfinite(w).all() or (w.sum(-1) <= 0).any():
        raise DataError("gmm: kernel weights (gmm[..., 0]) must be finite, non-negative and "
                        "have a positive sum for every joint")


def pick_kernels(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF choice of one mixture kernel per joint, given uniforms.

    weights: (..., K) non-negative kernel weights (need not sum to 1); u: (...) uniforms in
    [0, 1). Kernel k is chosen when cumsum(w)_{k-1} <= u * sum(w) < cumsum(w)_k, i.e. with
    probability w_k / sum(w). Returns (...) int64 indices. The training data
    (:class:`mmdiff.data.PoseDataset`, counter-based uniforms) and :func:`gmm_kernel_choice`
    (a generator's uniforms) both draw through here.
    """
    cum = weights.double().cumsum(-1)                                    # (..., K)
    target = u.double() * cum[..., -1]                                   # (...)
    k = (cum <= target[..., None]).sum(-1)                               # (...)
    return k.clamp(max=weights.shape[-1] - 1)


def gmm_kernel_choice(gmm: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick one mixture kernel per joint with probability equal to its weight (DiffPose).

    gmm: (B, J, K, 5) with (weight, mean u, mean v, spread u, spread v) on the last axis;
    weights need not be normalised. Returns (B, J) int64 kernel indices on gmm's device.
    """
    _check_gmm(gmm)
    where = generator.device if generator is not None else gmm.device
    u = torch.rand(gmm.shape[:-2], generator=generator, device=where,
                   dtype=torch.float64).to(gmm.device)                   # (B, J)
    return pick_kernels(gmm[..., 0], u)


def gmm_noise_scale(gmm: torch.Tensor, generator: torch.Generator | None = None,
                    xyz_scale=DEFAULT_NOISE_SCALE[2:]) -> torch.Tensor:
    """Per-joint noise stds from a 2D Gaussian mixture (DiffPose's PoseGenerator_gmm).

    For every joint one kernel is drawn by weight (:func:`gmm_kernel_choice`); its spread
    (normalised units) is the std of the u, v noise, and ``xyz_scale`` (3,) that of x, y, z.
    gmm: (B, J, K, 5). Returns (B, J, 5) stds (spread u, spread v, *xyz_scale).
    """
    k = gmm_kernel_choice(gmm, generator)                                # (B, J)
    idx = k[..., None, None].expand(*k.shape, 1, 5)                      # (B, J, 1, 5)
    kernel = gmm.gather(2, idx).squeeze(2)                               # (B, J, 5)
    xyz = torch.as_tensor(xyz_scale, dtype=gmm.dtype, device=gmm.device)
    return torch.cat([kernel[..., 3:5], xyz.expand(*k.shape, 3)], dim=-1)  # (B, J, 5)


def gmm_noise(gmm: torch.Tensor, generator: torch.Generator | None = None,
              xyz_scale=DEFAULT_NOISE_SCALE[2:]) -> torch.Tensor:
    """DiffPose's GMM noise: N(0, 1) scaled by :func:`gmm_noise_scale`. gmm: (B, J, K, 5).

    Returns eps (B, J, 5). The kernels are drawn first, then the Gaussian, from one generator.
    """
    scale = gmm_noise_scale(gmm, generator, xyz_scale)                   # (B, J, 5)
    return _randn(scale.shape, generator, gmm.device, gmm.dtype) * scale


ANTITHETIC_DRAWS = ("reference", "balanced")


def antithetic_timesteps(batch: int, num_timesteps: int, generator: torch.Generator | None = None,
                         device=None, draws: str = "reference") -> torch.Tensor:
    """Training timesteps drawn in antithetic pairs (t, T-1-t).

    The first n entries are uniform on [0, T); entry n + i is T-1 minus entry i; the result is
    cut to B. ``draws``: "reference" takes n = B // 2 + 1 as the reference does (B = 1024: 513
    draws and 511 partners); "balanced" n = ceil(B / 2) (512 and 512). Pairing a low-noise with
    a high-noise step lowers the variance of the batch loss. Returns (B,) int64.
    """
    if batch < 1 or num_timesteps < 1:
        raise ConfigError(f"antithetic_timesteps: batch and num_timesteps must be >= 1, "
                          f"found {batch}, {num_timesteps}")
    if draws not in ANTITHETIC_DRAWS:
        raise ConfigError(f"train.antithetic_draws: expected one of {ANTITHETIC_DRAWS}, "
                          f"found {draws!r}")
    half = batch // 2 + 1 if draws == "reference" else (batch + 1) // 2
    where = generator.device if generator is not None else device
    t = torch.randint(0, num_timesteps, (half,), generator=generator, device=where)
    return torch.cat([t, num_timesteps - 1 - t])[:batch].to(device)         # (B,)
