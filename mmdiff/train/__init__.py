"""Training: the GraFormer lifter (MPJPE) and the diffusion denoiser (noise prediction).

    fit_lifter(cfg, "exp/demo_lifter")    # the prior: 2D -> root-relative 3D, MPJPE loss
    fit(cfg, "exp/demo")                  # the denoiser eps_theta(x_t, 2D, t), lifter from cfg

Read top to bottom: the two losses (and the control objective), then the two entry points. The
loop both share is :mod:`mmdiff.loop`; run folders, resume and stop signals are in
:mod:`mmdiff.runs`, the EMA in :mod:`mmdiff.ema`, optimisers and the lr schedule in
:mod:`mmdiff.optim`, devices, seeds and processes in :mod:`mmdiff.runtime`.

Exact repeatability. All randomness is derived from ``(train.seed, epoch, batch)``:
- data order: ``DistributedSampler(seed, epoch)`` (also with one process);
- per-item flip / GMM kernel: the dataset's own ``(seed, epoch, index)`` rule;
- noise and timesteps: drawn for the whole *global* batch from a generator seeded per batch, each
  process taking its rows, so N processes draw what one process would;
- dropout: the global torch RNG, reseeded before every step from ``(seed, epoch, batch, rank)``.
So a run resumed from a mid-epoch checkpoint ends with the same weights as an uninterrupted one,
and a 2-process run (``torchrun``, :class:`mmdiff.runtime.Dist`; ``train.batch_size`` is the
global batch) with dropout 0 matches a 1-process run.
"""
from __future__ import annotations

from pathlib import Path

import torch

from mmdiff.config import Config, check_noise
from mmdiff.data.dataset import PoseDataset, load_split
from mmdiff.diffusion import BetaSchedule, antithetic_timesteps
from mmdiff.ema import EMA
from mmdiff.errors import ConfigError
from mmdiff.evaluate import validate
from mmdiff.loop import Callback, FitResult, Hooks, LossFn, Stage, Trainer
from mmdiff.models import build_denoiser, build_lifter
from mmdiff.optim import StepDecay, make_optimizer
from mmdiff.regression import regression_loss
from mmdiff.runs import open_run
from mmdiff.runtime import Dist


# ----------------------------------------------------------------------------- the two losses

def lifter_loss(model, batch: dict, generator: torch.Generator, dist: Dist) -> torch.Tensor:
    """MPJPE (metres) between the root-centred prediction and the root-relative target."""
    pred = model(batch["pose_2d"])                                       # (B, 17, 3)
    pred = pred - pred[:, :1]                                            # root-relative
    return (pred - batch["pose_3d"]).norm(dim=-1).mean()


def denoiser_loss(cfg: Config, schedule: BetaSchedule) -> LossFn:
    """The denoiser's loss: || eps - eps_theta(x_t, 2D, t) ||^2 summed over joints and channels,
    averaged over the batch (the reference's loss), with x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps.

    x_0 = uvxyz (B, 17, 5): normalised 2D and root-relative 3D in metres. eps is Gaussian scaled
    per channel by ``diffusion.noise_scale`` or, with ``diffusion.noise == "gmm"``, scaled on u, v
    by the spread of the GMM kernel the dataset drew for each joint (DiffPose).
    """
    d = cfg.diffusion
    check_noise(cfg)
    scale = torch.tensor(d.noise_scale, dtype=torch.float32)            # (5,) u, v, x, y, z
    num_steps = d.train_steps or d.num_steps                             # t drawn in [0, n)

    def loss(model, batch: dict, generator: torch.Generator, dist: Dist) -> torch.Tensor:
        pose_2d, pose_3d = batch["pose_2d"], batch["pose_3d"]           # (B, 17, 2), (B, 17, 3)
        device = pose_2d.device
        rows = pose_2d.shape[0] * dist.world                             # the global batch
        if cfg.train.antithetic:
            t = antithetic_timesteps(rows, num_steps, generator, draws=cfg.train.antithetic_draws)
        else:
            t = torch.randint(0, num_steps, (rows,), generator=generator)
        eps = torch.randn((rows,) + pose_2d.shape[1:-1] + (5,), generator=generator)  # (G, 17, 5)
        t, eps = dist.rows(t).to(device), dist.rows(eps).to(device)      # this process's rows
        if d.noise == "gmm":                                             # DiffPose: kernel spread
            per_joint = torch.cat([batch["spread_2d"], scale[2:].to(device).expand_as(pose_3d)], -1)
            eps = eps * per_joint                                        # (B, 17, 5)
        else:
            eps = eps * scale.to(device)
        x0 = torch.cat([pose_2d, pose_3d], dim=-1)                       # (B, 17, 5) uvxyz
        x_t = schedule.q_sample(x0, t, eps)
        eps_hat = model(x_t, pose_2d, t)
        return (eps - eps_hat).square().sum(dim=(1, 2)).mean()

    return loss


# ----------------------------------------------------------------------------- entry points

