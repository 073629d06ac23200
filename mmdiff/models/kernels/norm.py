"""Fast GraFormer layer norm (unbiased std, eps outside the root): a hand-written backward in
float32, PyTorch's fused layer norm in bf16 / fp16."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mmdiff.models.graph import LayerNorm
from mmdiff.models.kernels.autocast import LOW, compute_dtype


class _UnbiasedLayerNorm(torch.autograd.Function):
    """Forward and a hand-written backward of :func:`layer_norm`. With g = dL/dy * a, per row
    of n features, dL/dx = (g - mean(g)) / (std + eps) - xhat * sum(g * xhat) / ((n - 1) std)
    (mean(xhat) = 0 removes the other term); dL/da and dL/db are column sums of dL/dy * xhat
    and dL/dy. A constant row (std = 0) has xhat = 0 and gets the gradient (g - mean(g)) / eps.
    """

    @staticmethod
    def forward(ctx, x, a, b, eps: float):
        n = x.shape[-1]
        centred = x - x.mean(dim=-1, keepdim=True)
        # unbiased std as a norm: much faster than torch.std on the CPU for short rows
        std = torch.linalg.vector_norm(centred, dim=-1, keepdim=True).div_(math.sqrt(n - 1))
        inv = (std + eps).reciprocal_()                                  # (..., 1)
        xhat = centred.mul_(inv)
        ctx.save_for_backward(xhat, inv, std, a)
        return torch.addcmul(b, xhat, a)

    @staticmethod
    def backward(ctx, gy):
        with torch.autocast(gy.device.type, enabled=False):             # float32 throughout
            return _UnbiasedLayerNorm._backward(ctx, gy)

    @staticmethod
    def _backward(ctx, gy):
        xhat, inv, std, a = ctx.saved_tensors
        n = xhat.shape[-1]
        gy = gy.to(xhat.dtype).contiguous()                             # bf16 grads: up
        gy_xhat = gy * xhat
        grad_a = gy_xhat.reshape(-1, n).sum(0)
        grad_b = gy.reshape(-1, n).sum(0)
        g_dot_xhat = (gy_xhat @ a).unsqueeze_(-1)                        # sum(g * xhat)  (..., 1)
        g_mean = (gy @ a).unsqueeze_(-1).div_(n)                         # mean(g)        (..., 1)
        coef = g_dot_xhat.div_(std.clamp_min(1e-30).mul_(n - 1))
        grad_x = torch.addcmul(g_mean.neg_(), gy, a).mul_(inv).addcmul_(xhat, coef, value=-1)
        return grad_x, grad_a, grad_b, None


def layer_norm(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    """a * (x - mean) / (std + eps) + b over the last axis, std *unbiased*. x (..., C); a, b (C,).

    float32: :class:`_UnbiasedLayerNorm`, one pass each way instead of autograd through mean,
    std and division. Under autocast (or for a bf16 / fp16 ``x``) :func:`_fused_layer_norm`
    computes it in float32 with PyTorch's fused layer norm and casts the output to the compute
    dtype that the next matrix product reads (:func:`compute_dtype`); float32 is unchanged.
    """
    dt = compute_dtype(x)
    if dt not in LOW and x.dtype not in LOW:
        return _UnbiasedLayerNorm.apply(x, a, b, eps)
    return _fused_layer_norm(x, a, b, eps).to(dt)


def _fused_layer_norm(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                      eps: float) -> torch.Tensor:
    """GraFormer's norm through ``F.layer_norm`` (one fused pass each way, float32 throughout):
    with c = sqrt(C / (C - 1)) the unbiased std is c times the biased one, so the weight a / c
    and eps' = (eps / c)^2 give a (x - mean) / sqrt(std^2 + eps^2) + b. That differs from
    dividing by std + eps by a relative eps / std at most (1e-6 at unit scale, far below bf16's
    2^-9; a constant row gives b in both). x (..., C) -> float32 (..., C)."""
    n = x.shape[-1]
    c = math.sqrt(n / (n - 1))
    with torch.autocast(x.device.type, enabled=False):
        return F.layer_norm(x.float(), (n,), a.float() / c, b.float(), (eps / c) ** 2)



class FastLayerNorm(LayerNorm):
    """:class:`~mmdiff.models.graph.LayerNorm` computed by :func:`layer_norm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.a_2, self.b_2, self.eps)
