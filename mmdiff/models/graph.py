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

Speed notes (identical outputs to the reference implementation, up to float32 rounding):
the Chebyshev polynomials are computed once and kept as a (non-persistent) buffer instead of on
every call; a ChebConv multiplies all nodes' features at once (one GEMM per term, T_0 = I needs no
node mixing) and applies each fixed (N, N) filter to every pose through a stride-0 batch, never a
per-sample copy; the learned adjacency is normalised once per call, not per sample; linear layers
are a GEMM plus an in-place bias add (:func:`linear`); attention folds 1/sqrt(d) into W_q and
uses ``F.scaled_dot_product_attention`` in eval mode; the layer norm has a hand-written backward
(:class:`_UnbiasedLayerNorm`); dropout masks come from 8 or 16 random bits (see
:func:`dropout_mask`). Tried and slower on the CPU: one 288-wide GEMM for Q, K and V, one GEMM
for all Chebyshev terms, ``torch.compile``.
Parameter names and shapes follow the released checkpoints exactly (see checkpoints.py).
"""
from __future__ import annotations

import math
from typing import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdiff.errors import DataError


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


def dropout_mask(shape, p: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """Inverted-dropout mask: 0 with probability p, else 1 / (1 - p); float tensor of ``shape``.

    Each element compares a random integer r with a threshold: r >= thr keeps it. Eight bits
    suffice when p is a multiple of 1/256 (0.25 is exact); otherwise 16 bits (p within 1e-5).
    The comparison is done in floating point, r -> clamp(r, thr - 1, thr) - (thr - 1), which
    gives exactly 0 or 1 and on the CPU is several times cheaper than a boolean mask + where.
    """
    bits = 8 if float(p * 256).is_integer() else 16
    thr = round(p * 2**bits) - 2**(bits - 1)                         # P(r < thr) = p
    keep = random_ints(shape, bits, device).to(dtype).clamp_(thr - 1, thr).sub_(thr - 1)
    return keep.mul_(1.0 / (1.0 - p))


class Dropout(nn.Module):
    """Inverted dropout: in training, zero each element with probability p and scale the rest by
    1 / (1 - p); identity in eval mode. Same distribution as ``nn.Dropout`` (p rounded to a
    multiple of 1/65536: 0.25 exactly, 0.1 within 1e-5), but several times cheaper on the CPU,
    where drawing and applying the mask dominated the training step (see :func:`dropout_mask`).
    x: any shape; returns the same shape.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * dropout_mask(x.shape, self.p, x.device, x.dtype)

    def extra_repr(self) -> str:
        return f"p={self.p}"


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
        B, N, _ = x.shape
        W = self.weight[:, 0]                                           # (K+1, in, out)
        y = (x @ W[0]).add_(self.bias.view(-1))                         # T_0 = I: x W_0 + b
        for k in range(1, W.shape[0]):                                  # + T_k x W_k: the same
            T_k = self.polys[k].expand(B, N, N)                         # (N, N) filter for every
            y.baddbmm_(T_k, x @ W[k])                                   # pose, summed in place
        return y                                                        # (y is no view: safe)

    def extra_repr(self) -> str:
        k1, _, c, d = self.weight.shape
        return f"{c}, {d}, K={k1 - 1}, nodes={self.polys.shape[-1]}"


class ChebConvReLU(nn.Module):
    """ChebConv -> ReLU -> dropout (the reference's ``_GraphConv``). x (B, N, in) -> (B, N, out)."""

    def __init__(self, in_dim: int, out_dim: int, adj: torch.Tensor, dropout: float = 0.1):
        super().__init__()
        self.gconv = ChebConv(in_dim, out_dim, adj)
        self.dropout = Dropout(dropout)

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

