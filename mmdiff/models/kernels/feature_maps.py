"""Feature maps: linear layers, the attention's stacked Q / K / V maps and residual adds."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdiff.models.kernels.autocast import LOW, compute_dtype


def linear(x: torch.Tensor, layer: nn.Linear, scale: float | None = None) -> torch.Tensor:
    """``F.linear(x, scale * W, scale * b)``: x (..., in) -> (..., out).

    One GEMM plus an in-place bias add; ``F.linear`` on the CPU runs ``addmm``, which first
    copies the bias into the whole output. ``scale`` folds a constant into W and b (the softmax
    scale 1/sqrt(d) of attention), which saves a pass over q.
    """
    dt = compute_dtype(x)
    w, b = layer.weight.to(dt), layer.bias.to(dt)
    if scale is not None:
        w, b = w * scale, b * scale
    if dt in LOW:       # bf16 / fp16: 0.22 ms against 0.36 ms for mm + add_ (issue 15)
        return _bias_fused(x.to(dt), w, b)
    return _bias_after(x.to(dt), w, b)


def _bias_after(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x W^T + b as one GEMM, then the bias added in place. x (..., in), w (out, in), b (out,)."""
    y = x.reshape(-1, x.shape[-1]) @ w.t()
    return y.add_(b).view(*x.shape[:-1], w.shape[0])


def _bias_fused(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x W^T + b by ``F.linear`` (in bf16 oneDNN adds the bias inside the product)."""
    return F.linear(x, w, b)


def qkv_heads(x: torch.Tensor, layers, n_head: int,
              q_scale: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The attention inputs q, k, v (B, H, N, d) of x (B, N, C): three ``linear`` maps (q's
    scaled by ``q_scale``), split into H heads of d = C / H features.

    In bf16 / fp16 (:class:`_QKVHeads`) the three maps are one GEMM against the stacked (3C, C)
    weight, forward and backward, and the backward writes the heads' gradients straight into
    the GEMM's layout (instead of three GEMMs, three layout copies and two gradient sums).
    float32 keeps the three separate maps (results unchanged).
    """
    dt = compute_dtype(x)
    if dt not in LOW:
        return _qkv_separate(x, layers, n_head, q_scale)
    wq, wk, wv = (lin.weight for lin in layers)
    bq, bk, bv = (lin.bias for lin in layers)
    w = torch.cat([wq * q_scale, wk, wv]).to(dt)                         # (3C, C)
    b = torch.cat([bq * q_scale, bk, bv]).to(dt)                         # (3C,)
    return _QKVHeads.apply(x.to(dt), w, b, n_head)


def _qkv_separate(x, layers, n_head: int, q_scale: float):
    """:func:`qkv_heads` as three :func:`linear` maps and three (B, H, N, d) views."""
    B, N, _ = x.shape
    q, k, v = (linear(x, lin, scale=s) for lin, s in zip(layers, (q_scale, None, None)))
    return tuple(z.view(B, N, n_head, -1).transpose(1, 2) for z in (q, k, v))


class _QKVHeads(torch.autograd.Function):
    """q, k, v = heads(x W^T + b) with W (3C, C): one GEMM, then one copy into the (3, B, H, N, d)
    layout that the attention products read; backward: the three head gradients copied into one
    (B, N, 3C) buffer, then one GEMM each for x's and W's gradients."""

    @staticmethod
    def forward(ctx, x, w, b, n_head: int):
        B, N, C = x.shape
        y = F.linear(x, w, b).view(B, N, 3, n_head, C // n_head)          # (B, N, 3, H, d)
        ctx.save_for_backward(x, w)
        ctx.n_head = n_head
        return y.permute(2, 0, 3, 1, 4).contiguous().unbind(0)            # 3 x (B, H, N, d)

    @staticmethod
    def backward(ctx, gq, gk, gv):
        x, w = ctx.saved_tensors
        B, N, C = x.shape
        g = x.new_empty(B, N, 3, ctx.n_head, C // ctx.n_head)
        for i, gi in enumerate((gq, gk, gv)):
            if gi is None:
                g[:, :, i].zero_()
            else:
                g[:, :, i].copy_(gi.transpose(1, 2))                      # (B, N, H, d)
        g = g.view(B * N, 3 * C)
        grad_x = (g @ w).view(B, N, C)
        grad_w = (x.reshape(B * N, C).t() @ g).t()
        return grad_x, grad_w, g.sum(0), None


def residual_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x + y`` for a residual stream x and a branch output y of the same shape.

    Under mixed precision x is float32 and y bf16 / fp16: PyTorch's mixed-dtype add converts
    element by element and ran 3x slower than casting y up first, which is what this does (into
    y's fresh copy, in place; the same float32 sum). Same dtypes: plain ``x + y``.
    """
    if y.dtype == x.dtype:
        return x + y
    return y.to(x.dtype).add_(x)
