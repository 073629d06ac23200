"""Evaluation: per-action MPJPE (P1) and PA-MPJPE (P2) in mm, the seed's table, as CSV too.

    errors = evaluate_models(cfg, lifter, denoiser, samples)    # ActionErrors
    print(errors.table())

The pipeline is the paper's: the lifter's root-centred 3D, refined by DDIM (``cfg.eval``: steps of
a sub-schedule, eta, hypotheses) with flip test-time augmentation, through
:func:`mmdiff.inference.predict`. With ``denoiser=None`` the lifter alone is evaluated (with flip
TTA when ``cfg.eval.flip``: the lifter run on the flipped 2D, flipped back and averaged; with
``cfg.eval.lifter_flip = "mirror"`` the mirrored *output* instead, which is exactly the pose the
refinement starts from, so that row measures what the refinement adds).
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from mmdiff.checkpoints import load_denoiser, load_lifter
from mmdiff.config import Config
from mmdiff.data.dataset import load_split
from mmdiff.diffusion import BetaSchedule
from mmdiff.errors import ConfigError, DataError
from mmdiff.inference import compile_for_inference, predict
from mmdiff.metrics import ActionErrors
from mmdiff.precision import autocast
from mmdiff.regression import regress
from mmdiff.runtime import Dist, default_device
from mmdiff.skeleton import flip_pose


LIFTER_FLIPS = ("rerun", "mirror")


@torch.no_grad()
def lift(lifter: torch.nn.Module, pose_2d: torch.Tensor, flip: bool = False,
         mode: str = "rerun", precision: str = "fp32") -> torch.Tensor:
    """The lifter alone. pose_2d: (B, 17, 2) normalised. Returns (B, 17, 3) root-relative metres.

    With ``flip`` and mode "rerun": the mean of the prediction and the un-flipped prediction on
    the flipped input. Mode "mirror" mirrors the prediction itself, as the refinement's mirrored
    start does (mirror, then mirror back: the plain prediction, the refinement's x_T).
    ``precision``: the lifter's forward passes (:mod:`mmdiff.precision`); the output is float32."""
    if mode not in LIFTER_FLIPS:
        raise ConfigError(f"eval.lifter_flip: expected one of {LIFTER_FLIPS}, found {mode!r}")

    def run(x):
        with autocast(x.device, precision):
            return lifter(x).float()
    out = run(pose_2d)  # (B, 17, 3)
    out = out - out[:, :1]
    if flip and mode == "rerun":
        mirrored = run(flip_pose(pose_2d))  # (B, 17, 3) of the mirrored person
        mirrored = flip_pose(mirrored - mirrored[:, :1])  # back to the original side
        out = (out + mirrored) / 2
    return out


@torch.no_grad()
def predict_poses(cfg: Config, lifter: torch.nn.Module, denoiser: torch.nn.Module | None,
                  pose_2d: np.ndarray | torch.Tensor, device=None, progress: bool = False,
                  desc: str = "eval") -> np.ndarray:
    """Batched 3D predictions for many poses.

    pose_2d: (N, 17, 2) normalised screen coordinates. Returns (N, 17, 3) float32 numpy, metres,
    root-relative. Uses ``cfg.eval`` (batch size, DDIM steps, eta, hypotheses, flip, seed) and
    ``cfg.diffusion`` (the training schedule the DDIM sub-schedule is taken from); the forward
    passes in ``eval.precision`` (the regression control always in float32). The paper's
    setting (1 hypothesis, eta 0) is deterministic; with more hypotheses or eta > 0 each batch
    draws from ``eval.seed + its first index``, so the numbers depend on ``eval.batch_size``.
    """
    from tqdm.auto import tqdm
    device = torch.device(device) if device is not None else next(lifter.parameters()).device
    e = cfg.eval
    pose_2d = torch.as_tensor(np.asarray(pose_2d, dtype=np.float32))
    if pose_2d.ndim != 3 or pose_2d.shape[1:] != (17, 2):
        raise DataError(f"pose_2d: expected (N, 17, 2), found {tuple(pose_2d.shape)}")
    lifter = lifter.to(device).eval()
    if denoiser is not None:
        denoiser = denoiser.to(device).eval()
    out = []
    starts = range(0, len(pose_2d), e.batch_size)
    for i in tqdm(starts, desc=desc, disable=not progress, leave=False):
        chunk = pose_2d[i:i + e.batch_size].to(device)  # (b, 17, 2)
        if denoiser is None:
            pred = lift(lifter, chunk, flip=e.flip, mode=e.lifter_flip, precision=e.precision)
        elif cfg.train.objective == "regression":                   # the control, one pass
            pred = regress(cfg, lifter, denoiser, chunk)
        else:
            generator = torch.Generator(device=device).manual_seed(e.seed + i)
            pred = predict(lifter, denoiser, chunk, **_predict_kwargs(cfg), generator=generator)
        out.append(pred.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 17, 3), np.float32)


