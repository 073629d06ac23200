"""Timing and memory helpers of the benchmarks: best-of-N wall time, alternating runs, peak memory,
the inputs and the training step every benchmark uses."""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch


@dataclass
class Row:
    """One line of the report: a name, poses/s (None when skipped) and a note."""
    name: str
    poses_per_s: float | None
    note: str = ""


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
    fn_a(), fn_b()
    sync()
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, fn in enumerate((fn_a, fn_b)):
            t0 = time.perf_counter()
            fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0], best[1]


def make_inputs(batch: int, device: torch.device, seed: int = 0):
    """Random inputs of the right shapes: x_t (B, 17, 5), pose_2d (B, 17, 2), t (B,), target."""
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, 17, 5, generator=g)
    pose_2d = torch.rand(batch, 17, 2, generator=g) * 2 - 1
    t = torch.randint(0, 51, (batch,), generator=g)
    target = torch.randn(batch, 17, 5, generator=g)
    return [a.to(device) for a in (x_t, pose_2d, t, target)]


def training_step_fn(denoiser, x_t, pose_2d, t, target):
    """A closure running one training step of the reference recipe (Adam, grad clip 1.0,
    loss = squared error summed over joints and channels, averaged over the batch)."""
    params = [p for p in denoiser.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)

    def step():
        denoiser.train()
        eps = denoiser(x_t, pose_2d, t)
        loss = (target - eps).square().sum(dim=(1, 2)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
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