def fit_lifter(cfg: Config, run_dir: str | Path | None = None, *, resume: bool = False,
               device=None, train_samples=None, test_samples=None, on_step: Callback | None = None,
               on_epoch: Callback | None = None, progress: bool = True,
               max_steps: int | None = None) -> FitResult:
    """Train the GraFormer lifter on ``cfg.data`` with ``cfg.lifter`` / ``cfg.lifter_train``.

    Loss: MPJPE (metres) on root-relative 3D. Validation each epoch: per-action P1/P2 (mm) of the
    lifter alone on the test subjects. Files go to ``run_dir`` (default ``exp/lifter``).
    ``train_samples`` / ``test_samples`` (PoseSamples) replace the files named by ``cfg.data``.
    ``max_steps`` stops (and checkpoints) after that many optimiser steps in total.
    """
    cfg, dist, run, ckpt = open_run(cfg, run_dir, device, resume, "lifter")
    torch.manual_seed(cfg.train.seed)
    model = build_lifter(cfg.lifter).to(dist.device)
    lt = cfg.lifter_train
    test = test_samples if test_samples is not None else load_split(cfg.data, "test")
    stage = Stage("lifter", model, lifter_loss, make_optimizer(model.parameters(), "Adam", lt.lr),
                  epochs=lt.epochs, batch_size=lt.batch_size,
                  lr=StepDecay(lt.lr, lt.lr_gamma, lt.lr_decay_every), grad_clip=lt.grad_clip)
    trainer = Trainer(cfg, stage, _train_set(cfg, train_samples),
                      lambda m: validate(cfg, m, None, test, dist, progress=progress), run, dist,
                      Hooks(on_step, on_epoch, progress))
    return _run(trainer, ckpt, max_steps)


def fit(cfg: Config, run_dir: str | Path | None = None, *, resume: bool = False, device=None,
        lifter: torch.nn.Module | None = None, train_samples=None, test_samples=None,
        on_step: Callback | None = None, on_epoch: Callback | None = None,
        progress: bool = True, max_steps: int | None = None) -> FitResult:
    """Train the diffusion denoiser (``cfg.model``) on ``cfg.data`` with ``cfg.train`` / ``cfg.optim``.

    The lifter used for validation (lifter -> DDIM -> flip TTA, ``cfg.eval``) is ``lifter`` or
    the checkpoint ``cfg.lifter.checkpoint``; without either, validation is skipped. Files go to
    ``run_dir`` (default ``exp/mmdiff``); ``resume=True`` continues from ``run_dir/ckpt.pth``.
    on_step(dict(epoch, batch, step, loss, lr)) and on_epoch(dict(epoch, loss, p1, p2, ...)) are
    called on the main process (e.g. a live loss plot in a notebook).
    Returns a FitResult whose ``model`` holds the EMA weights when EMA is on.
    """
    from mmdiff.checkpoints import load_lifter
    cfg, dist, run, ckpt = open_run(cfg, run_dir, device, resume, "mmdiff")
    torch.manual_seed(cfg.train.seed)
    model = build_denoiser(cfg.model).to(dist.device)
    if lifter is None and cfg.lifter.checkpoint and Path(cfg.lifter.checkpoint).is_file():
        lifter = load_lifter(cfg.lifter.checkpoint, device=dist.device)
    validate_fn = None
    if lifter is not None:
        lifter = lifter.to(dist.device).eval()
        test = test_samples if test_samples is not None else load_split(cfg.data, "test")
        validate_fn = lambda m: validate(cfg, lifter, m, test, dist, progress=progress)  # noqa: E731
    else:
        run.log.info(f"no lifter at {cfg.lifter.checkpoint!r}: validation is skipped")
    o = cfg.optim
    stage = Stage("denoiser", model, _objective(cfg, lifter),
                  make_optimizer(model.parameters(), o.optimizer, o.lr, o.weight_decay,
                                 o.amsgrad, o.eps),
                  epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
                  lr=StepDecay(o.lr, o.lr_gamma, o.lr_decay_every, o.lr_decay_shift),
                  grad_clip=o.grad_clip,
                  ema=EMA(model, cfg.train.ema_rate) if cfg.train.ema else None)
    trainer = Trainer(cfg, stage, _train_set(cfg, train_samples), validate_fn, run, dist,
                      Hooks(on_step, on_epoch, progress))
    return _run(trainer, ckpt, max_steps)


def _objective(cfg: Config, lifter) -> LossFn:
    """The denoiser's loss for ``train.objective``: noise prediction (the paper) or the residual
    regressor of :mod:`mmdiff.regression` (a control; it needs the lifter)."""
    if cfg.train.objective == "diffusion":
        return denoiser_loss(cfg, BetaSchedule.from_config(cfg.diffusion))
    if cfg.train.objective == "regression":
        if lifter is None:
            raise ConfigError(f"train.objective regression needs a lifter: none at "
                              f"{cfg.lifter.checkpoint!r}")
        return regression_loss(cfg, lifter)
    raise ConfigError(f"train.objective: expected 'diffusion' or 'regression', "
                      f"found {cfg.train.objective!r}")


def _train_set(cfg: Config, samples) -> PoseDataset:
    samples = samples if samples is not None else load_split(cfg.data, "train")
    return PoseDataset(samples, flip=cfg.data.flip_aug, sample_gmm=cfg.data.sample_gmm,
                       seed=cfg.train.seed)


def _run(trainer: Trainer, ckpt: Path | None, max_steps: int | None) -> FitResult:
    """Restore ``ckpt`` when resuming, train, and close the run's log whatever happens."""
    try:
        if ckpt is not None:
            trainer.restore(ckpt)
        return trainer.fit(max_steps)
    finally:
        trainer.run.close()
