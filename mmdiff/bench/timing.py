"""Timing and memory helpers of the benchmarks: best-of-N wall time, alternating runs, peak memory,
the inputs and the training step every benchmark uses."""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from mmdiff.engine.precision import autocast, make_scaler, optimizer_step


@dataclass
class Row:
    """One line of the report: a name, poses/s per precision ({"fp32": ..., "bf16": ...}) and a
    note."""
    name: str
    poses_per_s: dict[str, float]
    note: str = ""
    flops_per_pose: float | None = None      # matrix-product FLOPs (mmdiff.bench.roofline)


def best_seconds(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Best wall-clock time of ``fn`` over ``repeats`` runs, after one warm-up run."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def alternate(fn_a, fn_b, repeats: int, sync) -> tuple[float, float]:
    """Best seconds of two functions run alternately (a, b, a, b, ...) after a warm-up each."""
    a, b = alternate_many([fn_a, fn_b], repeats, sync)
    return a, b


def alternate_many(fns, repeats: int, sync) -> list[float]:
    """Best seconds of each function, run in turn (a, b, c, a, b, c, ...) after a warm-up each,
    so that load from other processes hits them alike."""
    for fn in fns:
        fn()
    sync()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def make_inputs(batch: int, device: torch.device, seed: int = 0):
    """Random inputs of the right shapes: x_t (B, 17, 5), pose_2d (B, 17, 2), t (B,), target."""
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, 17, 5, generator=g)
    pose_2d = torch.rand(batch, 17, 2, generator=g) * 2 - 1
    t = torch.randint(0, 51, (batch,), generator=g)
    target = torch.randn(batch, 17, 5, generator=g)
    return [a.to(device) for a in (x_t, pose_2d, t, target)]


def training_step_fn(denoiser, x_t, pose_2d, t, target, precision: str = "fp32"):
    """A closure running one training step of the reference recipe (Adam, grad clip 1.0,
    loss = squared error summed over joints and channels, averaged over the batch), the forward
    pass in ``precision`` and the step in float32 as the training loop does it."""
    params = [p for p in denoiser.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    scaler = make_scaler(x_t.device, precision)

    def step():
        denoiser.train()
        with autocast(x_t.device, precision):
            eps = denoiser(x_t, pose_2d, t)
            loss = (target - eps.float()).square().sum(dim=(1, 2)).mean()
        optimizer_step(loss, opt, params, 1.0, scaler)
    return step


def peak_memory(step: Callable[[], None], device: torch.device) -> tuple[int | None, str]:
    """Peak memory of one call of ``step``: (bytes or None, how it was measured)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, "torch.cuda.max_memory_allocated"
    status = Path("/proc/self/status")
    if not status.is_file():
        return None, "not measured (no /proc/self/status)"
    before = _status_kib(status, "VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")     # reset the peak resident set (VmHWM)
        how = "peak RSS growth (VmHWM reset)"
    except OSError:
        how = "peak RSS growth (VmHWM not resettable: an upper bound of earlier peaks)"
    step()
    return (_status_kib(status, "VmHWM") - before) * 1024, how


def _status_kib(status: Path, field: str) -> int:
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{status} has no {field} line")
