"""Attention over the nodes, and no-grad inference in CPU-cache-sized chunks."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from mmdiff.models.kernels.autocast import LOW
from mmdiff.models.kernels.dropout_masks import Dropout


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, drop: Dropout,
              training: bool, return_weights: bool = False):
    """softmax(q k^T) v over the last two axes, with dropout on the weights in training.

    q, k, v (B, H, N, d); q already scaled by 1/sqrt(d) (folded into W_q by :func:`linear`).
    Returns (y (B, H, N, d), weights (B, H, N, N) or None). Without dropout and without the
    weights asked for (evaluation) the fused ``F.scaled_dot_product_attention`` runs instead,
    except in bf16 / fp16 on a CPU, where it was slower than the three ops (issue 15: 5.6 ms
    against 3.1 ms for 192 poses, 4 heads, 34 nodes, 1 thread).
    """
    low = q.dtype in LOW and q.device.type == "cpu"
    if return_weights or (training and drop.p > 0) or low:   # bf16 SDPA is slower on a CPU
        weights = (q @ k.transpose(-2, -1)).softmax(dim=-1)              # (B, H, N, N)
        if not (training and drop.p > 0):
            return weights @ v, (weights if return_weights else None)
        return drop(weights) @ v, weights
    return F.scaled_dot_product_attention(q, k, v, scale=1.0), None


#: poses per chunk of a no-grad forward pass on the CPU
CPU_CHUNK = 192


def chunked(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor,
            chunk: int = CPU_CHUNK) -> torch.Tensor:
    """``fn(*tensors)`` computed on slices of ``chunk`` rows along axis 0, then concatenated.

    For no-grad inference on the CPU: a chunk's activations stay in the cache from layer to layer.
    Each row gets the same result as in one pass, up to float32 rounding. Other devices, and
    calls with autograd on, run in one pass. For a model marked ``fixed_chunks`` (compiled by
    :func:`mmdiff.inference.compile_for_inference`) every chunk, the last and any smaller batch
    included, is padded to ``chunk`` rows or run eager (:func:`_padded`), so that one compiled
    graph serves every call.
    """
    x = tensors[0]
    fixed = getattr(fn, "fixed_chunks", False)        # a compiled model: one shape, one graph
    if x.device.type != "cpu" or torch.is_grad_enabled() or (x.shape[0] <= chunk and not fixed):
        return fn(*tensors)
    parts = zip(*(t.split(chunk) for t in tensors))
    return torch.cat([_padded(fn, part, chunk) if fixed else fn(*part) for part in parts])


def _padded(fn: Callable[..., torch.Tensor], part, rows: int) -> torch.Tensor:
    """``fn(*part)`` for a compiled model that should see one batch size only (``rows``).

    A part of at least 3/4 of ``rows`` is padded to ``rows`` (copies of its first row) and the
    result cut back; a smaller one runs eager (``fn.forward``, bypassing the compiled call),
    where padding would cost more than the compiled graph saves (about 1.3x, issue 15).
    """
    n = part[0].shape[0]
    if n == rows:
        return fn(*part)
    if 4 * n < 3 * rows:
        return getattr(fn, "forward", fn)(*part)
    pad = [torch.cat([t, t[:1].expand(rows - n, *t.shape[1:])]) for t in part]
    return fn(*pad)[:n]
