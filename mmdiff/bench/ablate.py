"""``mmdiff bench --ablate``: what each bf16 path of :mod:`mmdiff.models.kernels` buys in a whole
training step.

The bf16 training step (released size, batch 1024 by default, the step of
:func:`~mmdiff.bench.timing.training_step_fn`) is timed against the same step with one bf16
path swapped back to the form it replaced, runs alternating in one process (median of
``repeats`` after two warm-ups each). A swap replaces one module attribute for the duration of
a step (:func:`swapped`), so the models themselves are untouched:

==============================  =================================================================
row                             the step with, instead
==============================  =================================================================
dropout: integer masks, 1 pass  masks cut in floating point, mask and scale applied in two passes
Q, K, V as one GEMM             three ``linear`` maps and head views
fused layer norm                the hand-written norm in float32, cast to bf16
residual add casts first        PyTorch's mixed-dtype add
Chebyshev terms stacked         the terms one by one
F.linear (bias fused)           GEMM, then the bias added in place
(cost of dropout)               every dropout off: what all the masks cost
==============================  =================================================================
"""
from __future__ import annotations

import contextlib
import importlib

import torch

from mmdiff.bench.kernels import layer_norm_hand, median_ms
from mmdiff.bench.timing import make_inputs, training_step_fn
from mmdiff.models import build_denoiser
from mmdiff.models import kernels as K
from mmdiff.models.kernels.dropout_masks import mask_threshold, random_ints


def _dropout_two_pass(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """The bf16 dropout before the integer masks: the mask cut in floating point (float32 for
    16-bit draws, which bf16 cannot hold), then x * mask and * 1 / (1 - p) as two passes."""
    if not training or p == 0.0:
        return x
    bits, thr = mask_threshold(p)
    work = x.dtype if bits == 8 or x.dtype == torch.float32 else torch.float32
    keep = random_ints(x.shape, bits, x.device).to(work).clamp_(thr - 1, thr).sub_(thr - 1)
    if x.dtype == torch.float32:
        return x * keep.mul_(1.0 / (1.0 - p))
    return (x * keep.to(x.dtype)).mul_(1.0 / (1.0 - p))


def _no_dropout(x, p, training):
    return x


PKG = "mmdiff.models.kernels"
#: row name -> [(module, attribute, what it becomes during the step)]
SWAPS = {
    "dropout: integer masks, 1 pass": [(f"{PKG}.dropout_masks", "dropout", _dropout_two_pass)],
    "Q, K, V as one GEMM": [(PKG, "qkv_heads", K._qkv_separate)],
    "fused layer norm": [(f"{PKG}.norm", "_fused_layer_norm", layer_norm_hand)],
    "residual add casts first": [(PKG, "residual_add", lambda x, y: x + y)],
    "Chebyshev terms stacked": [(f"{PKG}.graph", "_cheb_conv_stacked", K._cheb_conv_terms)],
    "F.linear (bias fused)": [(f"{PKG}.feature_maps", "_bias_fused", K._bias_after)],
    "(cost of dropout)": [(f"{PKG}.dropout_masks", "dropout", _no_dropout)],
}


@contextlib.contextmanager
def swapped(swaps):
    """Within the block, each (module, attribute) of ``swaps`` is the given replacement."""
    saved = []
    try:
        for module, name, new in swaps:
            mod = importlib.import_module(module)
            saved.append((mod, name, getattr(mod, name)))
            setattr(mod, name, new)
        yield
    finally:
        for mod, name, old in reversed(saved):
            setattr(mod, name, old)


def ablation_rows(batch: int = 1024, repeats: int = 5, precision: str = "bf16"):
    """(row, kit ms, swapped ms) per row of :data:`SWAPS`: median step times, alternating."""
    torch.manual_seed(0)
    denoiser = build_denoiser()
    step = training_step_fn(denoiser, *make_inputs(batch, torch.device("cpu")), precision)
    rows = []
    for name, swaps in SWAPS.items():
        def previous(swaps=swaps):
            with swapped(swaps):
                step()
        kit_ms, previous_ms = median_ms(step, previous, repeats)
        rows.append((name, kit_ms, previous_ms))
    return rows


def format_ablation(rows, batch: int) -> str:
    lines = [f"  bf16 training step (batch {batch}), one path swapped back: median ms",
             f"  {'bf16 path':34s} {'kit':>9s} {'swapped':>9s}  kit gain"]
    for name, kit, previous in rows:
        lines.append(f"  {name:34s} {kit:9.0f} {previous:9.0f}  {previous / kit:6.3f}x")
    return "\n".join(lines)
