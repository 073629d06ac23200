"""The DDIM sampler (Song et al. 2021): the reverse process over a sub-sequence of timesteps.

    sampler = DDIMSampler(schedule, steps=2, span=12, eta=0.0)
    for t, t_prev in sampler.pairs():                       # (6, 0), (0, -1)
        out = sampler.step(eps_hat, t, t_prev, x_t)         # out.x_prev, out.x0_hat

The step after the last visited timestep goes to t_prev = -1, where alpha-bar is 1, so the final
sample is x0_hat.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from mmdiff.diffusion.noise import scaled_noise
from mmdiff.diffusion.schedule import BetaSchedule
from mmdiff.errors import ConfigError, DataError

SKIP_TYPES = ("uniform", "quad")


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
        steps: how many timesteps to visit (the reference's ``test_timesteps``).
        span: S <= T, the leading part of the schedule they are spread over (the
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

    def __init__(self, schedule: BetaSchedule, steps: int = 2,
                 span: int = 12, eta: float = 0.0, skip: str = "uniform",
                 noise_scale=None):
        if not isinstance(schedule, BetaSchedule):
            raise ConfigError(f"DDIMSampler: schedule must be a BetaSchedule, "
                              f"found {type(schedule).__name__}")
        for name, v in (("steps", steps), ("span", span)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"DDIMSampler: {name} must be a positive integer, found {v!r}")
        if span > schedule.num_timesteps:
            raise ConfigError(f"DDIMSampler: span ({span}) exceeds the schedule's "
                              f"{schedule.num_timesteps} timesteps")
        if steps > span:
            raise ConfigError(f"DDIMSampler: steps ({steps}) exceeds span ({span})")
        if not eta >= 0:
            raise ConfigError(f"DDIMSampler: eta must be >= 0, found {eta!r}")
        if skip not in SKIP_TYPES:
            raise ConfigError(f"DDIMSampler: skip must be one of {SKIP_TYPES}, found {skip!r}")
        self.schedule = schedule
        self.steps = int(steps)
        self.span = int(span)
        self.eta = float(eta)
        self.skip = skip
        self.noise_scale = noise_scale
        self._seq = self._sequence()
        if (schedule.alpha_bar(torch.tensor(self._seq)) <= 0).any():
            raise ConfigError(f"DDIMSampler: alpha-bar is 0 at a visited timestep of {self._seq} "
                              f"({schedule.kind} schedule); x_0 cannot be predicted there")

    @classmethod
    def from_config(cls, diffusion, sampler) -> "DDIMSampler":
        """The sampler of a config: ``DDIMSampler(BetaSchedule.from_config(cfg.diffusion),
        **cfg.sampler)`` (steps, span, eta, skip)."""
        return cls(BetaSchedule.from_config(diffusion), steps=sampler.steps, span=sampler.span,
                   eta=sampler.eta, skip=sampler.skip)

    @classmethod
    def starting_at(cls, schedule: BetaSchedule, t_start: int, steps: int = 2,
                    eta: float = 0.0, noise_scale=None) -> "DDIMSampler":
        """A sampler whose first visited timestep is ``t_start``: n timesteps spread evenly from
        t_start down to 0, ``round(linspace(t_start, 0, n))`` (distinct; n = 1 visits t_start only). For t_start = 6, n = 2
        this is the paper's [6, 0] (2 of 12). t_start: 0 <= t_start < T; 1 <= n <= t_start + 1.
        """
        if not isinstance(t_start, (int, np.integer)) or isinstance(t_start, bool) \
                or not 0 <= t_start < schedule.num_timesteps:
            raise ConfigError(f"DDIMSampler.starting_at: t_start must be an integer in "
                              f"0..{schedule.num_timesteps - 1}, found {t_start!r}")
        if not isinstance(steps, (int, np.integer)) \
                or not 1 <= steps <= t_start + 1:
            raise ConfigError(f"DDIMSampler.starting_at: steps must be in "
                              f"1..{t_start + 1} (t_start + 1), found {steps!r}")
        seq = sorted({int(round(v)) for v in np.linspace(t_start, 0, steps)})
        sampler = cls(schedule, steps=len(seq), span=t_start + 1,
                      eta=eta, noise_scale=noise_scale)
        sampler._seq = seq                                  # [0, ..., t_start], increasing
        return sampler

    def _sequence(self) -> list[int]:
        """The visited timesteps in increasing order (the reference's ``seq``)."""
        n, S = self.steps, self.span
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
        if not (-1 <= t_prev <= t < self.schedule.num_timesteps and t >= 0):
            raise ConfigError(f"DDIMSampler.step: need -1 <= t_prev <= t < "
                              f"{self.schedule.num_timesteps}, found t={t}, t_prev={t_prev}")
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
        for t, t_prev in self.pairs():  # e.g. (6, 0), (0, -1)
            t_batch = torch.full((x.shape[0],), float(t), device=x.device)  # (B,) as the reference
            out = self.step(model_fn(x, t_batch), t, t_prev, x, generator=generator)
            x = out.x_prev
            if return_trajectory:
                traj.xs.append(x)
                traj.x0_hats.append(out.x0_hat)
                traj.timesteps.append(t)
        return traj if return_trajectory else x

    def __repr__(self) -> str:
        return (f"DDIMSampler({self.steps} of {self.span} steps, "
                f"skip={self.skip}, eta={self.eta}, timesteps={self.timesteps()}, "
                f"{self.schedule!r})")
