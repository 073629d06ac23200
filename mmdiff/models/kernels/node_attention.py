"""Fast attention over the nodes, and no-grad inference in CPU-cache-sized chunks (compiled or
eager)."""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from mmdiff.models.graph import MultiHeadAttention
from mmdiff.models.kernels.autocast import LOW


class FastMultiHeadAttention(MultiHeadAttention):
    """:class:`~mmdiff.models.graph.MultiHeadAttention` with the softmax scale 1/sqrt(d) folded
    into W_q and b_q (no pass over the scores) and, when neither dropout nor the weights are
    needed (evaluation), the fused ``F.scaled_dot_product_attention``; bf16 / fp16 on a CPU
    keep the three ops there, the fused one being slower."""

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        B, N, C = x.shape
        H, d = self.n_head, C // self.n_head
        w_q, w_k, w_v, w_o = self.linears
        s = 1.0 / math.sqrt(d)
        q = F.linear(x, w_q.weight * s, w_q.bias * s)                    # Q / sqrt(d)
        q, k, v = (z.view(B, N, H, d).transpose(1, 2) for z in (q, w_k(x), w_v(x)))
        drop = self.training and self.dropout.p > 0
        if return_attention or drop or (q.dtype in LOW and q.device.type == "cpu"):
            attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)             # (B, H, N, N)
            y = (self.dropout(attn) if drop else attn) @ v
        else:
            y, attn = F.scaled_dot_product_attention(q, k, v, scale=1.0), None
        y = w_o(y.transpose(1, 2).reshape(B, N, C))                      # heads side by side
        return (y, attn) if return_attention else y


#: poses per chunk of a no-grad forward pass on the CPU
CPU_CHUNK = 192


def chunked(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor,
            chunk: int = CPU_CHUNK) -> torch.Tensor:
    """``fn(*tensors)`` computed on slices of ``chunk`` rows along axis 0, then concatenated.

    For no-grad inference on the CPU: a chunk's activations stay in the cache from layer to layer.
    Each row gets the same result as in one pass, up to float32 rounding. Other devices, and
    calls with autograd on, run in one pass. For a model marked ``fixed_chunks`` (compiled by
    :func:`compile_for_inference`) every chunk, the last and any smaller batch
    included, is padded to ``chunk`` rows or run eager (:func:`_padded`), so that one compiled
    graph serves every call.
    """
    x = tensors[0]
    fixed = getattr(fn, "fixed_chunks", False)        # a compiled model: one shape, one graph
    if x.device.type != "cpu" or torch.is_grad_enabled() or (x.shape[0] <= chunk and not fixed):
        return fn(*tensors)
    parts = zip(*(t.split(chunk) for t in tensors))
    return torch.cat([_padded(fn, part, chunk) if fixed else fn(*part) for part in parts])


def compile_for_inference(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` compiled in place with ``torch.compile`` for inference (``eval.compile``,
    ``--compile``), and returned. Opt-in: the first forward pass compiles (about a minute on a
    CPU, again for a new precision), after which the forward runs faster than eager (``mmdiff
    bench --reference DIR --compile`` measures by how much). On a CPU every chunk of
    :func:`chunked` (through :func:`mmdiff.pipeline.denoise`) is padded to one size or, when much
    smaller, run eager, so that one graph serves every batch; elsewhere shapes are left to
    ``torch.compile`` (dynamic after a second size). For inference only: a compiled training step is
    no faster. Compiling twice does nothing."""
    if getattr(model, "compiled_for_inference", False):
        return model
    cpu = next(model.parameters()).device.type == "cpu"
    model.compile(dynamic=False if cpu else None)
    model.compiled_for_inference, model.fixed_chunks = True, cpu
    return model


def _padded(fn: Callable[..., torch.Tensor], part, rows: int) -> torch.Tensor:
    """``fn(*part)`` for a compiled model that should see one batch size only (``rows``).

    A part of at least 3/4 of ``rows`` is padded to ``rows`` (copies of its first row) and the
    result cut back; a smaller one runs eager (``fn.forward``, bypassing the compiled call),
    where padding would cost more than the compiled graph saves.
    """
    n = part[0].shape[0]
    if n == rows:
        return fn(*part)
    if 4 * n < 3 * rows:
        return getattr(fn, "forward", fn)(*part)
    pad = [torch.cat([t, t[:1].expand(rows - n, *t.shape[1:])]) for t in part]
    return fn(*pad)[:n]
