"""Pieces both denoisers share: the uvxyz sample, its frame axis, the timestep embedding and the
denoisers' config.

    x_t (B, 17, 5)     u, v (normalised 2D) and x, y, z (metres, root-relative) per joint
    temb = TimestepMLP(emd_dim, 4 * hid)(t)      # (B,) -> (B, 4 hid), added in every res block
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdiff.errors import DataError
from mmdiff.skeleton import NUM_JOINTS

UVXYZ = 5  # channels of a denoiser sample: u, v (normalised 2D) and x, y, z (metres)


@dataclass
class DenoiserConfig:
    """Denoiser hyper-parameters (the released MMDiff checkpoints use the defaults)."""
    kind: str = "mmdiff"  # "mmdiff" (34-node cross-channel graph) or "diffpose" (17-node baseline)
    hid_dim: int = 96  # features per graph node
    emd_dim: int | None = None  # sinusoidal timestep-embedding width; None = hid_dim (the
    #                             reference never reads its config's emd_dim), then 4*hid_dim wide
    num_layers: int = 5  # graph-attention + residual Chebyshev blocks per branch
    n_head: int = 4  # attention heads
    dropout: float = 0.25  # dropout of the attention blocks' residual branches (training)
    attn_dropout: float = 0.1  # dropout on the attention weights (training)
    gconv_dropout: float = 0.1  # dropout after each Chebyshev conv of the residual blocks
    cross_links: bool = True  # MMDiff: the 17 joint-to-joint 2D<->3D edges (False = ablation)
    context: bool = True  # MMDiff: the 2D context branch (False = ablation: the clean 2D reaches
    #                       the network only through the pose branch's 2D nodes)
    init: str = "reference"  # "reference": attention / feed-forward copies as the reference
    #                          builds them (mmdiff.models.init); "independent": every layer its own


def split_frames(x_t: torch.Tensor, pose_2d: torch.Tensor | None, t, name: str):
    """Validate denoiser inputs and fold an optional frame axis into the batch.

    x_t (B, J, 5) or (B, F, J, 5); pose_2d (B, J, 2) or (B, F, J, 2) (None allowed); t (B,).
    Returns x (B*F, J, 5), c (B*F, J, 2) or None, t repeated per frame (B*F,), and the leading
    shape to restore ((B,) or (B, F)).
    """
    if x_t.dim() not in (3, 4) or x_t.shape[-2:] != (NUM_JOINTS, UVXYZ):
        raise DataError(f"{name}: x_t must be (B, {NUM_JOINTS}, 5) or (B, F, {NUM_JOINTS}, 5), "
                        f"got {tuple(x_t.shape)}")
    lead = x_t.shape[:-2]
    if pose_2d is not None and pose_2d.shape != (*lead, NUM_JOINTS, 2):
        raise DataError(f"{name}: pose_2d must be {(*lead, NUM_JOINTS, 2)} to match x_t, "
                        f"got {tuple(pose_2d.shape)}")
    t = torch.as_tensor(t, device=x_t.device)
    if t.dim() == 0:
        t = t.expand(lead[0])
    if t.shape != (lead[0],):
        raise DataError(f"{name}: t must be ({lead[0]},), got {tuple(t.shape)}")
    frames = lead[1] if len(lead) == 2 else 1
    x = x_t.reshape(-1, NUM_JOINTS, UVXYZ)                                # (B*F, J, 5)
    c = pose_2d.reshape(-1, NUM_JOINTS, 2) if pose_2d is not None else None
    return x, c, t.repeat_interleave(frames), lead


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
