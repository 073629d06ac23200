"""``mmdiff bench --kernels``: each speed kernel of :mod:`mmdiff.models.kernels` against the plain
PyTorch it replaces, at the released size (batch 1024, 34 nodes, 96 features), and the effect of
the allocator setting of :mod:`mmdiff.cpu` on a denoiser forward pass.

Each row times the plain form and the kernel alternately (median of ``repeats`` runs after a
warm-up) and prints milliseconds per call and the ratio, with the largest difference of their
outputs. The figures quoted in the kernels' docstrings come from this report.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdiff.models import build_denoiser
from mmdiff.models import kernels as K
from mmdiff.models.graph import adjacency_from_edges, chebyshev_polynomials, normalized_laplacian
from mmdiff.models.mmdiff import cross_channel_edges

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


def _fwd_bwd(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    """A closure running f(x) forward and backward (gradient of the sum)."""
    def run():
        x.grad = None
        f(x).sum().backward()
    return run


def kernel_cases(seed: int = 0) -> list[tuple[str, Callable, Callable, Callable]]:
    """(name, plain closure, kernel closure, output check) for every kernel.

    The check returns the largest |plain - kernel| of the two outputs (None for random ones)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, N, C, generator=g)
    xg = x.clone().requires_grad_(True)
    lin, wide, narrow = nn.Linear(C, C), nn.Linear(C, 2 * C), nn.Linear(2 * C, C)
    fc3 = nn.Linear(17, N)
    a, b = torch.rand(C, generator=g) + 0.5, torch.randn(C, generator=g)
    adj = adjacency_from_edges(cross_channel_edges(), N)
    polys = chebyshev_polynomials(normalized_laplacian(adj), 2)         # (3, N, N)
    W, bias = torch.randn(3, C, C, generator=g) * 0.05, torch.randn(C, generator=g)
    lap = torch.rand(N, N, generator=g) / N
    x2 = torch.randn(B, N, 2 * C, generator=g)
    h17 = torch.randn(B, 17, C, generator=g)
    q, k, v = (torch.randn(B, 4, N, C // 4, generator=g) for _ in range(3))
    drop = K.Dropout(0.1)
    scale = (C // 4) ** -0.5

    def cheb_plain():
        T = chebyshev_polynomials(normalized_laplacian(adj), 2)       # per call, as the reference
        return sum(T[i] @ x @ W[i] for i in range(3)) + bias

    def attn_plain():
        return ((q * scale) @ k.transpose(-2, -1)).softmax(-1) @ v

    def node_plain():
        return lin(fc3(h17.transpose(1, 2)).transpose(1, 2))           # + the next layer's read

    cases = [
        ("dropout p=0.25 (train)", lambda: F.dropout(x, 0.25, True),
         lambda: K.dropout(x, 0.25, True), None),
        ("linear 96->96", lambda: F.linear(x, lin.weight, lin.bias), lambda: K.linear(x, lin),
         lambda: (F.linear(x, lin.weight, lin.bias) - K.linear(x, lin))),
        ("layer norm fwd+bwd", _fwd_bwd(lambda z: K.layer_norm_plain(z, a, b, 1e-6), xg),
         _fwd_bwd(lambda z: K.layer_norm(z, a, b, 1e-6), xg),
         lambda: K.layer_norm_plain(x, a, b, 1e-6) - K.layer_norm(x, a, b, 1e-6)),
        ("attention (eval)", attn_plain, lambda: K.attention(q * scale, k, v, drop, False)[0],
         lambda: attn_plain() - K.attention(q * scale, k, v, drop, False)[0]),
        ("Chebyshev conv K=2", cheb_plain, lambda: K.cheb_conv(x, polys, W, bias),
         lambda: cheb_plain() - K.cheb_conv(x, polys, W, bias)),
        ("learned-graph fc 192->96", lambda: narrow(lap @ x2),
         lambda: K.graph_linear(lap, x2, narrow),
         lambda: narrow(lap @ x2) - K.graph_linear(lap, x2, narrow)),
        ("learned-graph fc 96->192", lambda: wide(lap @ x), lambda: K.graph_linear(lap, x, wide),
         lambda: wide(lap @ x) - K.graph_linear(lap, x, wide)),
        ("node fc 17->34 (+ next layer)", node_plain, lambda: lin(K.node_linear(h17, fc3)),
         lambda: node_plain() - lin(K.node_linear(h17, fc3))),
    ]
    cases.append(_chunk_case(g))
    return cases + bf16_cases(g)


def layer_norm_hand(x, a, b, eps: float) -> torch.Tensor:
    """The bf16 layer norm before the fused one: the hand-written norm in float32 (float32 out)."""
    return K._UnbiasedLayerNorm.apply(x.float(), a.float(), b.float(), eps)


def _bf16(fn: Callable[[], object]) -> Callable[[], object]:
    """fn run under CPU autocast to bf16 (:mod:`mmdiff.precision`)."""
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fn()
    return run


def bf16_cases(g: torch.Generator) -> list[tuple[str, Callable, Callable, Callable]]:
    """The kernels' bf16 paths (issue 15) against the form the bf16 step ran before them, at the
    same size, under autocast: float32 residual stream x, bf16 branch outputs."""
    x = torch.randn(B, N, C, generator=g)
    xg = x.clone().requires_grad_(True)
    xb = torch.randn(B, N, C, generator=g).bfloat16().requires_grad_(True)
    yb = torch.randn(B, N, C, generator=g).bfloat16()
    layers = nn.ModuleList(nn.Linear(C, C) for _ in range(3))
    a, b = torch.rand(C, generator=g) + 0.5, torch.randn(C, generator=g)
    polys = chebyshev_polynomials(normalized_laplacian(adjacency_from_edges(
        cross_channel_edges(), N)), 2)
    W, bias = torch.randn(3, C, C, generator=g) * 0.05, torch.randn(C, generator=g)
    scale = (C // 4) ** -0.5

    def qkv(fn):
        return lambda z: sum(t.float().sum() for t in fn(z, layers, 4, scale))

    def cheb(fn):
        return lambda: fn(*(t.bfloat16() for t in (x, polys, W, bias)))

    def ln_hand(z):                        # the hand-written norm in float32, cast to bf16
        return layer_norm_hand(z, a, b, 1e-6).bfloat16()

    def norm(z):
        return K.layer_norm(z, a, b, 1e-6)

    return [
        ("bf16 dropout p=0.1 fwd+bwd", _fwd_bwd(lambda z: F.dropout(z, 0.1, True), xb),
         _fwd_bwd(lambda z: K.dropout(z, 0.1, True), xb), None),
        ("bf16 Q, K, V maps fwd+bwd", _bf16(_fwd_bwd(qkv(K._qkv_separate), xg)),
         _bf16(_fwd_bwd(qkv(K.qkv_heads), xg)),
         _bf16(lambda: torch.stack(K._qkv_separate(x, layers, 4, scale)).float()
               - torch.stack(K.qkv_heads(x, layers, 4, scale)).float())),
        ("bf16 layer norm fwd+bwd", _bf16(_fwd_bwd(ln_hand, xg)), _bf16(_fwd_bwd(norm, xg)),
         _bf16(lambda: ln_hand(x).float() - norm(x).float())),
        ("bf16 residual add (fp32 + bf16)", lambda: x + yb, lambda: K.residual_add(x, yb),
         lambda: (x + yb) - K.residual_add(x, yb)),
        ("bf16 Chebyshev conv K=2", cheb(K._cheb_conv_terms), cheb(K._cheb_conv_stacked),
         lambda: cheb(K._cheb_conv_terms)().float() - cheb(K._cheb_conv_stacked)().float()),
    ]


def _chunk_case(g: torch.Generator):
    torch.manual_seed(0)
    model = build_denoiser().eval()
    x_t, c = torch.randn(B, 17, 5, generator=g), torch.rand(B, 17, 2, generator=g) * 2 - 1
    t = torch.randint(0, 51, (B,), generator=g)
    return ("denoiser forward in chunks of 192", lambda: model(x_t, c, t),
            lambda: K.chunked(model, x_t, c, t),
            lambda: model(x_t, c, t) - K.chunked(model, x_t, c, t))


def kernel_rows(repeats: int = 20) -> list[tuple[str, float, float, float | None]]:
    """(name, plain ms, kernel ms, max |difference|) for every kernel, timed alternately."""
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
from mmdiff.cpu import keep_freed_memory
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
    and with :func:`mmdiff.cpu.keep_freed_memory`, each in a fresh process."""
    rows = []
    for mode, label in (("off", "glibc defaults"), ("on", "keep_freed_memory()")):
        out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True,
                             text=True, check=True).stdout.split()
        rows.append((label, int(out[0]), float(out[1])))
    return rows


def format_kernels(rows, allocator) -> str:
    lines = [f"  {'kernel (batch 1024, 34 nodes, 96 features)':44s} {'plain ms':>9s} "
             f"{'kernel ms':>9s}  gain   max |diff|"]
    for name, plain, fast, diff in rows:
        d = f"{diff:.1e}" if diff is not None else "(random)"
        lines.append(f"  {name:44s} {plain:9.2f} {fast:9.2f}  {plain / fast:4.2f}x  {d}")
    if allocator:
        lines.append("  denoiser forward, batch 1024: page faults per call, best ms")
        for label, faults, ms in allocator:
            lines.append(f"    {label:42s} {faults:9d} {ms:9.1f}")
    return "\n".join(lines)
