"""Graph building blocks shared by GraFormer, MMDiff and DiffPose.

Everything here acts on node features ``x`` of shape (B, N, C): B poses, N graph nodes (17
joints, or 34 for MMDiff's cross-channel 2D+3D graph), C features per node.

Layers, in the order the models use them:

* :func:`adjacency_from_edges`: symmetric 0/1 adjacency plus self-loops, row-normalised.
* :func:`normalized_laplacian`, :func:`chebyshev_polynomials`: the fixed graph filters
  T_0 = I, T_1 = L, T_k = 2 L T_{k-1} - T_{k-2} of the normalised Laplacian L = I - D^-1/2 A D^-1/2.
* :class:`ChebConv`: Chebyshev spectral graph convolution, y = sum_k T_k x W_k + b.
* :class:`ChebConvReLU`, :class:`ResChebBlock`: ChebConv + ReLU (+ dropout), and two of them in
  a residual block, optionally with a diffusion-timestep embedding added in between.
* :class:`LayerNorm`: the GraFormer layer norm (divides by the *unbiased* std plus eps).
* :class:`MultiHeadAttention`: self-attention over the nodes.
* :class:`LearnableGraphConv`, :class:`LearnableGraphFFN`: GraFormer's feed-forward sublayer, a
  two-layer graph network whose adjacency ``A_hat`` is a learned parameter.
* :class:`GraphAttentionBlock`: pre-norm residual attention + learnable-graph feed-forward.
* :class:`NodeLinear`: a linear map along the node axis (MMDiff's 17 -> 34 node map).

These are the definitions, in plain PyTorch. :func:`mmdiff.models.kernels.accelerate` swaps some
of them for fast subclasses computing the same values (the model builders do it by default).
Parameter names and shapes follow the released checkpoints exactly (see checkpoints.py).
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdiff.errors import ConfigError, DataError


# ----------------------------------------------------------------------------- fixed graphs

def adjacency_from_edges(edges: Iterable[tuple[int, int]], num_nodes: int) -> torch.Tensor:
    """Row-normalised adjacency with self-loops of an undirected graph.

    edges: pairs (i, j) of node indices in [0, num_nodes); direction and duplicates do not matter.
    Returns A (num_nodes, num_nodes) float32 with A[i, j] = 1 / (deg(i) + 1) when i == j or i, j
    share an edge, else 0, so that every row sums to 1 (deg counts distinct neighbours).
    """
    adj = torch.zeros(num_nodes, num_nodes, dtype=torch.float64)
    for i, j in edges:
        if not (0 <= i < num_nodes and 0 <= j < num_nodes):
            raise DataError(f"edge ({i}, {j}) is outside a graph of {num_nodes} nodes")
        adj[i, j] = adj[j, i] = 1.0
    adj = adj + torch.eye(num_nodes, dtype=torch.float64)          # self-loops
    adj = adj / adj.sum(dim=1, keepdim=True)                        # row-normalise
    return adj.float()


def normalized_laplacian(adj: torch.Tensor) -> torch.Tensor:
    """L = I - D^-1/2 A D^-1/2 with D the diagonal of row sums of ``adj`` (N, N).

    For the row-normalised adjacency of :func:`adjacency_from_edges`, D = I and L = I - A.
    Computed in float32 exactly as the reference ChebConv does on every call.
    """
    d = adj.sum(dim=-1) ** -0.5                                     # (N,)
    eye = torch.eye(adj.shape[0], dtype=adj.dtype, device=adj.device)
    return eye - d[:, None] * adj * d[None, :]


def chebyshev_polynomials(laplacian: torch.Tensor, K: int) -> torch.Tensor:
    """The K+1 Chebyshev terms T_0..T_K of a Laplacian (N, N); returns (K+1, N, N).

    T_0 = I, T_1 = L, T_k = 2 L T_{k-1} - T_{k-2}.
    """
    n = laplacian.shape[0]
    terms = [torch.eye(n, dtype=laplacian.dtype, device=laplacian.device)]
    if K >= 1:
        terms.append(laplacian)
    for _ in range(2, K + 1):
        terms.append(2 * laplacian @ terms[-1] - terms[-2])
    return torch.stack(terms)


# ----------------------------------------------------------------------------- Chebyshev convs

class ChebConv(nn.Module):
    """Chebyshev graph convolution of order K on a fixed graph: y = sum_k T_k x W_k + b.

    in_dim, out_dim: features per node; adj: (N, N) adjacency (row-normalised, with self-loops);
    K: polynomial order (2 in GraFormer, i.e. three terms).
    Parameters (released layout): ``weight`` (K+1, 1, in_dim, out_dim), ``bias`` (1, 1, out_dim).
    forward: x (B, N, in_dim) -> (B, N, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, adj: torch.Tensor, K: int = 2):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(K + 1, 1, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(1, 1, out_dim))
        nn.init.xavier_normal_(self.weight)
        polys = chebyshev_polynomials(normalized_laplacian(adj.float()), K)      # (K+1, N, N)
        self.register_buffer("polys", polys, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # y = sum_k T_k x W_k + b over the K+1 fixed filters T_k (computed once, at init)
        return sum(T @ x @ W for T, W in zip(self.polys, self.weight[:, 0])) + self.bias

    def extra_repr(self) -> str:
        k1, _, c, d = self.weight.shape
        return f"{c}, {d}, K={k1 - 1}, nodes={self.polys.shape[-1]}"


class ChebConvReLU(nn.Module):
    """ChebConv -> ReLU -> dropout (the reference's ``_GraphConv``). x (B, N, in) -> (B, N, out)."""

    def __init__(self, in_dim: int, out_dim: int, adj: torch.Tensor, dropout: float = 0.1):
        super().__init__()
        self.gconv = ChebConv(in_dim, out_dim, adj)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(F.relu(self.gconv(x), inplace=True))        # gconv output is fresh


class ResChebBlock(nn.Module):
    """Residual block of two ChebConvReLU layers; x (B, N, dim) -> (B, N, dim).

    With ``temb_dim`` set (the denoisers), a projected timestep embedding is added between the
    two convolutions: h = conv1(x) + W swish(temb); out = x + conv2(h). temb: (B, temb_dim).
    """

    def __init__(self, dim: int, adj: torch.Tensor, temb_dim: int | None = None,
                 dropout: float = 0.1):
        super().__init__()
        self.gconv1 = ChebConvReLU(dim, dim, adj, dropout)
        self.gconv2 = ChebConvReLU(dim, dim, adj, dropout)
        self.temb_proj = nn.Linear(temb_dim, dim) if temb_dim is not None else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.gconv1(x)
        if self.temb_proj is not None:
            h = h + self.temb_proj(F.silu(temb))[:, None, :]          # (B, 1, dim) over nodes
        return x + self.gconv2(h)


# ----------------------------------------------------------------------------- attention block

class LayerNorm(nn.Module):
    """GraFormer's layer norm: a_2 * (x - mean) / (std + eps) + b_2 over the last axis.

    Unlike ``nn.LayerNorm`` it divides by the *unbiased* standard deviation (N-1 denominator)
    plus eps outside the square root; kept so that released weights give the same outputs.
    Parameters: ``a_2`` (features,) = 1, ``b_2`` (features,) = 0 at init.
    """

    def __init__(self, features: int, eps: float = 1e-6):
        super().__init__()
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True)                                # unbiased: N - 1
        return self.a_2 * (x - mean) / (std + self.eps) + self.b_2


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention over the nodes of a graph.

    dim: features per node (divisible by n_head); dropout: on the attention weights (training).
    Parameters (released layout): ``linears.0..3``, the Q, K, V and output projections.
    forward: x (B, N, dim) -> (B, N, dim); with ``return_attention`` also the attention weights
    (B, n_head, N, N), rows summing to 1 (before dropout).
    """

    def __init__(self, dim: int, n_head: int, dropout: float = 0.1):
        super().__init__()
        if dim % n_head:
            raise ConfigError(f"feature size {dim} is not divisible by n_head={n_head}")
        self.n_head = n_head
        self.linears = nn.ModuleList(nn.Linear(dim, dim) for _ in range(4))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        B, N, C = x.shape
        H, d = self.n_head, C // self.n_head
        q, k, v = (lin(x).view(B, N, H, d).transpose(1, 2)              # (B, H, N, d) each
                   for lin in self.linears[:3])
        attn = (q @ k.transpose(-2, -1) / math.sqrt(d)).softmax(dim=-1)  # (B, H, N, N)
        y = self.dropout(attn) @ v                                       # (B, H, N, d)
        y = self.linears[3](y.transpose(1, 2).reshape(B, N, C))          # heads side by side, W_o
        return (y, attn) if return_attention else y


class LearnableGraphConv(nn.Module):
    """One layer of the learnable-adjacency graph network: y = act(fc(L x)).

    L (N, N) is the normalised learned adjacency, computed once by the owning
    :class:`LearnableGraphFFN`. Parameter ``fc`` (the released ``gconv*.fc``).
    x (B, N, in_features) -> (B, N, out_features).
    """

    def __init__(self, in_features: int, out_features: int, relu: bool = True):
        super().__init__()
        self.fc = nn.Linear(in_features, out_features)
        self.relu = relu

    def forward(self, x: torch.Tensor, lap: torch.Tensor) -> torch.Tensor:
        y = self.fc(lap @ x)                                             # fc(L x)
        if not self.relu:
            return y
        return F.relu(y, inplace=not torch.is_grad_enabled())           # (in place: inference)


class LearnableGraphFFN(nn.Module):
    """GraFormer's feed-forward sublayer: two graph convolutions on a learned adjacency.

    ``A_hat`` (N, N) starts as the identity and is trained; each call normalises it as
    L = D^-1/2 A_hat D^-1/2 with D the column sums (+1e-5). dim -> 2 dim (ReLU) -> dim.
    x (B, N, dim) -> (B, N, dim).
    """

    def __init__(self, dim: int, num_nodes: int):
        super().__init__()
        self.A_hat = nn.Parameter(torch.eye(num_nodes))
        self.gconv1 = LearnableGraphConv(dim, 2 * dim, relu=True)
        self.gconv2 = LearnableGraphConv(2 * dim, dim, relu=False)

    def laplacian(self) -> torch.Tensor:
        """Normalised learned adjacency L[i, j] = d_i A[i, j] d_j, d = (column sums + 1e-5)^-1/2."""
        d = (self.A_hat.sum(dim=0) + 1e-5) ** -0.5                       # (N,)
        return d[:, None] * self.A_hat * d[None, :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lap = self.laplacian()
        return self.gconv2(self.gconv1(x, lap), lap)


class PreNormResidual(nn.Module):
    """x + dropout(f(LayerNorm(x))) (the reference's ``SublayerConnection``; holds ``norm``)."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.norm = LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, fn) -> torch.Tensor:
        return x + self.dropout(fn(self.norm(x)))


class GraphAttentionBlock(nn.Module):
    """GraFormer's graph-attention layer: pre-norm self-attention, then pre-norm learnable-graph
    feed-forward, each in a residual branch.

    dim: features per node; num_nodes: N; n_head: attention heads; dropout: residual-branch
    dropout (0.25 in the paper); attn_dropout: on the attention weights (0.1 in the reference).
    Submodules (released layout): ``self_attn``, ``feed_forward``, ``sublayer.0/1``.
    forward: x (B, N, dim) -> (B, N, dim), plus attention (B, n_head, N, N) if requested.
    """

    def __init__(self, dim: int, num_nodes: int, n_head: int, dropout: float,
                 attn_dropout: float = 0.1):
        super().__init__()
        self.self_attn = MultiHeadAttention(dim, n_head, attn_dropout)
        self.feed_forward = LearnableGraphFFN(dim, num_nodes)
        self.sublayer = nn.ModuleList(PreNormResidual(dim, dropout) for _ in range(2))

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        attn = None
        if return_attention:
            def attend(h):
                nonlocal attn
                h, attn = self.self_attn(h, return_attention=True)
                return h
        else:
            attend = self.self_attn
        x = self.sublayer[0](x, attend)
        x = self.sublayer[1](x, self.feed_forward)
        return (x, attn) if return_attention else x


# ----------------------------------------------------------------------------- node-axis map

class NodeLinear(nn.Linear):
    """``nn.Linear(in_nodes, out_nodes)`` applied along the node axis instead of the features:
    out[b, m] = sum_n W[m, n] x[b, n] + bias[m]. x (B, in_nodes, C) -> (B, out_nodes, C).
    Parameters ``weight`` (out_nodes, in_nodes), ``bias`` (out_nodes,), as nn.Linear's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)
