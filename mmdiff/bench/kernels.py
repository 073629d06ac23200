"""``mmdiff bench --kernels``: each fast layer of :mod:`mmdiff.models.kernels` against its plain
parent, at the released size (batch 1024, 34 nodes, 96 features), and the effect of the
allocator setting of :mod:`mmdiff.engine.cpu` on a denoiser forward pass.

Each layer is timed in training (forward + backward) in float32 and under bf16 autocast, and
in evaluation (no-grad forward, float32): the plain layer and its fast form (the same layer
through :func:`~mmdiff.models.kernels.accelerate`) alternately, median of ``repeats`` runs
after a warm-up, in milliseconds per call, with the ratio and the largest difference of their
evaluation outputs. Last row: the denoiser's no-grad forward in CPU-cache-sized chunks.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Callable

import copy

import torch
import torch.nn as nn

from mmdiff.engine.precision import autocast
from mmdiff.models import (ChebConv, LayerNorm, LearnableGraphFFN, MultiHeadAttention, NodeLinear,
                           accelerate, adjacency_from_edges, build_denoiser, cross_channel_edges)
from mmdiff.models.graph import LearnableGraphConv
from mmdiff.models.kernels import chunked

B, N, C = 1024, 34, 96          # poses, cross-channel nodes, features: the released size


def median_ms(fn_a: Callable[[], object], fn_b: Callable[[], object],
              repeats: int) -> tuple[float, float]:
    """Median wall times in milliseconds of two functions run alternately (a, b, a, b, ...)
    ``repeats`` times each, after two warm-ups each."""
    fn_a(), fn_b(), fn_a(), fn_b()
    times = ([], [])
    for _ in range(repeats):
        for i, fn in enumerate((fn_a, fn_b)):
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
    return 1000 * statistics.median(times[0]), 1000 * statistics.median(times[1])


def layer_cases(seed: int = 0) -> list[tuple[str, nn.Module, tuple[torch.Tensor, ...]]]:
    """(name, plain layer, its inputs) for every fast form, at the released size."""
    g = torch.Generator().manual_seed(seed)
    x, x2 = torch.randn(B, N, C, generator=g), torch.randn(B, N, 2 * C, generator=g)
    h17 = torch.randn(B, 17, C, generator=g)
    ffn = LearnableGraphFFN(C, N)
    with torch.no_grad():
        ffn.A_hat.add_(torch.rand(N, N, generator=g) / N)
    lap = ffn.laplacian().detach()
    adj = adjacency_from_edges(cross_channel_edges(), N)
    return [("dropout p=0.1", nn.Dropout(0.1), (x,)),
            ("layer norm", LayerNorm(C), (x,)),
            ("Chebyshev conv K=2", ChebConv(C, C, adj), (x,)),
            ("attention, 4 heads", MultiHeadAttention(C, 4), (x,)),
            ("learned-graph fc 96->192", LearnableGraphConv(C, 2 * C), (x, lap)),
            ("learned-graph fc 192->96", LearnableGraphConv(2 * C, C, relu=False), (x2, lap)),
            ("node fc 17->34", NodeLinear(17, N), (h17,))]


def _train_step(layer: nn.Module, inputs, precision: str) -> Callable[[], None]:
    """A closure: the layer's forward and backward (gradient of the sum) in training mode."""
    x = inputs[0].clone().requires_grad_(True)

    def run():
        layer.train().zero_grad(set_to_none=True)
        x.grad = None
        with autocast("cpu", precision):
            out = layer(x, *inputs[1:])
        out.float().sum().backward()
    return run


def _eval_forward(layer: nn.Module, inputs,
                  precision: str = "fp32") -> Callable[[], torch.Tensor]:
    """A closure: the layer's no-grad forward in evaluation mode, as float32."""
    def run():
        with torch.no_grad(), autocast("cpu", precision):
            return layer.eval()(*inputs).float()
    return run


