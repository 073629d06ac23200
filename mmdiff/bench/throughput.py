"""Poses per second of the models and of the predict pipeline on one device, in one or more
precisions side by side, and the peak memory of a training step (the default report of
``mmdiff bench``)."""
from __future__ import annotations

import dataclasses
from functools import partial

import torch

from mmdiff.bench.roofline import count_flops, peak_lines, roofline_columns
from mmdiff.bench.timing import (Row, alternate_many, make_inputs, peak_memory,
                                 training_step_fn)
from mmdiff.engine.precision import autocast
from mmdiff.models import DenoiserConfig, build_denoiser, build_lifter
from mmdiff.pipeline import Pipeline, denoise


def released_models(device: torch.device, kind: str = "mmdiff", cfg=None):
    """The lifter and a denoiser at the released size, or at the sizes of config ``cfg``
    (``--config``: its ``lifter`` and ``model`` sections), random weights (seed 0), eval mode."""
    torch.manual_seed(0)
    if cfg is None:
        lifter = build_lifter().to(device).eval()
        denoiser = build_denoiser(DenoiserConfig(kind=kind)).to(device).eval()
        return lifter, denoiser
    model = dataclasses.replace(cfg.model, kind=kind)
    return build_lifter(cfg.lifter).to(device).eval(), build_denoiser(model).to(device).eval()


def bench_device(device: torch.device, batch: int, repeats: int, kind: str = "mmdiff",
                 precisions=("fp32",), cfg=None):
    """(rows, {precision: peak memory of a training step}) of the released-size models, or of
    config ``cfg``'s sizes.

    Rows: lifter forward, denoiser forward (as the pipeline calls it: :func:`denoise`), a
    training step, and predict without and with flip TTA, each in poses/s per precision, with
    its matrix-product FLOPs per pose (counted once, in fp32); the precisions of a row run in
    turn (:func:`~mmdiff.bench.timing.alternate_many`).
    """
    lifter, denoiser = released_models(device, kind, cfg)
    x_t, pose_2d, t, target = make_inputs(batch, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    steps = {p: training_step_fn(denoiser, x_t, pose_2d, t, target, p) for p in precisions}
    peaks = {p: peak_memory(steps[p], device) for p in precisions}   # first: nothing masks them

    def lift(p):
        def run():
            with torch.no_grad(), autocast(device, p):
                lifter(pose_2d)
        return run

    def timed(name, make, note=""):
        flops = count_flops(make("fp32")) / batch
        seconds = alternate_many([make(p) for p in precisions], repeats, sync)
        return Row(name, {p: batch / s for p, s in zip(precisions, seconds)}, note, flops)

    denoiser.eval()
    rows = [timed("lifter forward", lift),
            timed("denoiser forward", lambda p: torch.no_grad()(
                lambda: denoise(denoiser, x_t, pose_2d, t, p))),
            timed("training step", lambda p: steps[p])]
    denoiser.eval()
    for flip in (False, True):
        rows.append(timed(f"predict, {'flip' if flip else 'no flip'}",
                          lambda p: partial(Pipeline.paper(lifter, denoiser, flip=flip,
                                                           precision=p).sample_batch, pose_2d),
                          "lifter + DDIM 2 of 12" + (" x2 (flip TTA)" if flip else "")))
    return rows, peaks


def format_report(device: torch.device, batch: int, rows: list[Row], peaks,
                  gemm: dict[str, float] | None = None, sizes: str = "released size",
                  model_gemm: dict | None = None, shape=None) -> str:
    """The report; with ``gemm`` ({precision: GEMM peak FLOP/s}) each row also gives its
    FLOP/s and its share of that peak (:mod:`mmdiff.bench.roofline`)."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    precisions = list(rows[0].poses_per_s) if rows else ["fp32"]
    lines = [f"device {device} ({name}), batch {batch}, {sizes}, torch {torch.__version__}"]
    if gemm:
        lines += peak_lines(gemm, device, model_gemm, shape)
    if len(precisions) > 1:
        head = "".join(f"{p:>10s}" for p in precisions) + "".join(
            f"  {p}/{precisions[0]}" for p in precisions[1:])
        lines.append(f"  {'poses/s':18s} {head}")
    for row in rows:
        values = [row.poses_per_s[p] for p in precisions]
        text = "".join(f"{v:10.0f}" for v in values)
        ratios = "".join(f"  {v / values[0]:8.2f}x" for v in values[1:])
        unit = " poses/s" if len(precisions) == 1 else ""
        lines.append(f"  {row.name:18s} {text}{unit}{ratios}  {row.note}".rstrip())
        if gemm:
            lines.append(f"  {'':18s}" + roofline_columns(row.poses_per_s, row.flops_per_pose,
                                                          gemm))
    for p, (size, how) in peaks.items():
        text = f"{size / 2**20:.0f} MiB" if size is not None else "n/a"
        lines.append(f"  peak memory of one training step (batch {batch}, {p}): {text} [{how}]")
    return "\n".join(lines)