def _predict_kwargs(cfg: Config) -> dict:
    """The keyword arguments of mmdiff.inference.predict that ``cfg`` sets."""
    e = cfg.eval
    return dict(steps=e.steps, schedule_steps=e.schedule_steps, eta=e.eta,
                hypotheses=e.hypotheses, flip=e.flip, skip_type=e.skip_type,
                precision=e.precision, schedule=BetaSchedule.from_config(cfg.diffusion),
                noise_scale=tuple(cfg.diffusion.noise_scale))


def action_errors(pred: np.ndarray, samples, cfg: Config | None = None) -> ActionErrors:
    """The per-action table of ``pred`` (N, 17, 3) against ``samples.pose_3d``, in the samples'
    order, as test batches of ``cfg.eval.batch_size`` (P2 and the Average follow ``cfg.eval``'s
    conventions; default: the reference's, with batch 1024)."""
    e = (cfg or Config()).eval
    errors = ActionErrors(p2=e.p2, average=e.average)
    errors.update_batches(torch.as_tensor(pred), torch.as_tensor(samples.pose_3d),
                          samples.action, e.batch_size)
    return errors


def evaluate_models(cfg: Config, lifter, denoiser, samples, device=None,
                    progress: bool = False):
    """ActionErrors of lifter (+ denoiser, None = lifter alone) on ``samples`` with ``cfg.eval``."""
    pred = predict_poses(cfg, lifter, denoiser, samples.pose_2d, device=device, progress=progress)
    return action_errors(pred, samples, cfg)


def validate(cfg: Config, lifter, denoiser, samples, dist=None, progress: bool = False) -> dict:
    """Per-action P1/P2 of the pipeline on ``samples``, sharded over the processes of ``dist``.

    Returns {'p1': mm, 'p2': mm, 'table': text, 'errors': ActionErrors} (same on every process).
    """
    dist = dist if dist is not None else Dist()
    rows = np.arange(dist.rank, len(samples.pose_2d), dist.world)
    local = predict_poses(cfg, lifter, denoiser, samples.pose_2d[rows], device=dist.device,
                          progress=progress and dist.is_main,
                          desc="validate" if denoiser is not None else "validate lifter")
    pred = dist.gather_rows(local, len(samples.pose_2d))
    errors = action_errors(pred, samples, cfg)
    p1, p2 = _average(errors)
    return {"p1": p1, "p2": p2, "table": errors.table(), "errors": errors}


def _average(errors) -> tuple[float, float]:
    """(P1, P2) in mm averaged over the actions present, as the table's last line."""
    return tuple(float(v) for v in errors.average())


def evaluate(cfg: Config, lifter_path: str | Path | None = None,
             denoiser_path: str | Path | None = None, *, samples=None, device=None,
             csv: str | Path | None = None, progress: bool = True, use_ema: bool | None = None):
    """Load the checkpoints, evaluate on ``cfg.data``'s test subjects, optionally write CSV.

    lifter_path: default ``cfg.lifter.checkpoint``. denoiser_path: None evaluates the lifter
    alone; its EMA weights are used when present and ``eval.use_ema`` (or ``use_ema``) is on.
    Returns the ActionErrors accumulator (``.table()``, ``.to_csv()``, ``.summary()``).
    """
    device = default_device(device)
    lifter = load_lifter(lifter_path or cfg.lifter.checkpoint, device=device)
    denoiser = None
    if denoiser_path is not None:
        ema = cfg.eval.use_ema if use_ema is None else use_ema
        denoiser = load_denoiser(denoiser_path, device=device, ema="auto" if ema else False)
        if cfg.eval.compile:
            compile_for_inference(denoiser)
    samples = samples if samples is not None else load_split(cfg.data, "test")
    errors = evaluate_models(cfg, lifter, denoiser, samples, device=device, progress=progress)
    if csv is not None:
        Path(csv).parent.mkdir(parents=True, exist_ok=True)
        errors.to_csv(csv)
    return errors


def write_metrics_json(path: str | Path, results: dict[str, object]) -> Path:
    """Write {name: ActionErrors or summary dict} as JSON: {name: {action: [p1_mm, p2_mm]}},
    'Average' included (the mean over actions)."""
    out = {}
    for name, value in results.items():
        summary = dict(value.summary()) if hasattr(value, "summary") else dict(value)
        if hasattr(value, "average"):
            summary["Average"] = value.average()
        out[name] = {a: [round(float(p1), 3), round(float(p2), 3)] for a, (p1, p2) in summary.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    return path


def with_eval(cfg: Config, **changes) -> Config:
    """``cfg`` with some ``eval`` fields replaced (None values are ignored)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(cfg, eval=replace(cfg.eval, **changes)) if changes else cfg
