"""Mixed precision: the matrix products in bfloat16 (or float16 on a GPU), everything that sets
the accuracy in float32.

    with autocast(device, "bf16"):              # forward passes (training and inference)
        loss = loss_fn(model, batch)            # the loss itself comes out float32
    optimizer_step(loss, optimizer, params, grad_clip=1.0, scaler=make_scaler(device, "bf16"))

Precisions (``train.precision``, ``eval.precision``, ``--precision``):

======  ======================================================================================
fp32    the default: no autocast, every result exactly as before (the golden fixtures)
bf16    ``torch.autocast`` with bfloat16 on CPU or GPU: matrix products (GEMMs, the graph
        convolutions, attention) read and write bf16; fp32 master weights (the parameters stay
        float32, autocast casts a bf16 copy per use and the gradients arrive in float32),
        fp32 optimiser state, fp32 loss, fp32 layer-norm statistics, fp32 read-out layers
fp16    the same with float16 and a gradient scaler (``torch.amp.GradScaler``); CUDA only
======  ======================================================================================

What stays float32 and where: the kernels of :mod:`mmdiff.models.kernels` follow autocast
(:func:`~mmdiff.models.kernels.compute_dtype`) and compute layer-norm statistics in float32; the
models' input embeddings and read-out layers (3 output channels) run in float32 (blocks under
``torch.autocast(..., enabled=False)`` in their forward); the losses and the DDIM sampler's
arithmetic see float32 tensors (inference casts the networks' outputs up, :mod:`mmdiff.pipeline`).

bf16 keeps 8 significant bits (about 3 decimal digits): speed-ups come from the bf16 matrix units
of recent CPUs (AVX512-BF16 / AMX) and GPUs. ``mmdiff bench --precision bf16`` measures them.
"""
from __future__ import annotations

import contextlib

import torch

from mmdiff.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

__all__ = ["PRECISIONS", "DTYPES", "check_precision", "autocast", "make_scaler",
           "optimizer_step"]


def check_precision(precision: str, device=None, key: str = "precision") -> str:
    """``precision`` if it is one of :data:`PRECISIONS` and runs on ``device`` (fp16 needs CUDA);
    else ConfigError naming ``key`` (e.g. ``train.precision``)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"{key}: expected one of {', '.join(PRECISIONS)}, found {precision!r}")
    if precision == "fp16" and device is not None and torch.device(device).type != "cuda":
        raise ConfigError(f"{key}: fp16 needs a CUDA device (found {torch.device(device)}); "
                          "use bf16 on the CPU")
    return precision


def autocast(device, precision: str = "fp32"):
    """Context manager: autocast to ``precision`` on ``device``'s type; fp32 does nothing (no
    autocast at all, so fp32 results are exactly those of code without this context)."""
    check_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=DTYPES[precision])


def make_scaler(device, precision: str = "fp32"):
    """A gradient scaler for fp16 (small gradients would flush to zero in float16), else None:
    fp32 needs none and bf16 has float32's exponent range."""
    check_precision(precision, device)
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, params,
                   grad_clip: float = 0.0, scaler=None) -> None:
    """Backward pass, gradient clipping and one optimiser step, as the training loop does it.

    loss: scalar (float32: the losses upcast the network's output). params: the parameters to
    clip (max total norm ``grad_clip``, 0 = off). With a ``scaler`` (fp16) the loss is scaled
    before backward and the gradients unscaled before clipping; a step whose gradients overflowed
    is skipped and the scale lowered. Call it outside autocast.
    """
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, grad_clip)
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params, grad_clip)
    scaler.step(optimizer)
    scaler.update()
