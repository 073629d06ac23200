"""GraFormer: the 2D -> 3D lifter whose output MMDiff refines (Zhao et al., CVPR 2022).

    pose_2d (B, 17, 2) --ChebConv--> (B, 17, hid)
        --[graph-attention block -> residual Chebyshev block] x num_layers-->
    --ChebConv--> pose_3d (B, 17, 3)

Input: normalised screen coordinates in [-1, 1]. Output: camera-frame 3D joints in metres, *not*
root-centred (the evaluation pipeline subtracts joint 0). The released lifters (DiffPose's
``gcn_xyz_cpn.pth`` / ``gcn_xyz_gt.pth``) use hid 96, 5 layers, 4 heads.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from mmdiff.errors import DataError
from mmdiff.models.common import count_params
from mmdiff.models.graph import ChebConv, GraphAttentionBlock, ResChebBlock, adjacency_from_edges
from mmdiff.models.init import check_init, tie_like_reference
from mmdiff.skeleton import EDGES_17, NUM_JOINTS


@dataclass
class GraFormerConfig:
    """Lifter hyper-parameters (the released lifters use the defaults)."""
    hid_dim: int = 96  # features per joint
    num_layers: int = 5  # graph-attention + residual Chebyshev blocks
    n_head: int = 4  # attention heads
    dropout: float = 0.25  # dropout of the attention blocks' residual branches (training)
    attn_dropout: float = 0.1  # dropout on attention weights (training)
    gconv_dropout: float = 0.1  # dropout after each Chebyshev conv of the residual blocks
    init: str = "reference"  # "reference": attention / feed-forward copies as the reference
    #                          builds them (mmdiff.models.init); "independent": every layer its own


class GraFormer(nn.Module):
    """GraFormer lifter on the 17-joint Human3.6M skeleton (``mmdiff.skeleton.EDGES_17``).

    forward(pose_2d): (..., 17, 2) normalised 2D -> (..., 17, 3) metres, any leading axes.
    With ``return_attention=True`` also returns a list of num_layers attention maps, each
    (B', n_head, 17, 17) with B' the product of the leading axes.
    """

    kind = "lifter"

    def __init__(self, cfg: GraFormerConfig | None = None):
        super().__init__()
        cfg = cfg or GraFormerConfig()
        self.cfg = cfg
        adj = adjacency_from_edges(EDGES_17, NUM_JOINTS)                  # (17, 17)
        h = cfg.hid_dim
        self.gconv_input = ChebConv(2, h, adj)
        self.gconv_layers = nn.ModuleList(
            ResChebBlock(h, adj, dropout=cfg.gconv_dropout) for _ in range(cfg.num_layers))
        self.atten_layers = nn.ModuleList(
            GraphAttentionBlock(h, NUM_JOINTS, cfg.n_head, cfg.dropout, cfg.attn_dropout)
            for _ in range(cfg.num_layers))
        self.gconv_output = ChebConv(h, 3, adj)
        check_init(cfg.init)
        if cfg.init == "reference":
            tie_like_reference([self.atten_layers])

    def forward(self, pose_2d: torch.Tensor, return_attention: bool = False):
        if pose_2d.shape[-2:] != (NUM_JOINTS, 2):
            raise DataError(f"GraFormer expects 2D poses (..., {NUM_JOINTS}, 2), "
                            f"got {tuple(pose_2d.shape)}")
        lead = pose_2d.shape[:-2]
        x = pose_2d.reshape(-1, NUM_JOINTS, 2)                            # (B', 17, 2)
        maps = []
        # input and output convs in float32 under autocast: bf16's 8 significant bits would
        # round a 1 m coordinate by ~2 mm (the residual stream h stays float32 in between)
        with torch.autocast(x.device.type, enabled=False):
            h = self.gconv_input(x.float())                              # (B', 17, hid)
        for attend, conv in zip(self.atten_layers, self.gconv_layers):
            if return_attention:
                h, attn = attend(h, return_attention=True)
                maps.append(attn)
            else:
                h = attend(h)
            h = conv(h)
        with torch.autocast(x.device.type, enabled=False):
            out = self.gconv_output(h.float())                           # (B', 17, 3)
        out = out.reshape(*lead, NUM_JOINTS, 3)                          # (..., 17, 3)
        return (out, maps) if return_attention else out

    def num_params(self) -> int:
        """Number of parameters (about 0.65 M with the defaults)."""
        return count_params(self)
