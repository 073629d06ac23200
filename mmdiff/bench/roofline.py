"""The machine's limit beside each benchmark figure: a roofline a learner can see.

    peaks = {p: gemm_peak(p, device) for p in ("fp32", "bf16")}    # FLOP/s of one big GEMM
    flops = count_flops(step) / batch                              # matrix-product FLOPs per pose
    achieved = flops * poses_per_s                                 # FLOP/s of the row
    print(f"{achieved / peaks['bf16']:.0%} of the bf16 peak")

* :func:`gemm_peak`: the best FLOP/s of a square matrix product (2 n^3 FLOPs) in a precision,
  on this device and thread count: what the hardware and its BLAS can do at best.
* :func:`count_flops`: the matrix-product FLOPs of one call (``torch.utils.flop_counter``:
  matmul, linear, bmm, convolutions, attention, forward and backward), the work a row cannot
  avoid. Element-wise work (norms, softmax, activations, the optimiser) is not counted, so a row
  at 100 % of the peak is impossible and one far below it spends its time elsewhere.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from mmdiff.bench.timing import best_seconds
from mmdiff.engine.precision import check_precision

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def gemm_peak(precision: str = "fp32", device: torch.device | str = "cpu",
              shape: tuple[int, int, int] = (2048, 2048, 2048), repeats: int = 5) -> float:
    """Best FLOP/s of ``(m, k) @ (k, n)`` (``shape`` = m, k, n; 2 m k n FLOPs) in ``precision``
    on ``device``. The default square product shows the machine's limit; the model's own shape
    (rows = poses x graph nodes, k = n = the hidden width) what its small products can reach."""
    device = torch.device(device)
    check_precision(precision, device, "precision")
    m, k, n = shape
    g = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=g).to(device, DTYPES[precision])
    b = torch.randn(k, n, generator=g).to(device, DTYPES[precision])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    seconds = best_seconds(lambda: a @ b, repeats, sync)
    return 2.0 * m * k * n / seconds


def count_flops(fn: Callable[[], object]) -> float:
    """Matrix-product FLOPs of one call of ``fn`` (forward and, if it runs one, backward)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def roofline(poses_per_s: float, flops_per_pose: float, peak: float) -> tuple[float, float]:
    """(achieved FLOP/s, fraction of ``peak``) of a row."""
    achieved = poses_per_s * flops_per_pose
    return achieved, achieved / peak


def peak_lines(peaks: dict[str, float], device, model: dict | None = None,
               shape=None) -> list[str]:
    """The peak lines of a report: the square product's (the % columns divide by it) and, when
    given, the model shape's."""
    lines = [f"  GEMM peak ({p}, 2048^3 matrix product, {device}): {v / 1e9:.0f} GFLOP/s"
             for p, v in peaks.items()]
    if model:
        m, k, n = shape
        lines += [f"  GEMM at the model's shape ({p}, {m} x {k} @ {k} x {n}): {v / 1e9:.0f} "
                  f"GFLOP/s" for p, v in model.items()]
    return lines


def roofline_columns(poses: dict[str, float], flops_per_pose: float | None,
                     peaks: dict[str, float]) -> str:
    """ "  0.12 MFLOP/pose: 45 GFLOP/s 50 % | 90 GFLOP/s 45 %" for one row, per precision."""
    if not flops_per_pose:
        return ""
    parts = []
    for p, v in poses.items():
        if v != v or p not in peaks:                      # nan: not timed in that column
            parts.append("-")
            continue
        achieved, share = roofline(v, flops_per_pose, peaks[p])
        parts.append(f"{achieved / 1e9:5.1f} GFLOP/s {share:4.0%}")
    return f"  {flops_per_pose / 1e6:6.2f} MFLOP/pose: " + " | ".join(parts)
