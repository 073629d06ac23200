"""Node mixing on fixed and learned graphs: learned-graph layers, node-axis maps, Chebyshev
convolutions."""
from __future__ import annotations

import torch
import torch.nn as nn

from mmdiff.models.kernels.autocast import LOW, compute_dtype
from mmdiff.models.kernels.feature_maps import linear


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
