"""Speed kernels: the arithmetic of the graph layers, written to run fast on a CPU.

The layers in :mod:`mmdiff.models.graph` state what they compute in their docstrings and call
these functions to compute it. Each kernel below gives the plain PyTorch expression it replaces
(``*_plain``, used by the tests, which check both agree, and by ``mmdiff bench --kernels``, which
times both) and the gain measured here: ``mmdiff --threads 1 bench --kernels --repeats 10``
(one thread of the 2-core CPU while a training run held the other, torch 2.13, the released size:
batch 1024, 34 nodes, 96 features; median of 10 alternating runs in one process; 2026-12-05).

==============================  =============================================  ===============
kernel                          instead of                                     measured gain
==============================  =============================================  ===============
:func:`dropout`                 ``F.dropout`` (a float mask from torch.rand)    4.67x
:func:`linear`                  ``F.linear`` (addmm copies the bias first)      0.98x
:func:`layer_norm`              autograd through mean / norm / division         2.89x
:func:`attention`               softmax(q k^T / sqrt(d)) v as three ops         0.92x
:func:`cheb_conv`               sum_k T_k @ x @ W_k with T_k per call           1.56x
:func:`graph_linear`            fc(L @ x) in the order written                  1.20x / 1.02x
:func:`node_linear`             fc over the node axis via two transposes        1.63x
:func:`chunked`                 one pass over the whole batch                   1.21x
==============================  =============================================  ===============

``graph_linear``: 192 -> 96 / 96 -> 192. On one thread ``linear`` (0.98x) and ``attention``
(0.92x, inference) gain nothing here; their gain with both cores is unmeasured (run the command
above without ``--threads 1`` on an idle machine). Where a kernel and its plain form differ
at all, it is float32 rounding (summation order); ``tests/test_kernels.py`` bounds it.

Mixed precision (:mod:`mmdiff.precision`): under autocast the matrix products cast their inputs
and weights to the autocast dtype (:func:`compute_dtype`), the layer norm keeps float32
statistics and gradients, dropout masks stay exact, bf16 attention on a CPU avoids the fused SDPA,
and :func:`full_precision` runs the models' embeddings and read-outs in float32;
``tests/test_precision.py`` checks each under bf16. In bf16 three kernels take another path,
measured faster there (issue 15, one thread, A/B in one process): :func:`linear` calls
``F.linear`` (oneDNN adds the bias inside the product: 0.22 against 0.36 ms for 192 poses),
:func:`residual_add` casts the branch up before adding (the mixed-dtype add ran 3x slower), and
:func:`cheb_conv` stacks its terms (one GEMM, one batched product: the denoiser forward 1.11x,
the training step 1.02x).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdiff.errors import ConfigError

__all__ = ["LOW", "compute_dtype", "full_precision", "random_ints", "dropout_mask", "dropout",
           "Dropout", "linear", "qkv_heads", "residual_add", "layer_norm", "attention", "cheb_conv",
           "graph_linear", "node_linear", "chunked", "CPU_CHUNK"]


#: the reduced-precision dtypes of autocast
LOW = (torch.bfloat16, torch.float16)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the matrix products on ``x`` run in: autocast's (bf16 / fp16) when autocast is
    on for x's device (:mod:`mmdiff.precision`), else x's own. The kernels below cast x and their
    weights to it themselves, since autocast skips in-place and ``out=`` forms such as
    ``baddbmm_``; in float32 every cast is a no-op, so results there are unchanged."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype


def full_precision(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
    """``fn(*tensors)`` in float32 with autocast off (the tensors cast up; a no-op in float32).
    For the read-out layers: bf16's 8 significant bits would round a 1 m coordinate by ~2 mm."""
    if not any(t.dtype != torch.float32 for t in tensors) and \
            not torch.is_autocast_enabled(tensors[0].device.type):
        return fn(*tensors)
    with torch.autocast(tensors[0].device.type, enabled=False):
        return fn(*(t.float() for t in tensors))


# ----------------------------------------------------------------------------- dropout

