"""What diffusion is for, on a toy: 2D points from a ring of Gaussians (lesson 08).

    ring = GaussianRing()                                  # 8 modes on a circle of radius 2
    schedule = toy_schedule()                              # linear 1e-4 .. 0.2, T = 100: to noise
    net = ToyMLP()                                         # eps_theta(x_t, t): (N, 2), (N,) -> (N, 2)
    losses = train_denoiser(net, ring, schedule, steps=4000, generator=gen)
    traj = generate(as_function(net), schedule, 2000, steps=50, generator=gen)  # noise -> samples
    print(mode_summary(traj.final, ring).line())           # modes covered, near a mode, ...
    reg = ToyMLP(); train_regressor(reg, ring, schedule, t=99, steps=1000, generator=gen)
    x0_hat = tweedie_x0(eps_hat, x_t, t, schedule)         # one step: E[x_0 | x_t] if eps is exact
    rows = tweedie_sweep(ring.eps_fn(schedule), schedule, x0, ts=(0, 5, 20, 60))
    print(sweep_table(rows))                               # DDIM vs one step, spread, per t

The schedule, the forward noising and the sampler are the kit's own (``BetaSchedule``,
``DDIMSampler``); they work on (N, 2) tensors as they do on (B, 17, 5) poses. Because the data is
a Gaussian mixture, everything a perfect denoiser would know is in closed form here
(:class:`GaussianRing`: the score of the noised data, the exact eps, the posterior
p(x_0 | x_t) and its mean), so the trained network can be compared with the ideal one.

Units: the toy points are unitless 2D coordinates (N, 2); the ring's radius is 2 and each mode's
std 0.1, about unit variance per coordinate like the noise. Timesteps are 0-based as in
:mod:`mmdiff.diffusion` (t = 0 .. T-1, alpha-bar_{-1} = 1 is clean).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from mmdiff.diffusion import BetaSchedule, DDIMSampler, DDIMTrajectory
from mmdiff.errors import ConfigError, DataError

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (x_t (N, 2), t (N,)) -> (N, 2)


def _where(generator: torch.Generator | None, device) -> torch.device | None:
    """Where to draw: on the generator's device (then moved), else on ``device``."""
    return generator.device if generator is not None else device


def _check_points(x: torch.Tensor, name: str) -> None:
    if x.ndim != 2 or x.shape[-1] != 2:
        raise DataError(f"{name}: expected points (N, 2), found {tuple(x.shape)}")


# ----------------------------------------------------------------------------- the data