class _UnbiasedLayerNorm(torch.autograd.Function):
    """y = a * xhat + b with xhat = (x - mean) / (std + eps), std unbiased; over the last axis.

    A hand-written backward: autograd through mean, norm and division takes about twice as long
    on the CPU. With g = dL/dy * a, per row of n features,

        dL/dx = (g - mean(g)) / (std + eps) - xhat * sum(g * xhat) / ((n - 1) std),

    (mean(xhat) = 0 removes the other term); dL/da and dL/db are column sums of dL/dy * xhat and
    dL/dy. A constant row (std = 0) has xhat = 0 and gets the gradient (g - mean(g)) / eps.
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
        xhat, inv, std, a = ctx.saved_tensors
        n = xhat.shape[-1]
        gy = gy.contiguous()
        gy_xhat = gy * xhat
        grad_a = gy_xhat.reshape(-1, n).sum(0)
        grad_b = gy.reshape(-1, n).sum(0)
        g_dot_xhat = (gy_xhat @ a).unsqueeze_(-1)                        # sum(g * xhat)  (..., 1)
        g_mean = (gy @ a).unsqueeze_(-1).div_(n)                         # mean(g)        (..., 1)
        coef = g_dot_xhat.div_(std.clamp_min(1e-30).mul_(n - 1))
        grad_x = torch.addcmul(g_mean.neg_(), gy, a).mul_(inv).addcmul_(xhat, coef, value=-1)
        return grad_x, grad_a, grad_b, None


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
        return _UnbiasedLayerNorm.apply(x, self.a_2, self.b_2, self.eps)


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
            raise ValueError(f"feature size {dim} is not divisible by n_head={n_head}")
        self.n_head = n_head
        self.linears = nn.ModuleList(nn.Linear(dim, dim) for _ in range(4))
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        B, N, C = x.shape
        H, d = self.n_head, C // self.n_head
        q_proj, k_proj, v_proj, out_proj = self.linears
        scale = 1.0 / math.sqrt(d)                      # folded into W_q, b_q: saves a pass
        q, k, v = (linear(x, proj, s).view(B, N, H, d).transpose(1, 2)
                   for proj, s in ((q_proj, scale), (k_proj, None), (v_proj, None)))
        attn = None                                                      # q, k, v: (B, H, N, d)
        if return_attention or (self.training and self.dropout.p > 0):
            attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)             # (B, H, N, N)
            y = self.dropout(attn) @ v                                   # (B, H, N, d)
        else:                                                            # fused kernel, eval
            y = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        y = y.transpose(1, 2).reshape(B, N, C)                           # heads side by side
        y = linear(y, out_proj)
        return (y, attn) if return_attention else y


def linear(x: torch.Tensor, layer: nn.Linear, scale: float | None = None) -> torch.Tensor:
    """``layer(x)``, optionally with weight and bias scaled: x (..., in) -> (..., out).

    Computed as one GEMM plus an in-place bias add, which on the CPU is cheaper than the
    ``addmm`` behind ``F.linear`` (that first copies the bias into the whole output).
    """
    w, b = layer.weight, layer.bias
    if scale is not None:
        w, b = w * scale, b * scale
    y = x.reshape(-1, x.shape[-1]) @ w.t()
    return y.add_(b).view(*x.shape[:-1], w.shape[0])


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
        B, N, _ = x.shape
        lap = lap.expand(B, N, N)                                        # one L for every pose
        if self.fc.in_features <= self.fc.out_features:
            y = linear(torch.bmm(lap, x), self.fc)                       # mix nodes, then features
        else:                                                            # same value, fewer FLOPs:
            bias = self.fc.bias.expand(B, N, -1)                         # L (x W^T) + b
            y = torch.baddbmm(bias, lap, x @ self.fc.weight.t())
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
        self.dropout = Dropout(dropout)

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


# ----------------------------------------------------------------------------- time embedding

def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of diffusion timesteps (DDPM / tensor2tensor convention).

    t: (B,) timesteps (int or float). Returns (B, dim) float32:
    [sin(t w_0), ..., sin(t w_{h-1}), cos(t w_0), ..., cos(t w_{h-1})] with h = dim // 2 and
    w_i = 10000^(-i / (h - 1)); an odd ``dim`` is padded with one zero column.
    """
    if t.dim() != 1:
        raise DataError(f"timesteps must have shape (B,), got {tuple(t.shape)}")
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=t.device)
                      * -(math.log(10000.0) / (half - 1)))              # (half,)
    angles = t.float()[:, None] * freqs[None, :]                         # (B, half)
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)      # (B, 2*half)
    return F.pad(emb, (0, dim % 2))


class TimestepMLP(nn.Module):
    """Timestep embedding: sinusoid (emd_dim) -> Linear -> swish -> Linear (out_dim).

    Holds ``dense`` (ModuleList of the two Linear layers, the released ``temb.dense``).
    t (B,) -> (B, out_dim).
    """

    def __init__(self, emd_dim: int, out_dim: int):
        super().__init__()
        self.emd_dim = emd_dim
        self.dense = nn.ModuleList([nn.Linear(emd_dim, out_dim), nn.Linear(out_dim, out_dim)])

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        h = timestep_embedding(t, self.emd_dim)
        return self.dense[1](F.silu(self.dense[0](h)))


def count_params(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (elements) of a module."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
