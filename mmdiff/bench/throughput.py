"""Poses per second of the models and of the predict pipeline on one device, and the peak memory
of a training step (the default report of ``mmdiff bench``)."""
from __future__ import annotations

import torch

from mmdiff.bench.timing import Row, best_seconds, make_inputs, peak_memory, training_step_fn
from mmdiff.inference import denoise, predict
from mmdiff.models import DenoiserConfig, build_denoiser, build_lifter


def released_models(device: torch.device, kind: str = "mmdiff"):
    """The lifter and a denoiser at the released size (random weights, seed 0), eval mode."""
    torch.manual_seed(0)
    lifter = build_lifter().to(device).eval()
    denoiser = build_denoiser(DenoiserConfig(kind=kind)).to(device).eval()
    return lifter, denoiser


def bench_device(device: torch.device, batch: int, repeats: int, kind: str = "mmdiff"):
    """(rows, peak memory of a training step) of the released-size models on one device.

    Rows: lifter forward, denoiser forward (as the pipeline calls it: :func:`denoise`), a
    training step, and predict without and with flip TTA, each in poses/s.
    """
    lifter, denoiser = released_models(device, kind)
    x_t, pose_2d, t, target = make_inputs(batch, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step = training_step_fn(denoiser, x_t, pose_2d, t, target)
    peak = peak_memory(step, device)            # first, so earlier runs do not mask the peak

    rows = []
    with torch.no_grad():
        rows.append(Row("lifter forward",
                        batch / best_seconds(lambda: lifter(pose_2d), repeats, sync)))
        denoiser.eval()
        rows.append(Row("denoiser forward", batch / best_seconds(
            lambda: denoise(denoiser, x_t, pose_2d, t), repeats, sync)))
    rows.append(Row("training step", batch / best_seconds(step, repeats, sync)))
    denoiser.eval()
    for flip in (False, True):
        secs = best_seconds(lambda: predict(lifter, denoiser, pose_2d, flip=flip), repeats, sync)
        rows.append(Row(f"predict, {'flip' if flip else 'no flip'}", batch / secs,
                        "lifter + DDIM 2 of 12" + (" x2 (flip TTA)" if flip else "")))
    return rows, peak


def format_report(device: torch.device, batch: int, rows: list[Row], peak) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    lines = [f"device {device} ({name}), batch {batch}, torch {torch.__version__}"]
    for row in rows:
        value = f"{row.poses_per_s:10.0f} poses/s" if row.poses_per_s is not None else " " * 17
        lines.append(f"  {row.name:18s} {value}  {row.note}".rstrip())
    size, how = peak
    text = f"{size / 2**20:.0f} MiB" if size is not None else "n/a"
    lines.append(f"  peak memory of one training step (batch {batch}): {text} [{how}]")
    return "\n".join(lines)