def kernel_cases(seed: int = 0) -> list[tuple[str, Callable, Callable, Callable | None]]:
    """(name, plain closure, fast closure, output check) for every fast layer in training
    (float32 and bf16) and evaluation, and for chunked inference. The check returns the
    largest |plain - fast| of their evaluation outputs in that precision (None for dropout's
    random ones)."""
    cases = []
    for name, plain, inputs in layer_cases(seed):
        fast = accelerate(copy.deepcopy(plain))
        drop = isinstance(plain, nn.Dropout)
        for precision in ("fp32", "bf16"):
            check = None if drop else (lambda p=plain, f=fast, i=inputs, pr=precision:
                                       _eval_forward(f, i, pr)() - _eval_forward(p, i, pr)())
            cases.append((f"{name}, {precision} fwd+bwd", _train_step(plain, inputs, precision),
                          _train_step(fast, inputs, precision), check))
        if not drop:                                             # (identity in evaluation)
            cases.append((f"{name}, fp32 eval", _eval_forward(plain, inputs),
                          _eval_forward(fast, inputs),
                          lambda p=plain, f=fast, i=inputs: _eval_forward(f, i)() -
                          _eval_forward(p, i)()))
    return cases + [_chunk_case(torch.Generator().manual_seed(seed))]


def _chunk_case(g: torch.Generator):
    torch.manual_seed(0)
    model = build_denoiser().eval()
    x_t, c = torch.randn(B, 17, 5, generator=g), torch.rand(B, 17, 2, generator=g) * 2 - 1
    t = torch.randint(0, 51, (B,), generator=g)
    return ("denoiser forward in chunks of 192", lambda: model(x_t, c, t),
            lambda: chunked(model, x_t, c, t),
            lambda: model(x_t, c, t) - chunked(model, x_t, c, t))


def kernel_rows(repeats: int = 20) -> list[tuple[str, float, float, float | None]]:
    """(name, plain ms, fast ms, max |difference|) for every case, timed alternately."""
    rows = []
    for name, plain, fast, check in kernel_cases():
        with torch.set_grad_enabled("bwd" in name):
            plain_ms, fast_ms = median_ms(plain, fast, repeats)
        with torch.no_grad():
            diff = float(check().abs().max()) if check is not None else None
        rows.append((name, plain_ms, fast_ms, diff))
    return rows


FAULTS = """
import resource, sys, time, torch
from mmdiff.engine.cpu import keep_freed_memory
from mmdiff.models import build_denoiser
if sys.argv[1] == "on":
    keep_freed_memory()
torch.manual_seed(0)
model = build_denoiser().eval()
x, c, t = torch.randn(1024, 17, 5), torch.rand(1024, 17, 2), torch.randint(0, 51, (1024,))
with torch.no_grad():
    model(x, c, t)                                  # warm up: the heap grows once
    best, faults = 1e9, []
    for _ in range(5):
        before, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        model(x, c, t)
        best = min(best, time.perf_counter() - t0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sorted(faults)[2], best * 1000)
"""


def allocator_rows() -> list[tuple[str, int, float]]:
    """(setting, page faults per denoiser forward (median of 5), best ms) with glibc's defaults
    and with :func:`mmdiff.engine.cpu.keep_freed_memory`, each in a fresh process."""
    rows = []
    for mode, label in (("off", "glibc defaults"), ("on", "keep_freed_memory()")):
        out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True,
                             text=True, check=True).stdout.split()
        rows.append((label, int(out[0]), float(out[1])))
    return rows


def format_kernels(rows, allocator) -> str:
    lines = [f"  {'fast layer (batch 1024, 34 nodes, 96 features)':44s} {'plain ms':>9s} "
             f"{'fast ms':>9s}  gain   max |diff|"]
    for name, plain, fast, diff in rows:
        d = f"{diff:.1e}" if diff is not None else "(random)"
        lines.append(f"  {name:44s} {plain:9.2f} {fast:9.2f}  {plain / fast:4.2f}x  {d}")
    if allocator:
        lines.append("  denoiser forward, batch 1024: page faults per call, best ms")
        for label, faults, ms in allocator:
            lines.append(f"    {label:42s} {faults:9d} {ms:9.1f}")
    return "\n".join(lines)
