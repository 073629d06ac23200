"""Evaluation: per-action MPJPE (P1) and PA-MPJPE (P2) in mm, the seed's table, as CSV too.

    errors = evaluate_models(cfg, lifter, denoiser, samples)    # ActionErrors
    print(errors.table())

The predictions come from :class:`mmdiff.pipeline.Pipeline` built from the config (``cfg.sampler``
and ``cfg.eval``): the lifter's root-centred 3D refined by DDIM (or the regression control) with
flip test-time augmentation; with ``denoiser=None`` the lifter alone (with its own flip TTA unless
``eval.lifter_tta`` is false: then its plain output, the pose the refinement starts from).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from mmdiff.checkpoints import load_denoiser, load_lifter
from mmdiff.config import Config
from mmdiff.data.dataset import load_split
from mmdiff.engine.runtime import Dist, default_device
from mmdiff.metrics import ActionErrors
from mmdiff.models.kernels import compile_for_inference
from mmdiff.pipeline import Pipeline


def action_errors(pred: np.ndarray, samples, cfg: Config | None = None) -> ActionErrors:
    """The per-action table of ``pred`` (N, 17, 3) against ``samples.pose_3d``, in the samples'
    order, as test batches of ``cfg.eval.batch_size`` (P2 and the Average follow ``cfg.eval``'s
    conventions; default: the reference's, with batch 1024)."""
    e = (cfg or Config()).eval
    errors = ActionErrors(p2=e.p2, average=e.average)
    errors.update_batches(torch.as_tensor(pred), torch.as_tensor(samples.pose_3d),
                          samples.action, e.batch_size)
    return errors


def predictions(cfg: Config, lifter, denoiser, pose_2d, device=None, progress: bool = False,
                desc: str = "eval"):
    """The config's pipeline (:meth:`Pipeline.from_config`) on many poses: pose_2d (N, 17, 2)
    normalised -> (N, 17, 3) float32 numpy, metres, root-relative. ``denoiser=None``: the lifter
    alone."""
    return Pipeline.from_config(cfg, lifter, denoiser).predict(pose_2d, device=device,
                                                              progress=progress, desc=desc)


def evaluate_models(cfg: Config, lifter, denoiser, samples, device=None,
                    progress: bool = False):
    """ActionErrors of lifter (+ denoiser, None = lifter alone) on ``samples`` with ``cfg.eval``."""
    pred = predictions(cfg, lifter, denoiser, samples.pose_2d, device=device, progress=progress)
    return action_errors(pred, samples, cfg)


def validate(cfg: Config, lifter, denoiser, samples, dist=None, progress: bool = False) -> dict:
    """Per-action P1/P2 of the pipeline on ``samples``, sharded over the processes of ``dist``.

    Returns {'p1': mm, 'p2': mm, 'table': text, 'errors': ActionErrors} (same on every process).
    """
    dist = dist if dist is not None else Dist()
    rows = np.arange(dist.rank, len(samples.pose_2d), dist.world)
    local = predictions(cfg, lifter, denoiser, samples.pose_2d[rows], device=dist.device,
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
