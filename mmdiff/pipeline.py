"""The evaluation pipeline: GraFormer lifter -> DDIM refinement -> flip test-time augmentation.

This is the reference's ``test()`` (jjkislele/monoMotionDiff ``models/runner.py``) as functions:

1. lift: 3D = lifter(2D), then subtract the root joint (joint 0);
2. x_T = uvxyz = concat(2D, lifted 3D), shape (B, 17, 5): the lifted pose is taken as the noisy
   sample at the first visited DDIM timestep (no noise is added in the reference);
3. DDIM (default: 2 of the first 12 timesteps of the linear 1e-4 .. 1e-3, 51-step schedule, i.e.
   t = 6 then 0, eta = 0), each step conditioned on the 2D pose;
4. keep channels 2: (x, y, z) of the final sample and subtract the root joint;
5. flip TTA: run 2-4 again from the mirrored x_T (u and x negated, left/right joints swapped),
   conditioned on the mirrored 2D -- the lifter is *not* run on the mirrored 2D, its output for
   the original 2D is mirrored -- mirror the result back and average it with step 4's.

Multiple hypotheses. The reference repeats the same x_T, so with eta = 0 its S hypotheses are
S identical copies. Here each hypothesis s starts from its own noisy x_T:

    x_T^(s) = uvxyz + sqrt(1 - alpha-bar_{t_start}) * eps^(s)

with t_start the first visited timestep and eps^(s) Gaussian scaled per channel (0.1 u, v;
1 x, y, z) or, given a 2D Gaussian mixture, scaled on u, v by the spread of a kernel drawn per
joint by its weight (DiffPose). This is the forward process's noise level at t_start added to the
reference's start, so zero noise gives the reference back. The mirrored run of hypothesis s
starts from the mirror image of x_T^(s). :func:`predict` returns the mean over hypotheses;
:func:`predict_hypotheses` returns them all; :func:`oracle_best_of_n` picks the one closest to
the ground truth -- an ORACLE for analysis, never a prediction.

Symbols: pose_2d = x^{2D} (the condition c), lifted = the GraFormer prior, uvxyz = x_T,
S = hypotheses, eps^(s) = starting noise, alpha-bar as in :mod:`mmdiff.diffusion`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from mmdiff.config import DiffusionConfig
from mmdiff.diffusion import DEFAULT_NOISE_SCALE, BetaSchedule, DDIMSampler, gmm_noise, scaled_noise
from mmdiff.errors import ConfigError, DataError
from mmdiff.models.kernels import chunked
from mmdiff.precision import autocast, check_precision
from mmdiff.skeleton import NUM_JOINTS, flip_pose

__all__ = ["flip_uvxyz", "lift_uvxyz", "denoise", "refine", "start_samples",
           "predict_hypotheses", "predict", "OracleBestOfN", "oracle_best_of_n"]


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


def _as_pose_2d(pose_2d, lifter) -> torch.Tensor:
    """pose_2d as a (B, 17, 2) tensor; numpy input goes to the lifter's device."""
    if not isinstance(pose_2d, torch.Tensor):
        params = list(lifter.parameters()) if isinstance(lifter, torch.nn.Module) else []
        device = params[0].device if params else None
        pose_2d = torch.as_tensor(np.asarray(pose_2d, dtype=np.float32), device=device)
    if pose_2d.ndim != 3 or tuple(pose_2d.shape[1:]) != (NUM_JOINTS, 2):
        raise DataError(f"pose_2d: expected (B, {NUM_JOINTS}, 2) normalised 2D joints, "
                        f"found {tuple(pose_2d.shape)}")
    return pose_2d


