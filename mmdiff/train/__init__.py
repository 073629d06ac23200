"""Training: the GraFormer lifter (MPJPE) and the diffusion denoiser (noise prediction).

    fit_lifter(cfg, "exp/demo_lifter")    # the prior: 2D -> root-relative 3D, MPJPE loss
    fit(cfg, "exp/demo")                  # the denoiser eps_theta(x_t, 2D, t), lifter from cfg

Read top to bottom: the losses (with the denoiser's random draws and the choice of objective),
then the two entry points. The loop both share is :mod:`mmdiff.train.loop`; run folders, resume and
stop signals are in :mod:`mmdiff.train.runs`, the EMA in :mod:`mmdiff.train.ema`, optimisers and the
lr schedule in :mod:`mmdiff.train.optim`, devices, seeds and processes in
:mod:`mmdiff.engine.runtime`.

Exact repeatability. All randomness is derived from ``(train.seed, epoch, batch)``:
- data order: ``DistributedSampler(seed, epoch)`` (also with one process);
- per-item flip / GMM kernel: the dataset's own ``(seed, epoch, index)`` rule;
- timesteps, then noise (:func:`denoiser_draws`): drawn for the whole *global* batch from a
  generator seeded per batch; the loop puts each process's rows into the batch (``t``, ``eps``),
  so N processes draw what one process would and the losses are functions of (model, batch);
- dropout: the global torch RNG, reseeded before every step from ``(seed, epoch, batch, rank)``.
So a run resumed from a mid-epoch checkpoint ends with the same weights as an uninterrupted one,
and a 2-process run (``torchrun``, :class:`mmdiff.engine.runtime.Dist`; ``train.batch_size`` is the
global batch) with dropout 0 matches a 1-process run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from mmdiff.config import Config, check_noise
from mmdiff.data.dataset import PoseDataset, load_split
from mmdiff.diffusion import DEFAULT_NOISE_SCALE, BetaSchedule, DDIMSampler, antithetic_timesteps
from mmdiff.errors import ConfigError
from mmdiff.evaluate import validate
from mmdiff.models import build_denoiser, build_lifter
from mmdiff.pipeline import RegressionRefiner, lift_uvxyz, regression_correct
from mmdiff.train.ema import EMA
from mmdiff.train.loop import Callback, DrawFn, FitResult, Hooks, LossFn, Stage, Trainer

#: batch -> the lifted pose uvxyz (B, 17, 5) a denoiser is trained from (``train.input``)
LiftFn = Callable[[dict], torch.Tensor]
from mmdiff.train.optim import StepDecay, make_optimizer
from mmdiff.train.runs import open_run


# ----------------------------------------------------------------------------- the losses

def lifter_loss(model, batch: dict) -> torch.Tensor:
    """MPJPE (metres) between the root-centred prediction and the root-relative target."""
    pred = model(batch["pose_2d"])                                       # (B, 17, 3)
    pred = pred - pred[:, :1]                                            # root-relative
    return (pred - batch["pose_3d"]).norm(dim=-1).mean()


def denoiser_loss(schedule: BetaSchedule, noise_scale=DEFAULT_NOISE_SCALE,
                  noise: str = "scale", lifted: LiftFn | None = None) -> LossFn:
    """The denoiser's loss: || sigma eps - eps_theta(x_t, 2D, t) ||^2 summed over joints and
    channels, averaged over the batch (the reference's loss), with
    x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) sigma eps.

    With ``lifted`` (``train.input`` lifter or crossfit) x_t is built from the lifter's output
    x_L = lifted(batch) (B, 17, 5) instead of the truth x_0, as the sampler builds its start at
    test time, and the target is the noise that leads from x_t to the truth:
    (x_t - sqrt(a_t) x_0) / sqrt(1 - a_t) = sigma eps + sqrt(a_t / (1 - a_t)) (x_L - x_0).

    batch: x_0 = uvxyz (B, 17, 5) from ``pose_2d`` (normalised 2D) and ``pose_3d`` (root-relative
    metres), and the draws ``t`` (B,) and standard Gaussian ``eps`` (B, 17, 5)
    (:func:`denoiser_draws`). sigma is ``noise_scale`` per channel (u, v, x, y, z) or, with
    ``noise == "gmm"``, on u, v the spread of the GMM kernel the dataset drew for each joint
    (``spread_2d``, DiffPose).
    """
    if noise not in ("scale", "gmm"):
        raise ConfigError(f"diffusion.noise: expected 'scale' or 'gmm', found {noise!r}")
    scale = torch.tensor(noise_scale, dtype=torch.float32)              # (5,) u, v, x, y, z

    def loss(model, batch: dict) -> torch.Tensor:
        pose_2d, pose_3d, t = batch["pose_2d"], batch["pose_3d"], batch["t"]  # (B, 17, 2|3), (B,)
        device = pose_2d.device
        if noise == "gmm":                                               # DiffPose: kernel spread
            sigma = torch.cat([batch["spread_2d"], scale[2:].to(device).expand_as(pose_3d)], -1)
        else:
            sigma = scale.to(device)
        eps = batch["eps"] * sigma                                       # (B, 17, 5)
        x0 = torch.cat([pose_2d, pose_3d], dim=-1)                       # (B, 17, 5) uvxyz
        if lifted is None:
            x_t, target = schedule.q_sample(x0, t, eps), eps
        else:
            x_t = schedule.q_sample(lifted(batch), t, eps)
            a = schedule.alpha_bar(t).to(device)[:, None, None]          # (B, 1, 1)
            target = (x_t - a.sqrt() * x0) / (1 - a).sqrt()
        eps_hat = model(x_t, pose_2d, t)
        return (target - eps_hat).square().sum(dim=(1, 2)).mean()

    return loss


def lifted_input(cfg: Config, lifter=None, fold_lifters=None, subjects=()) -> LiftFn | None:
    """What ``train.input`` trains from, as a function batch -> uvxyz (B, 17, 5): None for
    "truth"; the frozen ``lifter``'s output for "lifter"; for "crossfit" each row's output from
    ``fold_lifters[subject]``, the lifter trained without that row's subject (``subjects``: the
    dataset's subject names, indexed by ``batch["subject"]``). "auto": truth for diffusion,
    lifter for regression."""
    mode = cfg.train.input
    if mode == "auto":
        mode = "truth" if cfg.train.objective == "diffusion" else "lifter"
    if mode == "truth":
        return None
    if mode == "lifter":
        if lifter is None:
            raise ConfigError(f"train.input lifter (train.objective {cfg.train.objective}) needs "
                              f"a lifter: none at {cfg.lifter.checkpoint!r}")
        lifter = lifter.eval().requires_grad_(False)
        return lambda batch: _lift(lifter, batch["pose_2d"])
    missing = [s for s in subjects if s not in (fold_lifters or {})]
    if missing:
        raise ConfigError(f"train.input crossfit needs a lifter trained without each training "
                          f"subject; none for {missing} (mmdiff study trains them)")
    folds = [fold_lifters[s].eval().requires_grad_(False) for s in subjects]

    def lift(batch: dict) -> torch.Tensor:
        pose_2d, which = batch["pose_2d"], batch["subject"]
        out = torch.empty(pose_2d.shape[:-1] + (5,), device=pose_2d.device)
        for k, fold in enumerate(folds):
            rows = which == k
            if rows.any():
                out[rows] = _lift(fold, pose_2d[rows])
        return out

    return lift


def _lift(lifter, pose_2d: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return lift_uvxyz(lifter, pose_2d)                               # (B, 17, 5)


def regression_loss(cfg: Config, lifted: LiftFn) -> LossFn:
    """The control "why diffusion?" (``train.objective: regression``): the same network trained as
    a residual regressor of the frozen lifter, no noise and no sampler. One call at the timestep
    the sampler would start from (6 for DDIM 2 of 12), its x, y, z a correction of the lifted pose:

        pred = lifted + f_theta(uvxyz, 2D, t_start)[..., 2:]       # (B, 17, 3) metres
        loss = MPJPE(pred - pred_root, pose_3d)                     # as the lifter's

    If diffusion's refinement beats it at the same budget, the gain comes from the diffusion
    training (noise levels, the sampler), not from the network or its parameters. The pipeline
    evaluates it with :class:`mmdiff.pipeline.RegressionRefiner`. It draws nothing. ``lifted``
    (:func:`lifted_input`) gives the lifted pose: the lifter's own output on its training poses,
    or out-of-sample with crossfit."""
    t = RegressionRefiner.timestep(cfg)

    def loss(model, batch: dict) -> torch.Tensor:
        pose_2d = batch["pose_2d"]                                        # (B, 17, 2)
        uvxyz = lifted(batch)                                             # (B, 17, 5)
        pred = regression_correct(model, uvxyz, pose_2d, t)               # (B, 17, 3)
        return (pred - batch["pose_3d"]).norm(dim=-1).mean()              # MPJPE

    return loss


def noised_truth_regression_loss(cfg: Config) -> LossFn:
    """The regressor trained from ground truth + noise (``train.objective: regression``,
    ``train.input: truth``): the input is what the sampler would start from had the lifter been
    exact, x = x_0 + sqrt(1 - alpha-bar_t) sigma eps at the regressor's timestep t (the DDIM
    start's form, :func:`mmdiff.pipeline.start_samples`), and the target the ground truth:

        pred = x[..., 2:] + f_theta(x, 2D, t)[..., 2:]             # (B, 17, 3) metres
        loss = MPJPE(pred - pred_root, pose_3d)

    By Tweedie's formula the best such f gives E[x_0 | x]: the one-level denoiser a
    deterministic DDIM from t approximates. At test it corrects the lifter's output, like the
    regressor (:class:`mmdiff.pipeline.RegressionRefiner`). Draws: eps (B, 17, 5)."""
    t = RegressionRefiner.timestep(cfg)
    d = cfg.diffusion
    level = float((1 - DDIMSampler.from_config(d, cfg.sampler).schedule.alpha_bar(t)).sqrt())
    scale = torch.tensor(d.noise_scale, dtype=torch.float32)            # (5,) u, v, x, y, z

    def loss(model, batch: dict) -> torch.Tensor:
        pose_2d, pose_3d = batch["pose_2d"], batch["pose_3d"]           # (B, 17, 2), (B, 17, 3)
        x0 = torch.cat([pose_2d, pose_3d], dim=-1)                       # (B, 17, 5) uvxyz
        x = x0 + level * batch["eps"] * scale.to(x0.device)
        pred = regression_correct(model, x, pose_2d, t)                  # (B, 17, 3)
        return (pred - pose_3d).norm(dim=-1).mean()

    return loss


def eps_draws(generator: torch.Generator, rows: int, batch: dict) -> dict[str, torch.Tensor]:
    """Standard Gaussian eps (rows, 17, 5) for a global batch (the noised-truth regressor)."""
    return {"eps": torch.randn((rows,) + batch["pose_2d"].shape[1:-1] + (5,),
                               generator=generator)}


def denoiser_draws(cfg: Config) -> DrawFn:
    """The denoiser loss's random inputs for a global batch of ``rows`` poses, in this order:
    t (rows,) in [0, ``diffusion.train_t_max or num_timesteps``), in antithetic pairs with
    ``train.antithetic``, then eps (rows, 17, 5) standard Gaussian. The loop gives each process
    its rows (:mod:`mmdiff.train.loop`)."""
    t_max = cfg.diffusion.train_t_max or cfg.diffusion.num_timesteps
    antithetic, draws = cfg.train.antithetic, cfg.train.antithetic_draws

    def draw(generator: torch.Generator, rows: int, batch: dict) -> dict[str, torch.Tensor]:
        if antithetic:
            t = antithetic_timesteps(rows, t_max, generator, draws=draws)
        else:
            t = torch.randint(0, t_max, (rows,), generator=generator)
        eps = torch.randn((rows,) + batch["pose_2d"].shape[1:-1] + (5,), generator=generator)
        return {"t": t, "eps": eps}

    return draw


def objective(cfg: Config, lifter=None, fold_lifters=None,
              subjects=()) -> tuple[LossFn, DrawFn | None]:
    """The denoiser's loss and its draws for ``train.objective`` and ``train.input``
    (:func:`lifted_input`): noise prediction from ground truth + noise (the paper) or from the
    lifter's output; the residual regressor from the lifter's output (:func:`regression_loss`,
    a control; it draws nothing) or from ground truth + noise
    (:func:`noised_truth_regression_loss`)."""
    lifted = lifted_input(cfg, lifter, fold_lifters, subjects) \
        if cfg.train.objective in ("diffusion", "regression") else None
    if cfg.train.objective == "diffusion":
        check_noise(cfg)
        d = cfg.diffusion
        return (denoiser_loss(BetaSchedule.from_config(d), d.noise_scale, d.noise, lifted),
                denoiser_draws(cfg))
    if cfg.train.objective == "regression" and lifted is None:
        return noised_truth_regression_loss(cfg), eps_draws
    if cfg.train.objective == "regression":
        return regression_loss(cfg, lifted), None
    raise ConfigError(f"train.objective: expected 'diffusion' or 'regression', "
                      f"found {cfg.train.objective!r}")


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
        progress: bool = True, max_steps: int | None = None,
        fold_lifters: dict | None = None) -> FitResult:
    """Train the diffusion denoiser (``cfg.model``) on ``cfg.data`` with ``cfg.train`` / ``cfg.optim``.

    The lifter used for validation (lifter -> DDIM -> flip TTA, ``cfg.eval``) is ``lifter`` or
    the checkpoint ``cfg.lifter.checkpoint``; without either, validation is skipped. Files go to
    ``run_dir`` (default ``exp/mmdiff``); ``resume=True`` continues from ``run_dir/ckpt.pth``.
    on_step(dict(epoch, batch, step, loss, lr)) and on_epoch(dict(epoch, loss, p1, p2, ...)) are
    called on the main process (e.g. a live loss plot in a notebook).
    ``fold_lifters`` ({subject: lifter trained without it}) serve ``train.input: crossfit``.
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
    train_set = _train_set(cfg, train_samples)
    loss, draw = objective(cfg, lifter, fold_lifters, train_set.subjects)
    stage = Stage("denoiser", model, loss,
                  make_optimizer(model.parameters(), o.optimizer, o.lr, o.weight_decay,
                                 o.amsgrad, o.eps),
                  epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
                  lr=StepDecay(o.lr, o.lr_gamma, o.lr_decay_every, o.lr_decay_shift),
                  grad_clip=o.grad_clip,
                  ema=EMA(model, cfg.train.ema_rate) if cfg.train.ema else None, draw=draw)
    trainer = Trainer(cfg, stage, train_set, validate_fn, run, dist,
                      Hooks(on_step, on_epoch, progress))
    return _run(trainer, ckpt, max_steps)


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
