"""Fast dropout: masks from cheap random integers, mask and scale exact in bf16 / fp16."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from mmdiff.models.kernels.autocast import LOW


def random_ints(shape, bits: int, device=None) -> torch.Tensor:
    """Uniform random signed integers of ``bits`` = 8 or 16 bits (int8 in [-128, 127] or int16 in
    [-32768, 32767]) of the given shape, cut from 64-bit random words of the global torch
    generator: 8 or 4 values per draw, 8x or 4x fewer draws than ``torch.rand``."""
    dtype = {8: torch.int8, 16: torch.int16}[bits]
    n, per_word = math.prod(shape), 64 // bits
    words = torch.empty((n + per_word - 1) // per_word, dtype=torch.int64, device=device)
    words.random_(-2**63, None)
    return words.view(dtype)[:n].view(shape)


def mask_threshold(p: float) -> tuple[int, int]:
    """(bits, thr) of a dropout mask with rate p: random integers of ``bits`` bits (8 when p is
    a multiple of 1/256, else 16) below ``thr`` are dropped, P(r < thr) = p."""
    bits = 8 if float(p * 256).is_integer() else 16
    return bits, round(p * 2**bits) - 2**(bits - 1)


def dropout_mask(shape, p: float, device=None, dtype=torch.float32,
                 scaled: bool = True) -> torch.Tensor:
    """Inverted-dropout mask: 0 with probability p, else 1 / (1 - p) (or 1 when not ``scaled``);
    float tensor of ``shape``.

    Each element compares a random integer r with a threshold: r >= thr keeps it. Eight bits
    suffice when p is a multiple of 1/256 (0.25 is exact); otherwise 16 bits (p within 1e-5).
    The comparison is done in the integers, r -> clamp(r, thr - 1, thr) - (thr - 1), which gives
    exactly 0 or 1 and on the CPU is several times cheaper than a boolean mask + where, and than
    the same two passes in floating point (an int8 clamp is a fraction of a bf16 one).
    """
    bits, thr = mask_threshold(p)
    if thr == -2**(bits - 1):                                        # p rounds to 0: keep all
        keep = torch.ones(shape, dtype=dtype, device=device)
    else:
        keep = random_ints(shape, bits, device).clamp_(thr - 1, thr).sub_(thr - 1).to(dtype)
    return keep.mul_(1.0 / (1.0 - p)) if scaled else keep


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout, ``F.dropout(x, p, training)`` in distribution (p rounded to a multiple
    of 1/65536: 0.25 exactly, 0.1 within 1e-5), from another random stream. x: any shape.

    Cheaper than ``F.dropout``'s float mask from torch.rand (:func:`dropout_mask`). In bf16 /
    fp16 the mask is 0 / 1 (1 / (1 - p) is coarse in 8 / 11 bits) and :class:`_MaskScale`
    applies mask and scale in one pass, forward and backward, each value rounded once.
    """
    if not training or p == 0.0:
        return x
    if p == 1.0:                                                     # as F.dropout: all dropped
        return x * 0.0
    if x.dtype in LOW:
        keep = dropout_mask(x.shape, p, x.device, x.dtype, scaled=False)     # mask 0 / 1 (exact)
        return _MaskScale.apply(x, keep, 1.0 / (1.0 - p))
    return x * dropout_mask(x.shape, p, x.device, x.dtype)


class _MaskScale(torch.autograd.Function):
    """y = x * keep * scale for a 0 / 1 ``keep`` of x's shape and dtype, one pass, rounded once
    (``addcmul`` computes in float32 and rounds at the end); the gradient likewise."""

    @staticmethod
    def forward(ctx, x, keep, scale: float):
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.addcmul(x.new_zeros(()), x, keep, value=scale)

    @staticmethod
    def backward(ctx, grad):
        keep, = ctx.saved_tensors
        grad = grad.to(keep.dtype)
        return torch.addcmul(grad.new_zeros(()), grad, keep, value=ctx.scale), None, None


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with the masks of :func:`dropout` (identity in eval mode)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
