"""Beta schedules, forward noising q(x_t | x_0) and the DDIM sampler.

The diffusion runs over "uvxyz" poses: (B, J, 5) with the normalised 2D joint (u, v) in the first
two channels and the root-relative 3D joint (x, y, z, metres) in the last three.

Variable names -> paper symbols (DDPM: Ho et al. 2020; DDIM: Song et al. 2021)

    ==================  ===========================  ==========================================
    code                symbol                       meaning
    ==================  ===========================  ==========================================
    ``betas[t]``        beta_t                       noise variance added at step t
    ``alphas[t]``       alpha_t = 1 - beta_t
    ``alphas_bar[t]``   alpha-bar_t = prod_{s<=t}    signal kept after t+1 forward steps
                        alpha_s
    ``snr[t]``          alpha-bar_t / (1-alpha-bar)  signal-to-noise ratio
    ``x0``              x_0                          clean uvxyz pose
    ``x_t``             x_t                          noisy pose at timestep t
    ``noise``           epsilon                      forward noise, N(0, diag(scale^2))
    ``eps_hat``         epsilon_theta(x_t, t)        the denoiser's estimate of epsilon
    ``x0_hat``          f_theta(x_t) (DDIM eq. 9)    predicted x_0
    ``x_prev``          x_{t_prev}                   the sample one DDIM step later
    ``eta``             eta (DDIM eq. 16)            0 = deterministic DDIM, 1 = DDPM-like
    ``sigma``           sigma_t (DDIM eq. 16)        std of the fresh noise of a step
    ==================  ===========================  ==========================================

Timesteps are 0-based as in the reference code: t = 0 .. T-1, and ``alphas_bar[t]`` already
includes step t. The DDIM step after the last visited timestep goes to t_prev = -1, where
alpha-bar is 1 (the reference prepends a 1 to alpha-bar), so the final sample is x0_hat.

Noise is not isotropic: the reference scales the Gaussian per channel, 0.1 for u, v and 1 for
x, y, z (:data:`DEFAULT_NOISE_SCALE`); DiffPose instead scales u, v per joint by the spread of a
Gaussian-mixture kernel of the 2D detection (:func:`gmm_noise`). ``q_sample`` takes the noise
already scaled, so both kinds go through the same formula.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from mmdiff.errors import ConfigError, DataError

__all__ = ["DEFAULT_NOISE_SCALE", "SCHEDULE_KINDS", "SKIP_TYPES", "BetaSchedule",
           "scaled_noise", "gmm_kernel_choice", "gmm_noise_scale", "gmm_noise",
           "antithetic_timesteps", "DDIMStepOutput", "DDIMTrajectory", "DDIMSampler"]

#: per-channel std of the forward noise (u, v, x, y, z), as the reference trains with
DEFAULT_NOISE_SCALE = (0.1, 0.1, 1.0, 1.0, 1.0)
SCHEDULE_KINDS = ("linear", "quad", "const", "jsd", "sigmoid", "cosine")
SKIP_TYPES = ("uniform", "quad")


# ----------------------------------------------------------------------------- beta schedules

class BetaSchedule:
    """A variance schedule beta_0 .. beta_{T-1} and the quantities derived from it.

    Build one with a named constructor (``BetaSchedule.linear(1e-4, 1e-3, 51)``) or
    ``BetaSchedule.make(kind, beta_start, beta_end, num_steps)``. The betas are computed in
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
    def linear(cls, beta_start: float, beta_end: float, num_steps: int, **kw) -> "BetaSchedule":
        """beta_t evenly spaced from beta_start to beta_end (the MMDiff setting: 1e-4, 1e-3, 51)."""
        _check_range(beta_start, beta_end, num_steps, "linear")
        return cls(np.linspace(beta_start, beta_end, num_steps, dtype=np.float64), "linear", **kw)

    @classmethod
    def quad(cls, beta_start: float, beta_end: float, num_steps: int, **kw) -> "BetaSchedule":
        """sqrt(beta_t) evenly spaced: beta_t = linspace(sqrt(start), sqrt(end), T)^2."""
        _check_range(beta_start, beta_end, num_steps, "quad")
        root = np.linspace(beta_start ** 0.5, beta_end ** 0.5, num_steps, dtype=np.float64)
        return cls(root ** 2, "quad", **kw)

    @classmethod
    def const(cls, beta: float, num_steps: int, **kw) -> "BetaSchedule":
        """beta_t = beta for every t (``make`` passes beta_end, as the reference does)."""
        _check_range(beta, beta, num_steps, "const")
        return cls(np.full(num_steps, beta, dtype=np.float64), "const", **kw)

    @classmethod
    def jsd(cls, num_steps: int, **kw) -> "BetaSchedule":
        """beta_t = 1 / (T - t): 1/T, 1/(T-1), ..., 1. alpha-bar_{T-1} is 0 (pure noise)."""
        _check_range(0.5, 0.5, num_steps, "jsd")
        return cls(1.0 / np.linspace(num_steps, 1, num_steps, dtype=np.float64), "jsd", **kw)

    @classmethod
    def sigmoid(cls, beta_start: float, beta_end: float, num_steps: int, **kw) -> "BetaSchedule":
        """beta_t = beta_start + (beta_end - beta_start) * sigmoid(linspace(-6, 6, T))."""
        _check_range(beta_start, beta_end, num_steps, "sigmoid")
        s = 1.0 / (1.0 + np.exp(-np.linspace(-6.0, 6.0, num_steps, dtype=np.float64)))
        return cls(s * (beta_end - beta_start) + beta_start, "sigmoid", **kw)

    @classmethod
    def cosine(cls, num_steps: int, s: float = 0.008, max_beta: float = 0.999,
               **kw) -> "BetaSchedule":
        """Nichol & Dhariwal (2021): alpha-bar(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2),
        beta_t = min(1 - alpha-bar(t + 1) / alpha-bar(t), max_beta). Not in the reference."""
        _check_range(0.5, 0.5, num_steps, "cosine")
        f = np.cos((np.arange(num_steps + 1, dtype=np.float64) / num_steps + s) / (1 + s)
                   * math.pi / 2) ** 2
        return cls(np.minimum(1.0 - f[1:] / f[:-1], max_beta), "cosine", **kw)

    @classmethod
    def make(cls, kind: str, beta_start: float = 1e-4, beta_end: float = 1e-3,
             num_steps: int = 51, **kw) -> "BetaSchedule":
        """The schedule named ``kind`` (one of :data:`SCHEDULE_KINDS`), as a config names it.

        ``jsd`` and ``cosine`` ignore beta_start / beta_end; ``const`` uses beta_end.
        """
        if kind == "linear":
            return cls.linear(beta_start, beta_end, num_steps, **kw)
        if kind == "quad":
            return cls.quad(beta_start, beta_end, num_steps, **kw)
        if kind == "const":
            return cls.const(beta_end, num_steps, **kw)
        if kind == "jsd":
            return cls.jsd(num_steps, **kw)
        if kind == "sigmoid":
            return cls.sigmoid(beta_start, beta_end, num_steps, **kw)
        if kind == "cosine":
            return cls.cosine(num_steps, **kw)
        raise ConfigError(f"beta schedule: expected one of {', '.join(SCHEDULE_KINDS)}, "
                          f"found {kind!r}")

    @classmethod
    def from_config(cls, cfg, **kw) -> "BetaSchedule":
        """The training schedule a config's ``diffusion`` section names: ``cfg`` has
        ``beta_schedule``, ``beta_start``, ``beta_end`` and ``num_steps``
        (:class:`mmdiff.config.DiffusionConfig`, whose defaults are the paper's: linear
        1e-4 .. 1e-3 over 51 steps)."""
        return cls.make(cfg.beta_schedule, cfg.beta_start, cfg.beta_end, cfg.num_steps, **kw)

    # -- reading the schedule --

    @property
    def num_steps(self) -> int:
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
        if ((t < -1) | (t >= self.num_steps)).any():
            raise ConfigError(f"timestep out of range: expected -1 <= t < {self.num_steps}, "
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
        if ((t < 0) | (t >= self.num_steps)).any():
            raise ConfigError(f"q_sample: timesteps must lie in [0, {self.num_steps}), "
                              f"found {t.min().item()} .. {t.max().item()}")
        a = self.alphas_bar.to(x0.device)[t.long()].to(x0.dtype)        # (B,)
        a = a.reshape((-1,) + (1,) * (x0.ndim - 1))                     # (B, 1, ..., 1)
        return x0 * a.sqrt() + noise * (1.0 - a).sqrt()

    def to_dict(self) -> dict[str, list]:
        """Plain lists for printing and plotting: t, beta, alpha, alpha_bar, snr."""
        return {"kind": self.kind, "t": list(range(self.num_steps)),
                "beta": self.betas.tolist(), "alpha": self.alphas.tolist(),
                "alpha_bar": self.alphas_bar.tolist(), "snr": self.snr.tolist()}

    def __len__(self) -> int:
        return self.num_steps

    def __repr__(self) -> str:
        b, a = self.betas, self.alphas_bar
        return (f"BetaSchedule({self.kind}, T={self.num_steps}, beta {b[0].item():.4g} .. "
                f"{b[-1].item():.4g}, alpha_bar {a[0].item():.6g} .. {a[-1].item():.6g})")


def _check_range(beta_start, beta_end, num_steps, kind):
    if not isinstance(num_steps, (int, np.integer)) or isinstance(num_steps, bool) \
            or num_steps < 1:
        raise ConfigError(f"{kind} schedule: num_steps must be a positive integer, "
                          f"found {num_steps!r}")
    for name, v in (("beta_start", beta_start), ("beta_end", beta_end)):
        if not 0 < v <= 1:
            raise ConfigError(f"{kind} schedule: {name} must lie in (0, 1], found {v!r}")


# ----------------------------------------------------------------------------- noise

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


def gmm_kernel_choice(gmm: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pick one mixture kernel per joint with probability equal to its weight (DiffPose).

    gmm: (B, J, K, 5) with (weight, mean u, mean v, spread u, spread v) on the last axis;
    weights need not be normalised. Returns (B, J) int64 kernel indices on gmm's device.
    """
    _check_gmm(gmm)
    w = gmm[..., 0].double()                                             # (B, J, K)
    cdf = (w / w.sum(-1, keepdim=True)).cumsum(-1)                       # (B, J, K)
    where = generator.device if generator is not None else gmm.device
    u = torch.rand(w.shape[:-1] + (1,), generator=generator, device=where,
                   dtype=torch.float64).to(gmm.device)                   # (B, J, 1)
    return (cdf < u).sum(-1).clamp(max=w.shape[-1] - 1)                  # (B, J) inverse CDF


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


def antithetic_timesteps(batch: int, num_steps: int,
                         generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Training timesteps drawn in antithetic pairs (t, T-1-t), as the reference does.

    The first ceil(B/2) entries are uniform on [0, T); entry ceil(B/2) + i is T-1 minus entry i
    (the last partner is dropped when B is odd). Pairing a low-noise with a high-noise step
    lowers the variance of the batch loss. Returns (B,) int64.
    """
    if batch < 1 or num_steps < 1:
        raise ConfigError(f"antithetic_timesteps: batch and num_steps must be >= 1, "
                          f"found {batch}, {num_steps}")
    half = (batch + 1) // 2
    where = generator.device if generator is not None else device
    t = torch.randint(0, num_steps, (half,), generator=generator, device=where)
    return torch.cat([t, num_steps - 1 - t])[:batch].to(device)         # (B,)


# ----------------------------------------------------------------------------- DDIM

@dataclass(frozen=True)
class DDIMStepOutput:
    """One DDIM step: ``x_prev`` the sample at t_prev, ``x0_hat`` the x_0 predicted at t."""
    x_prev: torch.Tensor
    x0_hat: torch.Tensor


@dataclass
class DDIMTrajectory:
    """A whole DDIM run: ``xs`` = [x_T, ..., x_final] (len steps + 1), ``x0_hats`` one per
    step, ``timesteps`` the t of each step in visiting order."""
    xs: list[torch.Tensor] = field(default_factory=list)
    x0_hats: list[torch.Tensor] = field(default_factory=list)
    timesteps: list[int] = field(default_factory=list)

    @property
    def final(self) -> torch.Tensor:
        return self.xs[-1]


class DDIMSampler:
    """Generalised DDIM steps (Song et al. 2021) over a sub-sequence of a training schedule.

    Args:
        schedule: the training :class:`BetaSchedule` (T steps).
        num_inference_steps: how many timesteps to visit (the reference's ``test_timesteps``).
        schedule_steps: S <= T, the leading part of the schedule they are spread over (the
            reference's ``test_num_diffusion_timesteps``; MMDiff uses 2 steps of S = 12).
        eta: 0 = deterministic DDIM; > 0 adds fresh noise of std eta * sigma_t (eq. 16).
        skip: how the visited timesteps are spread, exactly as the reference computes them:
            ``"uniform"``: range(0, S, S // n) (so n divides S for exactly n steps; otherwise
            the range has more entries, as in the reference);
            ``"quad"``: int(linspace(0, sqrt(0.8 S), n)^2) (may repeat a timestep for small S;
            a repeated step leaves the sample unchanged, as in the reference).
        noise_scale: per-channel std of the fresh noise when eta > 0; None = unit Gaussian as
            the reference draws it.

    ``timesteps()`` lists them in visiting order (largest first); ``pairs()`` gives (t, t_prev)
    with t_prev = -1 after the last, where alpha-bar is 1 and x_prev = x0_hat.
    """

    def __init__(self, schedule: BetaSchedule, num_inference_steps: int = 2,
                 schedule_steps: int = 12, eta: float = 0.0, skip: str = "uniform",
                 noise_scale=None):
        if not isinstance(schedule, BetaSchedule):
            raise ConfigError(f"DDIMSampler: schedule must be a BetaSchedule, "
                              f"found {type(schedule).__name__}")
        for name, v in (("num_inference_steps", num_inference_steps),
                        ("schedule_steps", schedule_steps)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"DDIMSampler: {name} must be a positive integer, found {v!r}")
        if schedule_steps > schedule.num_steps:
            raise ConfigError(f"DDIMSampler: schedule_steps ({schedule_steps}) exceeds the "
                              f"schedule's {schedule.num_steps} steps")
        if num_inference_steps > schedule_steps:
            raise ConfigError(f"DDIMSampler: num_inference_steps ({num_inference_steps}) exceeds "
                              f"schedule_steps ({schedule_steps})")
        if not eta >= 0:
            raise ConfigError(f"DDIMSampler: eta must be >= 0, found {eta!r}")
        if skip not in SKIP_TYPES:
            raise ConfigError(f"DDIMSampler: skip must be one of {SKIP_TYPES}, found {skip!r}")
        self.schedule = schedule
        self.num_inference_steps = int(num_inference_steps)
        self.schedule_steps = int(schedule_steps)
        self.eta = float(eta)
        self.skip = skip
        self.noise_scale = noise_scale
        self._seq = self._sequence()
        if (schedule.alpha_bar(torch.tensor(self._seq)) <= 0).any():
            raise ConfigError(f"DDIMSampler: alpha-bar is 0 at a visited timestep of {self._seq} "
                              f"({schedule.kind} schedule); x_0 cannot be predicted there")

    def _sequence(self) -> list[int]:
        """The visited timesteps in increasing order (the reference's ``seq``)."""
        n, S = self.num_inference_steps, self.schedule_steps
        if self.skip == "uniform":
            return list(range(0, S, S // n))
        return [int(s) for s in np.linspace(0, np.sqrt(S * 0.8), n) ** 2]

    def timesteps(self) -> list[int]:
        """Visited timesteps, in visiting order: e.g. [6, 0] for 2 of 12."""
        return list(reversed(self._seq))

    def pairs(self) -> list[tuple[int, int]]:
        """(t, t_prev) for each step in visiting order: e.g. [(6, 0), (0, -1)] for 2 of 12."""
        ts = self.timesteps()
        return list(zip(ts, ts[1:] + [-1]))

    def step(self, eps_hat: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor,
             generator: torch.Generator | None = None) -> DDIMStepOutput:
        """One generalised DDIM step from x_t to x_{t_prev}.

        eps_hat, x_t: (B, ...) of one shape, e.g. (B, J, 5); t, t_prev: ints with
        -1 <= t_prev <= t < T and t >= 0 (t_prev = t, a repeated quad timestep, is a no-op).
        Returns :class:`DDIMStepOutput` (x_prev, x0_hat), both of x_t's shape. The fresh
        noise (eta > 0 only) is drawn from ``generator``.
        """
        if eps_hat.shape != x_t.shape:
            raise DataError(f"DDIMSampler.step: eps_hat {tuple(eps_hat.shape)} and x_t "
                            f"{tuple(x_t.shape)} must have one shape")
        if not (-1 <= t_prev <= t < self.schedule.num_steps and t >= 0):
            raise ConfigError(f"DDIMSampler.step: need -1 <= t_prev <= t < "
                              f"{self.schedule.num_steps}, found t={t}, t_prev={t_prev}")
        # 1. alpha-bar at t and at t_prev (1 when t_prev = -1)
        a_t = self.schedule.alpha_bar(t).to(x_t.device, x_t.dtype)
        a_prev = self.schedule.alpha_bar(t_prev).to(x_t.device, x_t.dtype)
        # 2. predicted x_0, DDIM eq. 12 ("predicted x_0"), i.e. eq. 9 solved for x_0
        x0_hat = (x_t - eps_hat * (1 - a_t).sqrt()) / a_t.sqrt()
        # 3. sigma_t, DDIM eq. 16: eta * sqrt((1 - a_prev) / (1 - a_t)) * sqrt(1 - a_t / a_prev)
        sigma = self.eta * ((1 - a_t / a_prev) * (1 - a_prev) / (1 - a_t)).sqrt()
        # 4. "direction pointing to x_t", DDIM eq. 12: sqrt(1 - a_prev - sigma^2) * eps_hat
        direction = ((1 - a_prev) - sigma ** 2).sqrt() * eps_hat
        # 5. x_{t_prev} = sqrt(a_prev) * x0_hat + direction + sigma * z, DDIM eq. 12
        x_prev = a_prev.sqrt() * x0_hat + direction
        if self.eta > 0:
            scale = 1.0 if self.noise_scale is None else self.noise_scale
            z = scaled_noise(x_t.shape, torch.as_tensor(scale).expand(x_t.shape[-1:]),
                             generator, x_t.device, x_t.dtype)
            x_prev = x_prev + sigma * z
        return DDIMStepOutput(x_prev=x_prev, x0_hat=x0_hat)

    def sample(self, model_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
               x_T: torch.Tensor, generator: torch.Generator | None = None,
               return_trajectory: bool = False):
        """Run every step from x_T.

        model_fn(x_t (B, ...), t (B,) float timesteps) -> eps_hat (B, ...). x_T: (B, ...), the
        sample at the first visited timestep (the reference starts from the lifted uvxyz pose).
        Returns the final sample (B, ...), or a :class:`DDIMTrajectory` when
        ``return_trajectory``. x_T is not modified.
        """
        traj = DDIMTrajectory(xs=[x_T])
        x = x_T
        for t, t_prev in self.pairs():
            t_batch = torch.full((x.shape[0],), float(t), device=x.device)  # (B,) as the reference
            out = self.step(model_fn(x, t_batch), t, t_prev, x, generator=generator)
            x = out.x_prev
            if return_trajectory:
                traj.xs.append(x)
                traj.x0_hats.append(out.x0_hat)
                traj.timesteps.append(t)
        return traj if return_trajectory else x

    def __repr__(self) -> str:
        return (f"DDIMSampler({self.num_inference_steps} of {self.schedule_steps} steps, "
                f"skip={self.skip}, eta={self.eta}, timesteps={self.timesteps()}, "
                f"{self.schedule!r})")
