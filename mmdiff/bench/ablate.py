"""``mmdiff bench --ablate``: what each fast layer of :mod:`mmdiff.models.kernels` buys in a whole
training step.

The training step (bf16 by default; released size, batch 1024 by default, the step of
:func:`~mmdiff.bench.timing.training_step_fn`) of the kit's denoiser, every fast form in, is
timed against the same step of a copy with one kind of layer left plain, built through the one
switch: ``accelerate(plain, only=<every other kind>)`` (:func:`variants`); the last row leaves
them all plain. Runs alternate in one process (median of ``repeats`` after two warm-ups each);
a row's gain is its step time over the kit's.
"""
from __future__ import annotations

import copy

import torch
import torch.nn as nn

from mmdiff.bench.kernels import median_ms
from mmdiff.bench.timing import make_inputs, training_step_fn
from mmdiff.models import accelerate, build_denoiser
from mmdiff.models.kernels import FAST

ALL_PLAIN = "(all plain)"


def variants() -> dict[str, list[type[nn.Module]]]:
    """Row name (the layer left plain) -> the plain classes that row's denoiser accelerates."""
    rows = {plain.__name__: [c for c in FAST if c is not plain] for plain in FAST}
    rows[ALL_PLAIN] = []
    return rows


def ablation_rows(batch: int = 1024, repeats: int = 5, precision: str = "bf16"):
    """(row, kit ms, row ms) per row of :func:`variants`: median step times, alternating."""
    torch.manual_seed(0)
    plain = build_denoiser(fast=False)
    inputs = make_inputs(batch, torch.device("cpu"))
    kit = training_step_fn(accelerate(copy.deepcopy(plain)), *inputs, precision)
    rows = []
    for name, only in variants().items():
        model = accelerate(copy.deepcopy(plain), only=only)
        kit_ms, row_ms = median_ms(kit, training_step_fn(model, *inputs, precision), repeats)
        rows.append((name, kit_ms, row_ms))
    return rows


def format_ablation(rows, batch: int, precision: str = "bf16") -> str:
    lines = [f"  {precision} training step (batch {batch}), one layer kind left plain: median ms",
             f"  {'layer left plain':34s} {'kit':>9s} {'plain':>9s}  kit gain"]
    for name, kit, plain in rows:
        lines.append(f"  {name:34s} {kit:9.0f} {plain:9.0f}  {plain / kit:6.3f}x")
    return "\n".join(lines)
