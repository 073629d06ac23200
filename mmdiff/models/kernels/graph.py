"""Fast graph layers: Chebyshev convolutions, the learned-graph layer that narrows the
features, and the node-axis map."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdiff.models.graph import ChebConv, LearnableGraphConv, NodeLinear
from mmdiff.models.kernels.autocast import LOW, compute_dtype


class FastChebConv(ChebConv):
    """:class:`~mmdiff.models.graph.ChebConv` computed by :func:`cheb_conv`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cheb_conv(x, self.polys, self.weight[:, 0], self.bias.view(-1))


class FastLearnableGraphConv(LearnableGraphConv):
    """:class:`~mmdiff.models.graph.LearnableGraphConv` with L reaching every pose through a
    stride-0 batch (never copied per pose); when the layer narrows the features (in > out)
    fc(L x) is computed in the cheaper order L (x W^T) + b, the bias added inside ``baddbmm``."""

    def forward(self, x: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        dt = compute_dtype(x)
        x, lap = x.to(dt), lap.to(dt).expand(B, N, N)                    # one L for every pose
        if self.fc.in_features <= self.fc.out_features:
            y = self.fc(torch.bmm(lap, x))                               # mix nodes, then features
        else:
            bias = self.fc.bias.to(dt).expand(B, N, -1)
            y = torch.baddbmm(bias, lap, x @ self.fc.weight.to(dt).t())  # features, then nodes
        if not self.relu:
            return y
        return F.relu(y, inplace=not torch.is_grad_enabled())


class FastNodeLinear(NodeLinear):
    """:class:`~mmdiff.models.graph.NodeLinear` computed by :func:`node_linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return node_linear(x, self)


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
    batched product with the (N, N (K+1)) matrix M[i, n (K+1) + k] = T_k[i, n]. Faster than the
    per-term form in bf16, not in float32."""
    B, N, _ = x.shape
    K1, _, out = weight.shape
    z = (x @ weight.permute(1, 0, 2).reshape(-1, K1 * out)).view(B, N * K1, out)
    terms = torch.cat([torch.eye(N, dtype=x.dtype, device=x.device)[None], polys[1:]])  # T_0 = I
    mix = terms.permute(1, 2, 0).reshape(N, N * K1)                      # (N, N (K+1))
    return torch.baddbmm(bias.expand(B, N, out), mix.expand(B, N, N * K1), z)