def random_ints(shape, bits: int, device=None) -> torch.Tensor:
    """Uniform random signed integers of ``bits`` = 8 or 16 bits (int8 in [-128, 127] or int16 in
    [-32768, 32767]) of the given shape, cut from 64-bit random words of the global torch
    generator: 8 or 4 values per draw, 8x or 4x fewer draws than ``torch.rand``."""
    dtype = {8: torch.int8, 16: torch.int16}[bits]
    n, per_word = math.prod(shape), 64 // bits
    words = torch.empty((n + per_word - 1) // per_word, dtype=torch.int64, device=device)
    words.random_(-2**63, None)
    return words.view(dtype)[:n].view(shape)


def dropout_mask(shape, p: float, device=None, dtype=torch.float32,
                 scaled: bool = True) -> torch.Tensor:
    """Inverted-dropout mask: 0 with probability p, else 1 / (1 - p) (or 1 when not ``scaled``);
    float tensor of ``shape``.

    Each element compares a random integer r with a threshold: r >= thr keeps it. Eight bits
    suffice when p is a multiple of 1/256 (0.25 is exact); otherwise 16 bits (p within 1e-5).
    The comparison is done in the integers, r -> clamp(r, thr - 1, thr) - (thr - 1), which gives
    exactly 0 or 1 and on the CPU is several times cheaper than a boolean mask + where (and than
    the same two passes in floating point: 0.25 against 2.2 ms for 3.3 M bf16 elements, issue 15).
    """
    bits = 8 if float(p * 256).is_integer() else 16
    thr = round(p * 2**bits) - 2**(bits - 1)                         # P(r < thr) = p
    if thr == -2**(bits - 1):                                        # p rounds to 0: keep all
        keep = torch.ones(shape, dtype=dtype, device=device)
    else:
        keep = random_ints(shape, bits, device).clamp_(thr - 1, thr).sub_(thr - 1).to(dtype)
    return keep.mul_(1.0 / (1.0 - p)) if scaled else keep


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout, ``F.dropout(x, p, training)`` in distribution (p rounded to a multiple
    of 1/65536: 0.25 exactly, 0.1 within 1e-5). x: any shape.

    Measured: drawing and applying the mask of a (1024, 34, 96) activation took 5.8 ms with
    ``F.dropout`` and 1.7 ms here (session 2 of issue 4); the training step draws 48 masks.
    In bf16 / fp16 the mask is 0 / 1 (1 / (1 - p) is coarse in 8 / 11 bits) and
    :class:`_MaskScale` applies mask and scale in one pass, forward and backward, each value
    rounded once (18.5 against 15 ms forward + backward at p = 0.25, issue 15).
    """
    if not training or p == 0.0:
        return x
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


class Dropout(nn.Module):
    """:func:`dropout` as a module (identity in eval mode); p in [0, 1)."""

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout probability must be in [0, 1), found {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


# ----------------------------------------------------------------------------- linear maps

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
    if dt in LOW:                         # bf16 / fp16: oneDNN fuses the bias into the product
        return F.linear(x.to(dt), w, b)   # (0.22 ms against 0.36 ms for mm + add_, issue 15)
    y = x.to(dt).reshape(-1, x.shape[-1]) @ w.t()
    return y.add_(b).view(*x.shape[:-1], w.shape[0])


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


def graph_linear(lap: torch.Tensor, x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer(L @ x)`` for one (N, N) matrix L and x (B, N, in) -> (B, N, out).

    The same value as written, computed in the cheaper order: when the layer shrinks the
    features (in > out) as L (x W^T) + b, with the bias added inside ``baddbmm``; L is applied to
    every pose through a stride-0 batch, never copied per pose.
    """
    B, N, _ = x.shape
    dt = compute_dtype(x)
    x, lap = x.to(dt), lap.to(dt).expand(B, N, N)                        # one L for every pose
    if layer.in_features <= layer.out_features:
        return linear(torch.bmm(lap, x), layer)                          # mix nodes, then features
    bias = layer.bias.to(dt).expand(B, N, -1)
    return torch.baddbmm(bias, lap, x @ layer.weight.to(dt).t())         # features, then nodes


def node_linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """``layer`` applied along the node axis: out[b, m] = sum_n W[m, n] x[b, n] + bias[m].

    Same value as ``layer(x.transpose(1, 2)).transpose(1, 2)``, but the result is laid out
    contiguously (B, M, C): the transposed layout would slow every later layer that reads it.
    x (B, N, C) -> (B, M, C) with W (M, N).
    """
    B, _, C = x.shape
    dt = compute_dtype(x)
    x, w, b = x.to(dt), layer.weight.to(dt), layer.bias.to(dt)           # (B, N, C), (M, N), (M,)
    return torch.baddbmm(b.view(1, -1, 1).expand(B, -1, C), w.expand(B, -1, -1), x)


def cheb_conv(x: torch.Tensor, polys: torch.Tensor, weight: torch.Tensor,
              bias: torch.Tensor) -> torch.Tensor:
    """Chebyshev graph convolution y = sum_k T_k x W_k + b.

    x (B, N, in); polys (K+1, N, N) the fixed terms T_k (T_0 = I); weight (K+1, in, out);
    bias (out,). Returns (B, N, out).
    The T_k are computed once per layer (not per call); T_0 = I needs no node mixing; each T_k
    reaches every pose through a stride-0 batch and is summed into y in place (``baddbmm_``).
    """
    dt = compute_dtype(x)
    x, polys, weight, bias = (a.to(dt) for a in (x, polys, weight, bias))
    if dt in LOW:                         # bf16 / fp16: one GEMM and one batched product
        return _cheb_conv_stacked(x, polys, weight, bias)
    return _cheb_conv_terms(x, polys, weight, bias)


def _cheb_conv_terms(x, polys, weight, bias):
    """:func:`cheb_conv` term by term (float32): x W_0 + b, then + T_k (x W_k) in place."""
    B, N, _ = x.shape
    y = (x @ weight[0]).add_(bias)                                       # T_0 = I: x W_0 + b
    for k in range(1, weight.shape[0]):
        y.baddbmm_(polys[k].expand(B, N, N), x @ weight[k])              # + T_k (x W_k)
    return y


def _cheb_conv_stacked(x, polys, weight, bias):
    """:func:`cheb_conv` as [T_0 .. T_K] @ [x W_0; ..; x W_K] + b: all K+1 feature products in
    one GEMM, x (B, N, in) @ (in, (K+1) out), whose rows read as (B, N (K+1), out), then one
    batched product with the (N, N (K+1)) matrix M[i, n (K+1) + k] = T_k[i, n]. In bf16 this
    step was faster than the per-term form; in float32 it was not (README, issue 4)."""
    B, N, _ = x.shape
    K1, _, out = weight.shape
    z = (x @ weight.permute(1, 0, 2).reshape(-1, K1 * out)).view(B, N * K1, out)
    terms = torch.cat([torch.eye(N, dtype=x.dtype, device=x.device)[None], polys[1:]])  # T_0 = I
    mix = terms.permute(1, 2, 0).reshape(N, N * K1)                      # (N, N (K+1))
    return torch.baddbmm(bias.expand(B, N, out), mix.expand(B, N, N * K1), z)


# ----------------------------------------------------------------------------- normalisation

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

    Measured: forward + backward of a (1024, 34, 96) activation took 17.1 ms through autograd
    (:func:`layer_norm_plain`) and 8.5 ms with the hand-written backward (issue 4, session 2).

    Mixed precision: under autocast (or for a bf16 / fp16 ``x``) :func:`_fused_layer_norm`
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
    2^-9; a constant row gives b in both). Forward + backward of a (1024, 34, 96) float32
    activation with bf16 output: 9.5 against 24.1 ms for :class:`_UnbiasedLayerNorm` (issue 15).
    x (..., C) -> float32 (..., C)."""
    n = x.shape[-1]
    c = math.sqrt(n / (n - 1))
    with torch.autocast(x.device.type, enabled=False):
        return F.layer_norm(x.float(), (n,), a.float() / c, b.float(), (eps / c) ** 2)


def layer_norm_plain(x, a, b, eps):
    """:func:`layer_norm` as plain autograd ops (the definition; tests and bench)."""
    mean = x.mean(-1, keepdim=True)
    return a * (x - mean) / (x.std(-1, keepdim=True) + eps) + b


# ----------------------------------------------------------------------------- attention

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


# ----------------------------------------------------------------------------- inference

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
