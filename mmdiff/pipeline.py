"""The pipeline, 2D -> 3D: GraFormer lifter -> refinement (DDIM) -> flip test-time augmentation.

One object, :class:`Pipeline`, built from a config, serves evaluation, ``mmdiff predict``, the
analyses, the studies and the notebooks. It is the reference's ``test()``
(jjkislele/monoMotionDiff ``models/runner.py``):

1. lift: 3D = lifter(2D), then subtract the root joint (joint 0);
2. x_T = uvxyz = concat(2D, lifted 3D), shape (B, 17, 5): the lifted pose is taken as the noisy
   sample at the first visited DDIM timestep (no noise is added in the reference);
3. DDIM (default: 2 of the first 12 timesteps of the linear 1e-4 .. 1e-3, 51-step schedule, i.e.
   t = 6 then 0, eta = 0), each step conditioned on the 2D pose;
4. keep channels 2: (x, y, z) of the final sample and subtract the root joint;
5. flip TTA (:func:`flip_average`): run 2-4 again from the mirrored x_T (u and x negated,
   left/right joints swapped), conditioned on the mirrored 2D -- the lifter is *not* run on the
   mirrored 2D, its output for the original 2D is mirrored -- mirror the result back and average.

The refinement is a :class:`DiffusionRefiner` (the paper) or a :class:`RegressionRefiner` (the
control "why diffusion?": the same network called once as a residual regressor); without one the
pipeline is the lifter alone, with its own flip TTA (the lifter run on the mirrored 2D).

Multiple hypotheses. The reference repeats the same x_T, so with eta = 0 its S hypotheses are
S identical copies. Here each hypothesis s starts from its own noisy x_T:

    x_T^(s) = uvxyz + sqrt(1 - alpha-bar_{t_start}) * eps^(s)

with t_start the first visited timestep and eps^(s) Gaussian scaled per channel (0.1 u, v;
1 x, y, z) or, given a 2D Gaussian mixture, scaled on u, v by the spread of a kernel drawn per
joint by its weight (DiffPose). This is the forward process's noise level at t_start added to the
reference's start, so zero noise gives the reference back. The mirrored run of hypothesis s
starts from the mirror image of x_T^(s). :meth:`Pipeline.predict` returns the mean over
hypotheses (:func:`aggregate`); :meth:`Pipeline.sample` returns them all
(:func:`mmdiff.metrics.oracle_best_of_n` picks the one closest to the ground truth: an
ORACLE for analysis, never a prediction).

Symbols: pose_2d = x^{2D} (the condition c), lifted = the GraFormer prior, uvxyz = x_T,
S = hypotheses, eps^(s) = starting noise, alpha-bar as in :mod:`mmdiff.diffusion`.
"""
from __future__ import annotations

from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from mmdiff.config import Config
from mmdiff.diffusion import DEFAULT_NOISE_SCALE, DDIMSampler, gmm_noise, scaled_noise
from mmdiff.engine.precision import autocast, check_precision
from mmdiff.errors import ConfigError, DataError
from mmdiff.models.kernels import chunked
from mmdiff.skeleton import NUM_JOINTS, flip_pose

__all__ = ["Pipeline", "DiffusionRefiner", "RegressionRefiner", "regression_correct",
           "flip_average", "mirror", "flip_uvxyz", "lift_uvxyz", "denoise", "refine",
           "start_samples", "xyz_root_relative", "aggregate", "describe"]


def flip_uvxyz(x: torch.Tensor) -> torch.Tensor:
    """Mirror a uvxyz pose (..., J, 5): u and x negated, left/right joints swapped. A copy."""
    return flip_pose(x, flip_channels=(0, 2))


@contextmanager
def _eval_mode(*modules):
    """Put modules in eval mode for the block and restore their previous modes afterwards."""
    modes = [m.training if isinstance(m, torch.nn.Module) else None for m in modules]
    try:
        for m in modules:
            if isinstance(m, torch.nn.Module):
                m.eval()
        yield
    finally:
        for m, mode in zip(modules, modes):
            if mode is not None:
                m.train(mode)


def _as_pose_2d(pose_2d, lifter=None, rows: str = "B") -> torch.Tensor:
    """pose_2d as a (rows, 17, 2) tensor, else DataError naming the shape; numpy input becomes
    float32 on the lifter's device (the CPU without a lifter)."""
    if not isinstance(pose_2d, torch.Tensor):
        params = list(lifter.parameters()) if isinstance(lifter, torch.nn.Module) else []
        device = params[0].device if params else None
        pose_2d = torch.as_tensor(np.asarray(pose_2d, dtype=np.float32), device=device)
    if pose_2d.ndim != 3 or tuple(pose_2d.shape[1:]) != (NUM_JOINTS, 2):
        raise DataError(f"pose_2d: expected ({rows}, {NUM_JOINTS}, 2) normalised 2D joints, "
                        f"found {tuple(pose_2d.shape)}")
    return pose_2d