@dataclass(frozen=True)
class GaussianRing:
    """p(x_0) = (1/K) sum_k N(mu_k, std^2 I): K modes evenly spaced on a circle of ``radius``.

    Noised by the forward process, x_t = sqrt(a) x_0 + sqrt(1 - a) eps (a = alpha-bar_t), the
    data stays a mixture: p_t(x) = (1/K) sum_k N(sqrt(a) mu_k, v I) with v = a std^2 + 1 - a.
    Every method takes ``a`` as a (N,) tensor or a float (one alpha-bar per point, or for all).
    """
    modes: int = 8
    radius: float = 2.0
    std: float = 0.1

    def centres(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """The K mode centres mu_k: (K, 2), the first at angle 0."""
        angle = torch.arange(self.modes, device=device, dtype=dtype) * (2 * math.pi / self.modes)
        return self.radius * torch.stack([angle.cos(), angle.sin()], dim=-1)      # (K, 2)

    def sample(self, n: int, generator: torch.Generator | None = None, device=None,
               dtype=torch.float32) -> torch.Tensor:
        """n draws (n, 2): a uniformly chosen mode plus std * N(0, I)."""
        where = _where(generator, device)
        k = torch.randint(0, self.modes, (n,), generator=generator, device=where)
        z = torch.randn(n, 2, generator=generator, device=where, dtype=dtype)
        return (self.centres(where, dtype)[k] + self.std * z).to(device)

    def _noised(self, x: torch.Tensor, a) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """sqrt(a) mu_k (N or 1, K, 2), the variance v (N or 1, 1, 1) and a (N or 1, 1, 1)."""
        _check_points(x, "GaussianRing")
        a = torch.as_tensor(a, device=x.device, dtype=x.dtype).reshape(-1, 1, 1)
        means = a.sqrt() * self.centres(x.device, x.dtype)[None]                    # (N, K, 2)
        return means, a * self.std ** 2 + 1 - a, a

    def posterior_weights(self, x: torch.Tensor, a) -> torch.Tensor:
        """p(mode k | x_t = x): (N, K), rows sum to 1 (the responsibilities)."""
        means, v, _ = self._noised(x, a)
        logits = -((x[:, None] - means) ** 2).sum(-1) / (2 * v[..., 0])            # (N, K)
        return logits.softmax(dim=-1)

    def score(self, x: torch.Tensor, a) -> torch.Tensor:
        """grad_x log p_t(x): (N, 2), = sum_k w_k (sqrt(a) mu_k - x) / v."""
        means, v, _ = self._noised(x, a)
        w = self.posterior_weights(x, a)[..., None]                                # (N, K, 1)
        return (w * (means - x[:, None])).sum(1) / v[:, 0]

    def posterior_mean(self, x: torch.Tensor, a) -> torch.Tensor:
        """E[x_0 | x_t = x] in closed form: (N, 2). Within mode k, x_0 | x_t is Gaussian with mean
        mu_k + (sqrt(a) std^2 / v) (x - sqrt(a) mu_k); the posterior mean weighs them by w_k."""
        means, v, a = self._noised(x, a)
        mu = self.centres(x.device, x.dtype)[None]                                 # (1, K, 2)
        per_mode = mu + a.sqrt() * self.std ** 2 / v * (x[:, None] - means)        # (N, K, 2)
        return (self.posterior_weights(x, a.reshape(-1))[..., None] * per_mode).sum(1)

    def posterior_spread(self, x: torch.Tensor, a) -> torch.Tensor:
        """sqrt(E[||x_0 - E[x_0 | x_t]||^2 | x_t = x]): (N,), the error no denoiser of x_t can
        avoid (the MMSE per point)."""
        means, v, a = self._noised(x, a)
        mu = self.centres(x.device, x.dtype)[None]
        per_mode = mu + a.sqrt() * self.std ** 2 / v * (x[:, None] - means)        # (N, K, 2)
        w = self.posterior_weights(x, a.reshape(-1))                               # (N, K)
        within = 2 * self.std ** 2 * (1 - a * self.std ** 2 / v)[:, 0, 0]          # (N or 1,)
        mean = (w[..., None] * per_mode).sum(1, keepdim=True)                      # (N, 1, 2)
        between = (w * ((per_mode - mean) ** 2).sum(-1)).sum(-1)                   # (N,)
        return (within + between).sqrt()

    def eps_fn(self, schedule: BetaSchedule) -> EpsFn:
        """The ideal denoiser: (x_t (N, 2), t (N,)) -> the exact E[eps | x_t] =
        -sqrt(1 - alpha-bar_t) * score(x_t), the eps-MSE optimum a network approximates."""
        def eps(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            a = schedule.alpha_bar(torch.as_tensor(t).cpu()).to(x_t.device, x_t.dtype)
            return -(1 - a).sqrt()[:, None] * self.score(x_t, a)
        return eps


# ----------------------------------------------------------------------------- the model

def toy_schedule(num_timesteps: int = 100, beta_start: float = 1e-4,
                 beta_end: float = 0.2) -> BetaSchedule:
    """A schedule that reaches noise in T = 100 steps: linear beta 1e-4 .. 0.2, so alpha-bar_99
    is about 2e-5 (image diffusion's 1e-4 .. 0.02 needs T = 1000 for the same)."""
    return BetaSchedule.linear(beta_start, beta_end, num_timesteps)


def timestep_embedding(t: torch.Tensor, dim: int = 32, num_timesteps: int = 100) -> torch.Tensor:
    """Sinusoidal features of timesteps t (N,) (float or int): (N, dim), sin and cos of
    2 pi t / T at dim / 2 geometric frequencies from 1 to 100."""
    half = dim // 2
    freqs = torch.logspace(0, 2, half, device=t.device)                            # (half,)
    phase = 2 * math.pi * t.float()[:, None] / num_timesteps * freqs[None]         # (N, half)
    return torch.cat([phase.sin(), phase.cos()], dim=-1)                           # (N, dim)


class ToyMLP(nn.Module):
    """f(x, t): (N, 2), (N,) -> (N, 2); 2 + embedding -> hidden -> hidden -> 2, SiLU.

    The same network is the eps-predictor of the diffusion (:func:`train_denoiser`) and the
    one-shot regressor of x_0 (:func:`train_regressor`); only the training target differs.
    """

    def __init__(self, hidden: int = 128, emb_dim: int = 32, num_timesteps: int = 100):
        super().__init__()
        self.emb_dim, self.num_timesteps = emb_dim, num_timesteps
        self.net = nn.Sequential(nn.Linear(2 + emb_dim, hidden), nn.SiLU(),
                                 nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        _check_points(x, "ToyMLP")
        emb = timestep_embedding(t.to(x.device), self.emb_dim, self.num_timesteps)  # (N, emb)
        return self.net(torch.cat([x, emb.to(x.dtype)], dim=-1))                   # (N, 2)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _fit(net: nn.Module, batch: Callable[[], tuple], steps: int, lr: float) -> np.ndarray:
    """Adam on the MSE between net(*inputs) and target, the rate decayed by a cosine to 0;
    ``batch()`` -> (inputs, target). Returns the loss of each step (steps,)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    losses = np.zeros(steps)
    net.train()
    for i in range(steps):
        inputs, target = batch()
        loss = ((net(*inputs) - target) ** 2).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses[i] = loss.item()
    net.eval()
    return losses


def train_denoiser(net: nn.Module, ring: GaussianRing, schedule: BetaSchedule, steps: int,
                   batch: int = 512, lr: float = 1e-2,
                   generator: torch.Generator | None = None) -> np.ndarray:
    """DDPM's loss: E_{x_0, t, eps} ||eps_theta(x_t, t) - eps||^2, t uniform in [0, T), fresh
    data each step. Returns the loss per step (steps,); ``net`` is left in eval mode."""
    device = next(net.parameters()).device
    T = schedule.num_timesteps

    def draw():
        x0 = ring.sample(batch, generator, device)                                 # (B, 2)
        t = torch.randint(0, T, (batch,), generator=generator,
                          device=_where(generator, device)).to(device)             # (B,)
        eps = torch.randn(x0.shape, generator=generator,
                          device=_where(generator, device)).to(device)             # (B, 2)
        return (schedule.q_sample(x0, t, eps), t.float()), eps
    return _fit(net, draw, steps, lr)


def train_regressor(net: nn.Module, ring: GaussianRing, schedule: BetaSchedule, t: int,
                    steps: int, batch: int = 512, lr: float = 1e-2,
                    generator: torch.Generator | None = None) -> np.ndarray:
    """A one-shot regressor of x_0 from x_t at one timestep t: E ||f(x_t, t) - x_0||^2.
    At t = T - 1 its input is (almost) pure noise. Returns the loss per step (steps,)."""
    if not 0 <= t < schedule.num_timesteps:
        raise ConfigError(f"train_regressor: t must lie in [0, {schedule.num_timesteps}), "
                          f"found {t}")
    device = next(net.parameters()).device

    def draw():
        x0 = ring.sample(batch, generator, device)                                 # (B, 2)
        x_t = noise_to(x0, t, schedule, generator)                                 # (B, 2)
        return (x_t, torch.full((batch,), float(t), device=device)), x0
    return _fit(net, draw, steps, lr)


def as_function(net: nn.Module) -> EpsFn:
    """A trained network as a function (x_t (N, 2), t (N,)) -> (N, 2) without autograd: the
    sampler's ``model_fn`` for an eps-predictor, the estimate of x_0 for a regressor."""
    def eps(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(x_t, t)
    return eps


# ----------------------------------------------------------------------------- sampling

def generate(eps: EpsFn, schedule: BetaSchedule, n: int, steps: int = 50, eta: float = 0.0,
             generator: torch.Generator | None = None, device=None) -> DDIMTrajectory:
    """n samples from pure noise: x_{T-1} ~ N(0, I) (n, 2), then DDIM over ``steps`` timesteps
    from T - 1 down to 0 (``DDIMSampler.starting_at``). Returns the trajectory: ``xs`` the
    samples after each step (steps + 1 of (n, 2)), ``x0_hats`` the x_0 predicted at each."""
    x_T = torch.randn(n, 2, generator=generator,
                      device=_where(generator, device)).to(device)                 # (n, 2)
    sampler = DDIMSampler.starting_at(schedule, schedule.num_timesteps - 1, steps, eta=eta)
    return sampler.sample(eps, x_T, generator=generator, return_trajectory=True)


@dataclass(frozen=True)
class ModeSummary:
    """How well points (N, 2) match the ring: ``near`` the fraction within ``k_std`` mode stds
    of a centre; ``covered`` how many modes hold at least a quarter of their fair share
    (N / K) of the near points; ``distance`` the mean distance to the nearest centre; ``radius``
    the mean distance to the origin (the ring's radius for good samples, 0 for a collapse)."""
    near: float
    covered: int
    modes: int
    distance: float
    radius: float
    k_std: float

    def line(self) -> str:
        return (f"{self.covered} of {self.modes} modes covered, {self.near:.0%} within "
                f"{self.k_std:g} std of a mode, mean distance to the nearest mode "
                f"{self.distance:.2f}, mean radius {self.radius:.2f}")


def mode_summary(points: torch.Tensor, ring: GaussianRing, k_std: float = 3.0,
                 min_share: float = 0.25) -> ModeSummary:
    """:class:`ModeSummary` of points (N, 2). A draw from the ring itself has near 0.99 (a 2D
    Gaussian lies within 3 std with probability 1 - exp(-4.5)) and covers every mode."""
    points = torch.as_tensor(points).detach().cpu().double()
    _check_points(points, "mode_summary")
    d = torch.cdist(points, ring.centres(dtype=torch.float64))                     # (N, K)
    nearest, which = d.min(dim=-1)                                                 # (N,), (N,)
    near = nearest < k_std * ring.std                                              # (N,)
    counts = torch.bincount(which[near], minlength=ring.modes)                     # (K,)
    covered = int((counts >= min_share * len(points) / ring.modes).sum())
    return ModeSummary(near=float(near.double().mean()), covered=covered, modes=ring.modes,
                       distance=float(nearest.mean()), radius=float(points.norm(dim=-1).mean()),
                       k_std=k_std)


# ----------------------------------------------------------------------------- Tweedie

def noise_to(x0: torch.Tensor, t: int, schedule: BetaSchedule,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps for every point of x0 (N, 2) at one timestep t,
    eps ~ N(0, I) drawn from ``generator``. Returns (N, 2) on x0's device."""
    _check_points(x0, "noise_to")
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype,
                      device=_where(generator, x0.device)).to(x0.device)           # (N, 2)
    return schedule.q_sample(x0, torch.full((len(x0),), int(t), device=x0.device), eps)


def tweedie_x0(eps_hat: torch.Tensor, x_t: torch.Tensor, t: int,
               schedule: BetaSchedule) -> torch.Tensor:
    """The one-step estimate of x_0 (N, 2): DDIM's x0-prediction (x_t - sqrt(1-a) eps_hat) /
    sqrt(a), which for the exact eps is Tweedie's E[x_0 | x_t] = (x_t + (1-a) score) / sqrt(a)."""
    return DDIMSampler.starting_at(schedule, t, 1).step(eps_hat, t, -1, x_t).x0_hat


def tweedie_sweep(eps: EpsFn, schedule: BetaSchedule, x0: torch.Tensor, ts, steps: int = 20,
                  hypotheses: int = 8, spread_points: int = 200,
                  generator: torch.Generator | None = None,
                  ring: GaussianRing | None = None) -> list[dict]:
    """DDIM run from x_t against the one-step Tweedie estimate, for start timesteps ``ts``.

    x0: (N, 2) clean points, noised to x_t at each t (one eps draw per t). Per t (distances
    in data units, means over points):
        noise         sqrt(1 - alpha-bar_t)
        gap           ||DDIM(x_t) - Tweedie(x_t)||, DDIM deterministic (eta 0), min(steps, t + 1)
                      timesteps from t to 0
        spread        from the first ``spread_points`` x_t, ``hypotheses`` DDIM runs with eta 1
                      each: sqrt of the summed per-coordinate variance over the runs
        err_tweedie, err_ddim   distance to the x_0 that was noised
        near_tweedie, near_ddim the fraction within 3 mode stds of a mode (with ``ring``)
        multimodal    the fraction of x_t whose exact posterior p(x_0 | x_t) has no mode of
                      weight >= 0.9 (with ``ring``)
    Returns one dict per t, in the order of ``ts``.
    """
    _check_points(x0, "tweedie_sweep")
    rows = []
    for t in ts:
        t = int(t)
        x_t = noise_to(x0, t, schedule, generator)                                # (N, 2)
        t_batch = torch.full((len(x0),), float(t), device=x0.device)
        one = tweedie_x0(eps(x_t, t_batch), x_t, t, schedule)                     # (N, 2)
        n_steps = min(steps, t + 1)
        ddim = DDIMSampler.starting_at(schedule, t, n_steps).sample(eps, x_t)     # (N, 2)
        m = min(spread_points, len(x0))
        starts = x_t[:m].repeat(hypotheses, 1)                                     # (S*m, 2)
        runs = DDIMSampler.starting_at(schedule, t, n_steps, eta=1.0).sample(
            eps, starts, generator=generator).reshape(hypotheses, m, 2)           # (S, m, 2)
        a = schedule.alpha_bar(t).item()
        row = {"t": t, "noise": math.sqrt(1 - a),
               "gap": float((ddim - one).norm(dim=-1).mean()),
               "spread": float(runs.var(dim=0).sum(-1).sqrt().mean()),
               "err_tweedie": float((one - x0).norm(dim=-1).mean()),
               "err_ddim": float((ddim - x0).norm(dim=-1).mean())}
        if ring is not None:
            row["near_tweedie"] = mode_summary(one, ring).near
            row["near_ddim"] = mode_summary(ddim, ring).near
            weights = ring.posterior_weights(x_t, a)                               # (N, K)
            row["multimodal"] = float((weights.max(dim=-1).values < 0.9).double().mean())
        rows.append(row)
    return rows


def sweep_table(rows: list[dict]) -> str:
    """The rows of :func:`tweedie_sweep` as a fixed-width text table (fractions in per cent)."""
    cols = [("t", 4, "d"), ("noise", 6, ".3f"), ("gap", 6, ".2f"), ("spread", 7, ".2f"),
            ("err_tweedie", 12, ".2f"), ("err_ddim", 9, ".2f"), ("near_tweedie", 13, ".0%"),
            ("near_ddim", 10, ".0%"), ("multimodal", 11, ".0%")]
    cols = [c for c in cols if c[0] in rows[0]]
    lines = [" ".join(f"{k:>{w}s}" for k, w, _ in cols)]
    lines += [" ".join(f"{r[k]:{w}{f}}" for k, w, f in cols) for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- real poses

def reflection_separation(pose_3d, limbs) -> np.ndarray:
    """How far each limb's end moves when reflected in depth about its middle joint
    (:func:`mmdiff.course.analysis.reflect_in_depth`): 2 |z_end - z_mid|.

    pose_3d: (N, 17, 3) camera metres; limbs: [(end, mid), ...] joint indices. Returns (N, L)
    metres: the distance between the two 3D poses that project to (almost) the same 2D."""
    p = np.asarray(pose_3d, dtype=np.float64)
    if p.ndim != 3 or p.shape[-1] != 3:
        raise DataError(f"reflection_separation: expected (N, J, 3), found {p.shape}")
    return np.stack([2 * np.abs(p[:, e, 2] - p[:, m, 2]) for e, m in limbs], axis=-1)


def two_mode_ambiguity(separation, noise, threshold: float = 0.9) -> np.ndarray:
    """For a prior of two equally likely points a distance ``separation`` apart, observed with
    Gaussian noise of std ``noise`` (per coordinate): the probability that the posterior
    p(x_0 | x_t) puts less than ``threshold`` on either point, i.e. is still bimodal.

    Along the line joining them the log posterior ratio is l = d (d/2 - n) / s^2 with
    n ~ N(0, s^2); |l| < L = log(threshold / (1 - threshold)) has probability
    Phi(L s/d - d/(2s)) - Phi(-L s/d - d/(2s)). Arrays broadcast; the same unit for both.
    Returns the probabilities (numpy)."""
    d, s = np.asarray(separation, dtype=np.float64), np.asarray(noise, dtype=np.float64)
    if (s <= 0).any() or (d < 0).any():
        raise DataError("two_mode_ambiguity: need noise > 0 and separation >= 0")
    r = torch.as_tensor(np.maximum(d / s, 1e-12))                                  # d / s
    L = math.log(threshold / (1 - threshold))
    return (torch.special.ndtr(L / r - r / 2) - torch.special.ndtr(-L / r - r / 2)).numpy()