def lift_uvxyz(lifter, pose_2d: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """The reference's starting point: concat(2D, root-centred lifter(2D)).

    pose_2d: (B, 17, 2) normalised. Returns uvxyz (B, 17, 5), xyz in metres, root-relative.
    ``precision``: the lifter's forward pass (:mod:`mmdiff.precision`); the output is float32.
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
    forward pass (:mod:`mmdiff.precision`). Returns (N, 17, 5) float32.
    """
    with autocast(x_t.device, precision):
        return chunked(denoiser, x_t, pose_2d, t).float()


def compile_for_inference(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` compiled in place with ``torch.compile`` for inference (``eval.compile``,
    ``--compile``), and returned. Opt-in: the first forward pass compiles (30-70 s on this CPU,
    again for a new precision), after which a bf16 denoiser forward on the CPU ran 1.3x faster
    than eager bf16 (README, issue 15). On a CPU every chunk of :func:`denoise` is padded to one
    size or, when much smaller, run eager (:func:`mmdiff.models.kernels.chunked`), so that one
    graph serves every batch; elsewhere shapes are left to ``torch.compile`` (dynamic after a
    second size). For inference only: the training step compiled ran slower than eager here.
    Compiling twice does nothing."""
    if getattr(model, "compiled_for_inference", False):
        return model
    cpu = next(model.parameters()).device.type == "cpu"
    model.compile(dynamic=False if cpu else None)
    model.compiled_for_inference, model.fixed_chunks = True, cpu
    return model


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


def _xyz_root_relative(uvxyz: torch.Tensor) -> torch.Tensor:
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


@torch.no_grad()
def predict_hypotheses(lifter, denoiser, pose_2d, steps: int = 2, schedule_steps: int = 12,
                       eta: float = 0.0, hypotheses: int = 1, flip: bool = True,
                       schedule: BetaSchedule | None = None,
                       generator: torch.Generator | None = None, skip_type: str = "uniform",
                       noise_scale=DEFAULT_NOISE_SCALE, gmm=None, start_noise: bool | None = None,
                       sampler: DDIMSampler | None = None,
                       precision: str = "fp32") -> torch.Tensor:
    """Every hypothesis of the evaluation pipeline, each from its own starting noise.

    Args:
        lifter: lifter(pose_2d (B, 17, 2)) -> (B, 17, 3). denoiser: denoiser(x_t (B, 17, 5),
            pose_2d (B, 17, 2), t (B,)) -> eps_hat (B, 17, 5). Run in eval mode (their modes are
            restored afterwards), on the device of ``pose_2d``.
        pose_2d: (B, 17, 2) normalised 2D joints (tensor, or numpy placed on the lifter's device).
        steps, schedule_steps, eta, skip_type: the DDIM sampler (2 of 12, eta 0, uniform), over
            ``schedule`` (default: linear 1e-4 .. 1e-3, 51 steps); ``sampler`` replaces them all.
        hypotheses: S >= 1. flip: flip test-time augmentation as the reference does it.
        generator: source of the starting noise (and of the DDIM noise when eta > 0).
        noise_scale: (5,) per-channel std of the starting noise (u, v, x, y, z).
        gmm: optional (B, 17, K, 5) 2D mixture (weight, mean u, mean v, spread u, spread v in
            normalised units): the u, v starting noise is scaled by a drawn kernel's spread.
        start_noise: add starting noise; None = only when hypotheses > 1, so that one hypothesis
            is exactly the reference pipeline.
        precision: "fp32" (exact), "bf16" or "fp16" for the networks' forward passes
            (:mod:`mmdiff.precision`); the sampler, flip and averaging stay float32.

    Returns: (S, B, 17, 3) root-relative 3D poses in metres.
    """
    if not isinstance(hypotheses, (int, np.integer)) or isinstance(hypotheses, bool) \
            or hypotheses < 1:
        raise ConfigError(f"hypotheses must be a positive integer, found {hypotheses!r}")
    check_precision(precision, key="precision")
    if len(tuple(noise_scale)) != 5:
        raise ConfigError(f"noise_scale: expected 5 stds (u, v, x, y, z), found {noise_scale!r}")
    if sampler is None:
        if schedule is None:                                             # the paper's: linear
            schedule = BetaSchedule.from_config(DiffusionConfig())       # 1e-4 .. 1e-3, T = 51
        sampler = DDIMSampler(schedule,
                              num_inference_steps=steps, schedule_steps=schedule_steps, eta=eta,
                              skip=skip_type)
    S = int(hypotheses)
    with _eval_mode(lifter, denoiser):
        pose_2d = _as_pose_2d(pose_2d, lifter)
        B = pose_2d.shape[0]
        uvxyz = lift_uvxyz(lifter, pose_2d, precision)                   # (B, 17, 5)
        noisy = start_noise if start_noise is not None else S > 1
        if noisy:
            x_T = start_samples(uvxyz, sampler, S, generator, noise_scale, gmm)  # (S, B, 17, 5)
        else:
            x_T = uvxyz.expand(S, *uvxyz.shape)                          # (S, B, 17, 5)
        x_T = x_T.reshape(S * B, *uvxyz.shape[1:])                       # (S*B, 17, 5)
        cond = pose_2d.repeat(S, 1, 1)                                   # (S*B, 17, 2)

        out = _xyz_root_relative(refine(denoiser, sampler, x_T, cond, generator,
                                        precision=precision))            # (S*B, 17, 3)
        if flip:
            mirrored = refine(denoiser, sampler, flip_uvxyz(x_T), flip_pose(cond), generator,
                              precision=precision)
            mirrored = flip_pose(_xyz_root_relative(mirrored))           # back to the original side
            out = (out + mirrored) / 2
    return out.reshape(S, B, NUM_JOINTS, 3)                              # (S, B, 17, 3)


def predict(lifter, denoiser, pose_2d, steps: int = 2, schedule_steps: int = 12,
            eta: float = 0.0, hypotheses: int = 1, flip: bool = True,
            schedule: BetaSchedule | None = None, generator: torch.Generator | None = None,
            skip_type: str = "uniform", noise_scale=DEFAULT_NOISE_SCALE, gmm=None,
            start_noise: bool | None = None, sampler: DDIMSampler | None = None,
            precision: str = "fp32") -> torch.Tensor:
    """3D poses from 2D: the reference evaluation pipeline, hypotheses aggregated by mean.

    pose_2d: (B, 17, 2) normalised screen coordinates. Returns (B, 17, 3) root-relative poses in
    metres. With the defaults (one hypothesis, DDIM 2 of 12, eta 0, flip) this is exactly the
    reference's ``test()``. Arguments as :func:`predict_hypotheses`, whose mean over S this is.
    """
    return predict_hypotheses(lifter, denoiser, pose_2d, steps=steps,
                              schedule_steps=schedule_steps, eta=eta, hypotheses=hypotheses,
                              flip=flip, schedule=schedule, generator=generator,
                              skip_type=skip_type, noise_scale=noise_scale, gmm=gmm,
                              start_noise=start_noise, sampler=sampler,
                              precision=precision).mean(dim=0)


@dataclass(frozen=True)
class OracleBestOfN:
    """ORACLE best-of-N (uses the ground truth): for analysis only, never a prediction.

    pose: (B, J, 3) the hypothesis closest to the target per pose; index: (B,) which one;
    mpjpe: (B,) its mean per-joint error in metres.
    """
    pose: torch.Tensor
    index: torch.Tensor
    mpjpe: torch.Tensor


def oracle_best_of_n(hypotheses: torch.Tensor, target: torch.Tensor) -> OracleBestOfN:
    """ORACLE: per pose, the hypothesis with the lowest MPJPE against the ground truth.

    It looks at the answer, so its error is a lower bound on what the hypotheses contain, not
    a result of the method; label it "oracle" wherever it is reported.
    hypotheses: (S, B, J, 3), target: (B, J, 3), both root-relative metres.
    """
    hypotheses, target = torch.as_tensor(hypotheses), torch.as_tensor(target)
    if hypotheses.ndim != 4 or tuple(hypotheses.shape[1:]) != tuple(target.shape):
        raise DataError(f"oracle_best_of_n: expected hypotheses (S, B, J, 3) and target (B, J, 3), "
                        f"found {tuple(hypotheses.shape)} and {tuple(target.shape)}")
    err = (hypotheses - target).norm(dim=-1).mean(dim=-1)                # (S, B)
    best, index = err.min(dim=0)                                         # (B,), (B,)
    pose = hypotheses[index, torch.arange(hypotheses.shape[1], device=index.device)]  # (B, J, 3)
    return OracleBestOfN(pose=pose, index=index, mpjpe=best)