def lift_uvxyz(lifter, pose_2d: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """The reference's starting point: concat(2D, root-centred lifter(2D)).

    pose_2d: (B, 17, 2) normalised. Returns uvxyz (B, 17, 5), xyz in metres, root-relative.
    ``precision``: the lifter's forward pass (:mod:`mmdiff.engine.precision`); the output is
    float32.
    """
    with autocast(pose_2d.device, precision):
        lifted = lifter(pose_2d).float()                                 # (B, 17, 3)
    lifted = lifted - lifted[:, :1]                                      # root-relative
    return torch.cat([pose_2d, lifted], dim=-1)                          # (B, 17, 5)


def denoise(denoiser, x_t: torch.Tensor, pose_2d: torch.Tensor, t: torch.Tensor,
            precision: str = "fp32") -> torch.Tensor:
    """eps_theta(x_t, 2D, t) for inference: x_t (N, 17, 5), pose_2d (N, 17, 2), t (N,).

    Without autograd on the CPU the batch runs in chunks that stay in the cache
    (:func:`mmdiff.models.kernels.chunked`); elsewhere in one pass. ``precision``: the network's
    forward pass (:mod:`mmdiff.engine.precision`). Returns (N, 17, 5) float32.
    """
    with autocast(x_t.device, precision):
        return chunked(denoiser, x_t, pose_2d, t).float()


def refine(denoiser, sampler: DDIMSampler, x_T: torch.Tensor, pose_2d: torch.Tensor,
           generator: torch.Generator | None = None, return_trajectory: bool = False,
           precision: str = "fp32"):
    """DDIM refinement of x_T conditioned on the 2D pose.

    x_T: (N, 17, 5) uvxyz at the sampler's first timestep; pose_2d: (N, 17, 2) the condition.
    ``precision``: the denoiser's forward passes; the sampler's arithmetic stays float32.
    Returns the final uvxyz (N, 17, 5), or the sampler's trajectory when ``return_trajectory``.
    """
    def eps_theta(x_t, t):                                               # (N, 17, 5), (N,)
        return denoise(denoiser, x_t, pose_2d, t, precision)
    return sampler.sample(eps_theta, x_T, generator=generator, return_trajectory=return_trajectory)


def xyz_root_relative(uvxyz: torch.Tensor) -> torch.Tensor:
    """The 3D half of uvxyz (..., 17, 5), root joint subtracted: (..., 17, 3) metres."""
    xyz = uvxyz[..., 2:]                                                 # (..., 17, 3)
    return xyz - xyz[..., :1, :]


def start_samples(uvxyz: torch.Tensor, sampler: DDIMSampler, hypotheses: int,
                  generator: torch.Generator | None = None, noise_scale=DEFAULT_NOISE_SCALE,
                  gmm: torch.Tensor | None = None) -> torch.Tensor:
    """Each hypothesis's own start: x_T^(s) = uvxyz + sqrt(1 - alpha-bar_{t_start}) eps^(s).

    uvxyz: (B, 17, 5). eps^(s) ~ N(0, diag(noise_scale^2)) per channel, or with gmm (B, 17, K, 5)
    DiffPose's GMM noise (u, v scaled by the spread of a kernel drawn per joint by weight; x, y,
    z by noise_scale[2:]). t_start is the sampler's first timestep. Returns (S, B, 17, 5).
    """
    S, B = hypotheses, uvxyz.shape[0]
    if gmm is not None:
        gmm = torch.as_tensor(gmm, dtype=uvxyz.dtype, device=uvxyz.device)
        if gmm.ndim != 4 or tuple(gmm.shape[:2]) != tuple(uvxyz.shape[:2]):
            raise DataError(f"gmm: expected ({B}, {uvxyz.shape[1]}, K, 5) to match pose_2d, "
                            f"found {tuple(gmm.shape)}")
        eps = gmm_noise(gmm.repeat(S, 1, 1, 1), generator, xyz_scale=tuple(noise_scale)[2:])
    else:
        eps = scaled_noise((S * B,) + tuple(uvxyz.shape[1:]), noise_scale, generator,
                           uvxyz.device, uvxyz.dtype)                    # (S*B, 17, 5)
    t_start = sampler.timesteps()[0]
    level = (1 - sampler.schedule.alpha_bar(t_start)).sqrt().to(uvxyz.device, uvxyz.dtype)
    return uvxyz + level * eps.reshape((S,) + tuple(uvxyz.shape))        # (S, B, 17, 5)


# ----------------------------------------------------------------------------- refiners

class DiffusionRefiner:
    """The paper's refinement: DDIM from the lifted pose, conditioned on the 2D.

    denoiser: eps_theta(x_t (N, 17, 5), pose_2d (N, 17, 2), t (N,)) -> (N, 17, 5).
    sampler: the :class:`DDIMSampler` (2 of 12, eta 0 in the paper). noise_scale: (5,) std of the
    starting noise of each hypothesis (u, v, x, y, z). start_noise: add starting noise; None = only
    when there is more than one hypothesis, so that one hypothesis is exactly the reference.
    """

    def __init__(self, denoiser, sampler: DDIMSampler, noise_scale=DEFAULT_NOISE_SCALE,
                 start_noise: bool | None = None):
        if len(tuple(noise_scale)) != 5:
            raise ConfigError(f"noise_scale: expected 5 stds (u, v, x, y, z), found {noise_scale!r}")
        self.network, self.sampler = denoiser, sampler
        self.noise_scale, self.start_noise = tuple(noise_scale), start_noise

    def starts(self, uvxyz: torch.Tensor, hypotheses: int, generator=None,
               gmm=None) -> torch.Tensor:
        """x_T of every hypothesis: uvxyz (B, 17, 5) -> (S*B, 17, 5), hypothesis-major."""
        noisy = self.start_noise if self.start_noise is not None else hypotheses > 1
        if noisy:
            x_T = start_samples(uvxyz, self.sampler, hypotheses, generator, self.noise_scale, gmm)
        else:
            x_T = uvxyz.expand(hypotheses, *uvxyz.shape)                 # (S, B, 17, 5)
        return x_T.reshape(-1, *uvxyz.shape[1:])                         # (S*B, 17, 5)

    def __call__(self, x_T: torch.Tensor, pose_2d: torch.Tensor, generator=None,
                 precision: str = "fp32") -> torch.Tensor:
        """x_T (N, 17, 5), pose_2d (N, 17, 2) -> refined root-relative xyz (N, 17, 3) metres."""
        return xyz_root_relative(refine(self.network, self.sampler, x_T, pose_2d, generator,
                                        precision=precision))


class RegressionRefiner:
    """The control "why diffusion?": the denoiser network as a plain residual regressor.

    One call at the timestep the sampler would start from (``t``), its x, y, z output a correction
    of the lifted pose: pred = lifted + f_theta(uvxyz, 2D, t)[..., 2:], root-centred. It gives one
    answer, so it takes no starting noise and one hypothesis.
    """

    def __init__(self, network, t: int):
        self.network, self.t = network, int(t)

    @staticmethod
    def timestep(cfg) -> int:
        """The first timestep the config's DDIM sampler visits (6 for 2 of 12): the regressor is
        trained and called there, so it sees the embedding the diffusion model would see first."""
        return int(DDIMSampler.from_config(cfg.diffusion, cfg.sampler).timesteps()[0])

    def starts(self, uvxyz: torch.Tensor, hypotheses: int, generator=None,
               gmm=None) -> torch.Tensor:
        if hypotheses != 1:
            raise ConfigError(f"eval.hypotheses: a regressor gives one answer, found {hypotheses}")
        return uvxyz

    def __call__(self, uvxyz: torch.Tensor, pose_2d: torch.Tensor, generator=None,
                 precision: str = "fp32") -> torch.Tensor:
        """uvxyz (B, 17, 5), pose_2d (B, 17, 2) -> corrected root-relative xyz (B, 17, 3)."""
        with autocast(uvxyz.device, precision):
            return regression_correct(self.network, uvxyz, pose_2d, self.t)


def regression_correct(model, uvxyz: torch.Tensor, pose_2d: torch.Tensor, t: int) -> torch.Tensor:
    """lifted + the network's x, y, z output at timestep t, root-relative, float32.
    uvxyz (B, 17, 5), pose_2d (B, 17, 2) -> (B, 17, 3) metres."""
    steps = torch.full((uvxyz.shape[0],), float(t), device=uvxyz.device)
    pred = uvxyz[..., 2:] + model(uvxyz, pose_2d, steps)[..., 2:].float()
    return pred - pred[:, :1]


# ----------------------------------------------------------------------------- flip TTA

def mirror(pose: torch.Tensor) -> torch.Tensor:
    """The mirror image of a pose (..., 17, C): left/right swapped, the horizontal channels negated
    (u for 2D, x for 3D, u and x for uvxyz)."""
    return flip_uvxyz(pose) if pose.shape[-1] == 5 else flip_pose(pose)


def flip_average(run, *inputs: torch.Tensor) -> torch.Tensor:
    """Flip test-time augmentation: (run(*inputs) + mirror(run(*mirrored inputs))) / 2.

    run maps poses (..., 17, C) to root-relative 3D (..., 17, 3); it is called on the inputs, then
    on their mirror images, whose result is mirrored back before the two are averaged.
    """
    out = run(*inputs)
    mirrored = mirror(run(*(mirror(x) for x in inputs)))                 # back to the original side
    return (out + mirrored) / 2


# ----------------------------------------------------------------------------- the pipeline

def aggregate(hypotheses):
    """The prediction from S hypotheses: their mean. (S, ..., 17, 3) tensor or numpy ->
    (..., 17, 3), the same type (NaN stays NaN)."""
    if isinstance(hypotheses, np.ndarray):
        return aggregate(torch.from_numpy(hypotheses)).numpy()
    return hypotheses.mean(dim=0)


def describe(pipe: "Pipeline") -> str:
    """One line saying what ``pipe`` runs, e.g. "lifter + DDIM 2 of 12 steps, eta 0.0, 1
    hypotheses (mean), flip TTA"."""
    r = pipe.refiner
    if r is None:
        return "lifter alone" + (", flip TTA" if pipe.flip and pipe.lifter_tta else ", no TTA")
    if isinstance(r, RegressionRefiner):
        what = f"lifter + regressor at t = {r.t}"
    else:
        s = r.sampler
        what = (f"lifter + DDIM {s.steps} of {s.span} steps, eta {s.eta}, "
                f"{pipe.hypotheses} hypotheses (mean)")
    return what + (", flip TTA" if pipe.flip else ", no TTA")

@dataclass
class Pipeline:
    """2D -> 3D: the lifter, an optional refiner (DDIM diffusion or the regression control),
    flip test-time augmentation, S hypotheses, a precision for the networks' forward passes.

        pipe = Pipeline.from_config(cfg, lifter, denoiser)     # denoiser None: the lifter alone
        pose_3d = pipe.predict(pose_2d)                        # (N, 17, 3) numpy, metres
        hyps = pipe.sample(pose_2d)                            # (S, N, 17, 3)

    lifter: (B, 17, 2) -> (B, 17, 3). refiner: :class:`DiffusionRefiner`,
    :class:`RegressionRefiner` or None. flip: flip TTA. lifter_tta: with ``flip``, the lifter
    alone runs flip TTA too (on the mirrored 2D); else its plain output, the refinement's start
    (a refiner's mirrored run starts from the mirrored lifted pose; the lifter runs once).
    hypotheses: S >= 1. precision: "fp32" (exact), "bf16" or "fp16" for the forward passes; the
    sampler, flip and averaging stay float32. batch_size, seed: :meth:`sample` runs batches of
    ``batch_size`` poses, batch i drawing its noise from ``seed + i`` (its first pose's index).
    """
    lifter: torch.nn.Module
    refiner: DiffusionRefiner | RegressionRefiner | None = None
    flip: bool = True
    lifter_tta: bool = True
    hypotheses: int = 1
    precision: str = "fp32"
    batch_size: int = 1024
    seed: int = 0

    def __post_init__(self):
        h = self.hypotheses
        if not isinstance(h, (int, np.integer)) or isinstance(h, bool) or h < 1:
            raise ConfigError(f"hypotheses must be a positive integer, found {h!r}")
        check_precision(self.precision, key="precision")

    @classmethod
    def from_config(cls, cfg, lifter, denoiser=None) -> "Pipeline":
        """The pipeline of a config: ``cfg.sampler`` and ``cfg.diffusion`` make the DDIM
        refiner (or, with ``train.objective: regression``, the regressor called at the sampler's
        first timestep); ``cfg.eval`` gives flip, lifter_tta, hypotheses, precision, batch and
        seed. ``denoiser=None``: the lifter alone."""
        e = cfg.eval
        refiner = None
        if denoiser is not None and cfg.train.objective == "regression":
            refiner = RegressionRefiner(denoiser, RegressionRefiner.timestep(cfg))
        elif denoiser is not None:
            refiner = DiffusionRefiner(denoiser,
                                       DDIMSampler.from_config(cfg.diffusion, cfg.sampler),
                                       tuple(cfg.diffusion.noise_scale))
        return cls(lifter, refiner, flip=e.flip, lifter_tta=e.lifter_tta,
                   hypotheses=e.hypotheses, precision=e.precision, batch_size=e.batch_size,
                   seed=e.seed)

    @classmethod
    def paper(cls, lifter, denoiser=None, **fields) -> "Pipeline":
        """The paper's pipeline (the defaults of :class:`mmdiff.config.Config`: DDIM 2 of 12 over
        the linear 51-step schedule, eta 0, flip TTA, one hypothesis), ``fields`` replaced."""
        return dataclasses.replace(cls.from_config(Config(), lifter, denoiser), **fields)

    @property
    def networks(self) -> list[torch.nn.Module]:
        return [self.lifter] + ([self.refiner.network] if self.refiner is not None else [])

    @torch.no_grad()
    def sample_batch(self, pose_2d, generator: torch.Generator | None = None,
                     gmm=None) -> torch.Tensor:
        """Every hypothesis for one batch: pose_2d (B, 17, 2) normalised (tensor, or numpy put on
        the lifter's device) -> (S, B, 17, 3) root-relative metres (S = 1 for the lifter alone).

        generator: the starting noise and the DDIM noise (eta > 0). gmm: optional (B, 17, K, 5)
        2D mixture (weight, mean u, v, spread u, v): the u, v starting noise of each hypothesis is
        scaled by the spread of a kernel drawn per joint (DiffPose).
        """
        with _eval_mode(*self.networks):
            pose_2d = _as_pose_2d(pose_2d, self.lifter)
            uvxyz = lift_uvxyz(self.lifter, pose_2d, self.precision)    # (B, 17, 5)
            if self.refiner is None:
                return self._lifter_alone(pose_2d, uvxyz)[None]          # (1, B, 17, 3)
            S, B = int(self.hypotheses), pose_2d.shape[0]
            x_T = self.refiner.starts(uvxyz, S, generator, gmm)         # (S*B, 17, 5)
            cond = pose_2d.repeat(S, 1, 1)                               # (S*B, 17, 2)

            def run(x, c):
                return self.refiner(x, c, generator, self.precision)     # (S*B, 17, 3)
            out = flip_average(run, x_T, cond) if self.flip else run(x_T, cond)
        return out.reshape(S, B, NUM_JOINTS, 3)                          # (S, B, 17, 3)

    def _lifter_alone(self, pose_2d, uvxyz) -> torch.Tensor:
        """The lifter's root-relative 3D (B, 17, 3), with flip TTA when flip and lifter_tta."""
        if not (self.flip and self.lifter_tta):
            return uvxyz[..., 2:]

        def run(p):
            return lift_uvxyz(self.lifter, p, self.precision)[..., 2:]   # (B, 17, 3)
        return flip_average(run, pose_2d)

    def sample(self, pose_2d, device=None, progress: bool = False,
               desc: str = "predict") -> np.ndarray:
        """Every hypothesis for many poses: pose_2d (N, 17, 2) -> (S, N, 17, 3) float32 numpy,
        metres, root-relative; batches as the class docstring says, on ``device`` (default: the
        lifter's)."""
        return self._batches(pose_2d, lambda hyps: hyps, device, progress, desc, axis=1)

    def predict(self, pose_2d, device=None, progress: bool = False,
                desc: str = "predict") -> np.ndarray:
        """3D poses for many poses, the hypotheses' mean: pose_2d (N, 17, 2) -> (N, 17, 3)
        float32 numpy, metres, root-relative. With one hypothesis, eta 0 and flip this is the
        reference's ``test()``."""
        return self._batches(pose_2d, aggregate, device, progress, desc, axis=0)

    def _batches(self, pose_2d, reduce, device, progress, desc, axis) -> np.ndarray:
        from tqdm.auto import tqdm
        device = torch.device(device) if device is not None else \
            next(self.lifter.parameters()).device
        for net in self.networks:
            net.to(device)
        pose_2d = _as_pose_2d(np.asarray(pose_2d, dtype=np.float32), rows="N")  # on the CPU
        out = []
        for i in tqdm(range(0, len(pose_2d), self.batch_size), desc=desc,
                      disable=not progress, leave=False):
            chunk = pose_2d[i:i + self.batch_size].to(device)           # (b, 17, 2)
            generator = torch.Generator(device=device).manual_seed(self.seed + i)
            out.append(reduce(self.sample_batch(chunk, generator)).float().cpu().numpy())
        if not out:
            S = 1 if self.refiner is None else int(self.hypotheses)
            return np.zeros(((S, 0) if axis == 1 else (0,)) + (NUM_JOINTS, 3), np.float32)
        return np.concatenate(out, axis=axis)
