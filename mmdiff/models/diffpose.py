"""The DiffPose denoiser (Gong et al., CVPR 2023): the baseline MMDiff improves on.

A single GraFormer-style branch on the 17-joint skeleton whose nodes carry the whole noisy uvxyz
sample (5 channels per joint); no cross-channel graph and no separate 2D context branch: the 2D
information enters only through the u, v channels of x_t.

    x_t (B, 17, 5) --ChebConv--> (B, 17, hid)
        --[graph-attention block -> residual Chebyshev block (+ timestep)] x num_layers-->
    --ChebConv--> eps (B, 17, 5)

Parameter names follow DiffPose's ``GCNdiff``, so its released denoisers load strictly.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn

from mmdiff.models.common import (UVXYZ, DenoiserConfig, TimestepMLP, count_params,
                                  split_frames)
from mmdiff.models.graph import ChebConv, GraphAttentionBlock, ResChebBlock, adjacency_from_edges
from mmdiff.models.init import check_init, tie_like_reference
from mmdiff.skeleton import EDGES_17, NUM_JOINTS


class DiffPoseDenoiser(nn.Module):
    """DiffPose's noise predictor, with the same call as :class:`MMDiffDenoiser`.

    cfg: a :class:`DenoiserConfig` (``cross_links`` does not apply and is ignored).
    forward(x_t, pose_2d, t, return_attention=False):
        x_t (B, 17, 5) or (B, F, 17, 5) noisy uvxyz; pose_2d accepted for a common interface and
        not used (may be None); t (B,) timesteps. Returns the predicted noise, shaped like x_t;
        with ``return_attention=True`` returns (eps, maps), maps = {"pose": [num_layers maps
        (B*F, n_head, 17, 17)]}.
    """

    kind = "diffpose"

    def __init__(self, cfg: DenoiserConfig | None = None):
        super().__init__()
        cfg = dataclasses.replace(cfg or DenoiserConfig(), kind=self.kind)
        self.cfg = cfg
        h = cfg.hid_dim
        adj = adjacency_from_edges(EDGES_17, NUM_JOINTS)                  # (17, 17)
        self.gconv_input = ChebConv(UVXYZ, h, adj)
        self.gconv_layers = nn.ModuleList(
            ResChebBlock(h, adj, 4 * h, cfg.gconv_dropout) for _ in range(cfg.num_layers))
        self.atten_layers = nn.ModuleList(
            GraphAttentionBlock(h, NUM_JOINTS, cfg.n_head, cfg.dropout, cfg.attn_dropout)
            for _ in range(cfg.num_layers))
        self.gconv_output = ChebConv(h, UVXYZ, adj)
        self.temb = TimestepMLP(cfg.emd_dim or h, 4 * h)
        check_init(cfg.init)
        if cfg.init == "reference":                   # DiffPose's GCNdiff copies like GraFormer
            tie_like_reference([self.atten_layers])

    def forward(self, x_t: torch.Tensor, pose_2d: torch.Tensor | None, t: torch.Tensor,
                return_attention: bool = False):
        x, _, t, lead = split_frames(x_t, pose_2d, t, "DiffPoseDenoiser")
        temb = self.temb(t)                                              # (B, 4*hid)
        maps = []
        # input and output convs in float32 under autocast (as GraFormer's)
        with torch.autocast(x.device.type, enabled=False):
            h = self.gconv_input(x.float())                              # (B, 17, hid)
        for attend, conv in zip(self.atten_layers, self.gconv_layers):
            if return_attention:
                h, attn = attend(h, return_attention=True)
                maps.append(attn)
            else:
                h = attend(h)
            h = conv(h, temb)
        with torch.autocast(x.device.type, enabled=False):
            eps = self.gconv_output(h.float())                           # (B, 17, 5)
        eps = eps.reshape(*lead, NUM_JOINTS, UVXYZ)                      # like x_t
        return (eps, {"pose": maps}) if return_attention else eps

    def num_params(self, trainable_only: bool = False) -> int:
        """Number of parameters (about 1.03 M with the defaults)."""
        return count_params(self, trainable_only)
