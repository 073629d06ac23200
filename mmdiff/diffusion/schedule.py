"""Beta schedules: beta_t, alpha-bar_t and forward noising x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps.

    sched = BetaSchedule.linear(1e-4, 1e-3, 51)      # the paper's: .betas, .alphas_bar, .snr
    x_t = sched.q_sample(x0, t, noise)               # DDPM eq. 4

Timesteps are 0-based as in the reference code (t = 0 .. T-1); ``alpha_bar(-1)`` is 1.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from mmdiff.errors import ConfigError, DataError

SCHEDULE_KINDS = ("linear", "quad", "const", "jsd", "sigmoid", "cosine")


class BetaSchedule:
    """A variance schedule beta_0 .. beta_{T-1} and the quantities derived from it.

    Build one with a named constructor (``BetaSchedule.linear(1e-4, 1e-3, 51)``) or
    ``BetaSchedule.make(kind, beta_start, beta_end, num_timesteps)``. The betas are computed in
    float64 with the reference formulas and then cast to ``dtype`` (float32 by default, as the
    reference does); alpha and alpha-bar are computed in that dtype, so the float32 numbers are
    the reference's to the last bit.

    Attributes (1-D tensors of length T, on the CPU):
        betas       beta_t
        alphas      alpha_t = 1 - beta_t
        alphas_bar  alpha-bar_t = prod_{s<=t} alpha_s (monotone decreasing)
        snr         alpha-bar_t / (1 - alpha-bar_t) (inf where alpha-bar is 1)
    """

    def __init__(self, betas, kind: str = "custom", dtype: torch.dtype = torch.float32):
        betas = torch.as_tensor(np.asarray(betas, dtype=np.float64)).to(dtype)
        if betas.ndim != 1 or len(betas) == 0:
            raise ConfigError(f"BetaSchedule: betas must be a non-empty 1-D sequence, "
                              f"found shape {tuple(betas.shape)}")
        if not torch.isfinite(betas).all() or (betas <= 0).any() or (betas > 1).any():
            raise ConfigError(f"BetaSchedule ({kind}): every beta must lie in (0, 1], found "
                              f"min {betas.min().item():.3g}, max {betas.max().item():.3g}")
        self.kind = kind
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_bar = torch.cumprod(self.alphas, dim=0)
        self.snr = self.alphas_bar / (1.0 - self.alphas_bar)

    # -- constructors (the reference's get_beta_schedule, plus cosine) --

    @classmethod
    def linear(cls, beta_start: float, beta_end: float, num_timesteps: int, **kw) -> "BetaSchedule":
        """beta_t evenly spaced from beta_start to beta_end (the MMDiff setting: 1e-4, 1e-3, 51)."""
        _check_range(beta_start, beta_end, num_timesteps, "linear")
        return cls(np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64), "linear",
                   **kw)

    @classmethod
    def quad(cls, beta_start: float, beta_end: float, num_timesteps: int, **kw) -> "BetaSchedule":
        """sqrt(beta_t) evenly spaced: beta_t = linspace(sqrt(start), sqrt(end), T)^2."""
        _check_range(beta_start, beta_end, num_timesteps, "quad")
        root = np.linspace(beta_start ** 0.5, beta_end ** 0.5, num_timesteps, dtype=np.float64)
        return cls(root ** 2, "quad", **kw)

    @classmethod
    def const(cls, beta: float, num_timesteps: int, **kw) -> "BetaSchedule":
        """beta_t = beta for every t (``make`` passes beta_end, as the reference does)."""
        _check_range(beta, beta, num_timesteps, "const")
        return cls(np.full(num_timesteps, beta, dtype=np.float64), "const", **kw)

    @classmethod
    def jsd(cls, num_timesteps: int, **kw) -> "BetaSchedule":
        """beta_t = 1 / (T - t): 1/T, 1/(T-1), ..., 1. alpha-bar_{T-1} is 0 (pure noise)."""
        _check_range(0.5, 0.5, num_timesteps, "jsd")
        return cls(1.0 / np.linspace(num_timesteps, 1, num_timesteps, dtype=np.float64), "jsd",
                   **kw)

    @classmethod
    def sigmoid(cls, beta_start: float, beta_end: float, num_timesteps: int,
                **kw) -> "BetaSchedule":
        """beta_t = beta_start + (beta_end - beta_start) * sigmoid(linspace(-6, 6, T))."""
        _check_range(beta_start, beta_end, num_timesteps, "sigmoid")
        s = 1.0 / (1.0 + np.exp(-np.linspace(-6.0, 6.0, num_timesteps, dtype=np.float64)))
        return cls(s * (beta_end - beta_start) + beta_start, "sigmoid", **kw)

    @classmethod
    def cosine(cls, num_timesteps: int, s: float = 0.008, max_beta: float = 0.999,
               **kw) -> "BetaSchedule":
        """Nichol & Dhariwal (2021): alpha-bar(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2),
        beta_t = min(1 - alpha-bar(t + 1) / alpha-bar(t), max_beta). Not in the reference."""
        _check_range(0.5, 0.5, num_timesteps, "cosine")
        f = np.cos((np.arange(num_timesteps + 1, dtype=np.float64) / num_timesteps + s) / (1 + s)
                   * math.pi / 2) ** 2
        return cls(np.minimum(1.0 - f[1:] / f[:-1], max_beta), "cosine", **kw)

    @classmethod
    def make(cls, kind: str, beta_start: float = 1e-4, beta_end: float = 1e-3,
             num_timesteps: int = 51, **kw) -> "BetaSchedule":
        """The schedule named ``kind`` (one of :data:`SCHEDULE_KINDS`), as a config names it.

        ``jsd`` and ``cosine`` ignore beta_start / beta_end; ``const`` uses beta_end.
        """
        if kind == "linear":
            return cls.linear(beta_start, beta_end, num_timesteps, **kw)
        if kind == "quad":
            return cls.quad(beta_start, beta_end, num_timesteps, **kw)
        if kind == "const":
            return cls.const(beta_end, num_timesteps, **kw)
        if kind == "jsd":
            return cls.jsd(num_timesteps, **kw)
        if kind == "sigmoid":
            return cls.sigmoid(beta_start, beta_end, num_timesteps, **kw)
        if kind == "cosine":
            return cls.cosine(num_timesteps, **kw)
        raise ConfigError(f"beta schedule: expected one of {', '.join(SCHEDULE_KINDS)}, "
                          f"found {kind!r}")

    @classmethod
    def from_config(cls, cfg, **kw) -> "BetaSchedule":
        """The training schedule a config's ``diffusion`` section names: ``cfg`` has
        ``beta_schedule``, ``beta_start``, ``beta_end`` and ``num_timesteps``
        (:class:`mmdiff.config.DiffusionConfig`, whose defaults are the paper's: linear
        1e-4 .. 1e-3 over 51 steps)."""
        return cls.make(cfg.beta_schedule, cfg.beta_start, cfg.beta_end, cfg.num_timesteps, **kw)

    # -- reading the schedule --

    @property
    def num_timesteps(self) -> int:
        """T, the number of diffusion steps."""
        return len(self.betas)

    def alpha_bar(self, t) -> torch.Tensor:
        """alpha-bar at timestep(s) ``t`` (int or integer tensor), with alpha-bar_{-1} = 1.

        This is the reference's ``compute_alpha``: alpha-bar with a leading 1 prepended, read at
        t + 1. Returns a tensor of t's shape, in the schedule's dtype, on t's device.
        """
        t = torch.as_tensor(t)
        if t.is_floating_point():
            t = t.long()
        if ((t < -1) | (t >= self.num_timesteps)).any():
            raise ConfigError(f"timestep out of range: expected -1 <= t < {self.num_timesteps}, "
                              f"found {t.min().item()} .. {t.max().item()}")
        padded = torch.cat([torch.ones(1, dtype=self.alphas_bar.dtype), self.alphas_bar])
        return padded.to(t.device)[t + 1]

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward noising, DDPM eq. 4: x_t = sqrt(alpha-bar_t) x_0 + sqrt(1 - alpha-bar_t) eps.

        x0: (B, ...) clean samples, e.g. (B, J, 5) uvxyz. t: (B,) integer timesteps in [0, T).
        noise: eps of x0's shape, already scaled per channel (:func:`scaled_noise`) or per joint
        (:func:`gmm_noise`). Returns x_t (B, ...) in x0's dtype; the inputs are not modified.
        """
        if noise.shape != x0.shape:
            raise DataError(f"q_sample: noise must have x0's shape {tuple(x0.shape)}, "
                            f"found {tuple(noise.shape)}")
        t = torch.as_tensor(t, device=x0.device)
        if t.ndim != 1 or len(t) != x0.shape[0]:
            raise DataError(f"q_sample: t must be (B,) = ({x0.shape[0]},), found {tuple(t.shape)}")
        if ((t < 0) | (t >= self.num_timesteps)).any():
            raise ConfigError(f"q_sample: timesteps must lie in [0, {self.num_timesteps}), "
                              f"found {t.min().item()} .. {t.max().item()}")
        a = self.alphas_bar.to(x0.device)[t.long()].to(x0.dtype)        # (B,)
        a = a.reshape((-1,) + (1,) * (x0.ndim - 1))                     # (B, 1, ..., 1)
        return x0 * a.sqrt() + noise * (1.0 - a).sqrt()

    def to_dict(self) -> dict[str, list]:
        """Plain lists for printing and plotting: t, beta, alpha, alpha_bar, snr."""
        return {"kind": self.kind, "t": list(range(self.num_timesteps)),
                "beta": self.betas.tolist(), "alpha": self.alphas.tolist(),
                "alpha_bar": self.alphas_bar.tolist(), "snr": self.snr.tolist()}

    def __len__(self) -> int:
        return self.num_timesteps

    def __repr__(self) -> str:
        b, a = self.betas, self.alphas_bar
        return (f"BetaSchedule({self.kind}, T={self.num_timesteps}, beta {b[0].item():.4g} .. "
                f"{b[-1].item():.4g}, alpha_bar {a[0].item():.6g} .. {a[-1].item():.6g})")


def _check_range(beta_start, beta_end, num_timesteps, kind):
    if not isinstance(num_timesteps, (int, np.integer)) or isinstance(num_timesteps, bool) \
            or num_timesteps < 1:
        raise ConfigError(f"{kind} schedule: num_timesteps must be a positive integer, "
                          f"found {num_timesteps!r}")
    for name, v in (("beta_start", beta_start), ("beta_end", beta_end)):
        if not 0 < v <= 1:
            raise ConfigError(f"{kind} schedule: {name} must lie in (0, 1], found {v!r}")
