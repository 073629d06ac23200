"""The MMDiff denoiser eps_theta(x_t, c_2d, t) (Jiang & Chen, ICASSP 2024).

It predicts the noise in a noisy "uvxyz" pose: 17 joints x (u, v, x, y, z), the normalised 2D
detection next to the 3D joints in metres. Reading the paper's figure left to right:

1. **Cross-channel embedding.** The 2D half (B, 17, 2) is lifted to 3 channels by ``fc1`` and
   stacked with the 3D half (B, 17, 3) into one 34-node graph: nodes 0-16 are the 2D joints,
   nodes 17-33 the 3D joints. Its edges are the 16 bones inside each half plus the 17 links
   joint j <-> joint j + 17 between the halves (``cross_links``).
2. **2D context branch.** The clean 2D condition (B, 17, 2) goes through a ChebConv on the
   17-joint skeleton, and ``fc3`` maps its 17 nodes to the 34 nodes of the cross-channel graph.
3. **Two branches, exchanging features.** Both branches run num_layers graph-attention blocks and
   timestep-conditioned residual Chebyshev blocks on the 34-node graph. After each attention
   block the branches swap information: pose += context, then context += pose.
4. **Timestep.** t goes through a sinusoidal embedding and two dense layers (swish between);
   every residual Chebyshev block adds a projection of it.
5. **Read-out.** A ChebConv maps features to 3 channels per node; the 2D and 3D nodes of each
   joint are joined (B, 17, 6) and ``fc2`` maps 6 -> 5 channels: the predicted noise in uvxyz.

The released checkpoints also hold the context branch's last residual block
(``gconv_layers_t.<last>``) and an output conv (``gconv_output_t``) that the reference forward
never uses. They are kept here (so files load strictly and the kit's own files load in the
reference code) but frozen (``requires_grad=False``): they take no part in training.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn

from mmdiff.errors import DataError
from mmdiff.models import kernels
from mmdiff.models.common import (UVXYZ, DenoiserConfig, TimestepMLP, count_params,
                                  split_frames)
from mmdiff.models.graph import ChebConv, GraphAttentionBlock, ResChebBlock, adjacency_from_edges
from mmdiff.models.init import check_init, tie_like_reference
from mmdiff.skeleton import EDGES_17, NUM_JOINTS


def cross_channel_edges(edges=EDGES_17, num_joints: int = NUM_JOINTS,
                        cross_links: bool = True) -> list[tuple[int, int]]:
    """Edges of the 2J-node cross-channel graph: the bones in the 2D half (nodes 0..J-1), the same
    bones in the 3D half (nodes J..2J-1) and, with ``cross_links``, each joint j linked to j + J."""
    out = [(i, j) for i, j in edges]
    out += [(i + num_joints, j + num_joints) for i, j in edges]
    if cross_links:
        out += [(j, j + num_joints) for j in range(num_joints)]
    return out


class MMDiffDenoiser(nn.Module):
    """MMDiff's noise predictor; see the module docstring for the architecture.

    forward(x_t, pose_2d, t, return_attention=False):
        x_t (B, 17, 5) noisy uvxyz (u, v normalised, x, y, z metres), or (B, 1, 17, 5) with the
        reference's frame axis (any F works); pose_2d (B, 17, 2) (or (B, F, 17, 2)) the clean 2D
        condition; t (B,) timesteps (int or float, 0..T-1).
        Returns the predicted noise, same shape as x_t. With ``return_attention=True`` returns
        (eps, maps), maps = {"pose": [...], "context": [...]}: per branch a list of num_layers
        attention maps (B*F, n_head, 34, 34) over the 34 cross-channel nodes (0-16 = 2D joints,
        17-33 = 3D joints).
    """

    kind = "mmdiff"

    def __init__(self, cfg: DenoiserConfig | None = None):
        super().__init__()
        cfg = dataclasses.replace(cfg or DenoiserConfig(), kind=self.kind)
        self.cfg = cfg
        J, h, n = NUM_JOINTS, cfg.hid_dim, cfg.num_layers
        temb_dim = 4 * h
        adj_pose = adjacency_from_edges(cross_channel_edges(cross_links=cfg.cross_links), 2 * J)
        adj_2d = adjacency_from_edges(EDGES_17, J)

        def res_blocks():
            return nn.ModuleList(ResChebBlock(h, adj_pose, temb_dim, cfg.gconv_dropout)
                                 for _ in range(n))

        def attn_blocks():
            return nn.ModuleList(GraphAttentionBlock(h, 2 * J, cfg.n_head, cfg.dropout,
                                                     cfg.attn_dropout) for _ in range(n))

        # pose branch on the 34-node cross-channel graph
        self.gconv_input = ChebConv(3, h, adj_pose)
        self.gconv_layers = res_blocks()
        self.atten_layers = attn_blocks()
        self.gconv_output = ChebConv(h, 3, adj_pose)
        # 2D context branch: 17-joint input conv, then the same 34-node graph
        self.gconv_input_t = ChebConv(2, h, adj_2d)
        self.gconv_layers_t = res_blocks()
        self.atten_layers_t = attn_blocks()
        self.gconv_output_t = ChebConv(h, 3, adj_pose)        # in the released files, unused
        # dimensional alignment
        self.fc1 = nn.Linear(2, 3)       # 2D joint (u, v) -> 3 channels, like a 3D joint
        self.fc2 = nn.Linear(6, 5)       # read-out: (2D node, 3D node) of a joint -> uvxyz noise
        self.fc3 = nn.Linear(J, 2 * J)   # context: 17 joint nodes -> 34 cross-channel nodes
        # timestep embedding
        self.temb = TimestepMLP(cfg.emd_dim or h, temb_dim)
        unused = [self.gconv_layers_t[-1], self.gconv_output_t]
        if not cfg.context:                     # ablation: the whole context branch is idle
            unused += [self.gconv_input_t, self.gconv_layers_t, self.atten_layers_t, self.fc3]
        for module in unused:
            module.requires_grad_(False)
        check_init(cfg.init)
        if cfg.init == "reference":
            tie_like_reference([self.atten_layers, self.atten_layers_t])

    def forward(self, x_t: torch.Tensor, pose_2d: torch.Tensor, t: torch.Tensor,
                return_attention: bool = False):
        if pose_2d is None:
            raise DataError("MMDiffDenoiser: the 2D condition pose_2d (B, 17, 2) is required")
        x, c, t, lead = split_frames(x_t, pose_2d, t, "MMDiffDenoiser")
        maps = {"pose": [], "context": []}
        eps = self._eps(x, c, t, maps, return_attention)
        eps = eps.reshape(*lead, NUM_JOINTS, UVXYZ)                         # like x_t
        return (eps, maps) if return_attention else eps

    def _eps(self, x, c, t, maps, return_attention=False):
        """The network on flat inputs: x (B, J, 5), c (B, J, 2), t (B,) -> eps (B, J, 5)."""
        temb = self.temb(t)                                              # (B, 4*hid)
        # 1.-2. the embeddings in float32 under autocast: the noise at small t is a 1 % change
        # of x_t, below bf16's resolution (the residual streams h, ctx stay float32 from here)
        h, ctx = kernels.full_precision(self._embed, x, c)               # (B, 2J, hid) each
        if not self.cfg.context:                                         # ablation: one branch
            return self._readout(self._pose_branch_alone(h, temb, maps, return_attention))

        # 3. the two branches, exchanging features after every attention block
        h = h + ctx                                                      # (B, 2J, hid)
        last = len(self.atten_layers) - 1
        for i in range(last + 1):
            h = self._attend(self.atten_layers[i], h, maps["pose"], return_attention)
            ctx = self._attend(self.atten_layers_t[i], ctx, maps["context"], return_attention)
            h = h + ctx                                                  # context -> pose
            if i < last:              # (after the last block the context branch is not used)
                ctx = ctx + h                                            # pose -> context
                ctx = self.gconv_layers_t[i](ctx, temb)
            h = self.gconv_layers[i](h, temb)
        return self._readout(h)

    def _embed(self, x, c):
        """Steps 1-2: x (B, J, 5), c (B, J, 2) -> (pose features, context features), each
        (B, 2J, hid); the context is None in the ablation without it."""
        # 1. cross-channel embedding: 2D joints (lifted to 3 channels) above 3D joints
        uv, xyz = x.split([2, 3], dim=-1)                                # (B, J, 2), (B, J, 3)
        nodes = torch.cat([self.fc1(uv), xyz], dim=1)                    # (B, 2J, 3)
        h = self.gconv_input(nodes)                                      # (B, 2J, hid)
        if not self.cfg.context:
            return h, None
        # 2. 2D context branch, its 17 joint nodes mapped to the 34 graph nodes
        ctx = self.gconv_input_t(c)                                      # (B, J, hid)
        return h, kernels.node_linear(ctx, self.fc3)                     # (B, 2J, hid) fc3 on nodes

    def _readout(self, h: torch.Tensor) -> torch.Tensor:
        """4. read-out: per joint, the 2D node and the 3D node side by side, 6 -> 5 channels.
        h (B, 2J, hid) -> eps (B, J, 5)."""
        return kernels.full_precision(self._readout_fp32, h)            # fp32 under autocast

    def _readout_fp32(self, h: torch.Tensor) -> torch.Tensor:
        J = NUM_JOINTS
        out = self.gconv_output(h)                                       # (B, 2J, 3)
        out = torch.cat([out[:, :J], out[:, J:]], dim=-1)                # (B, J, 6)
        return self.fc2(out)                                             # (B, J, 5)

    def _pose_branch_alone(self, h, temb, maps, return_attention):
        """The ablation without the context branch: embedded h (B, 2J, hid) -> (B, 2J, hid)."""
        for attend, conv in zip(self.atten_layers, self.gconv_layers):
            h = conv(self._attend(attend, h, maps["pose"], return_attention), temb)
        return h

    @staticmethod
    def _attend(block, h, maps, keep):
        if not keep:
            return block(h)
        h, attn = block(h, return_attention=True)
        maps.append(attn)
        return h

    def num_params(self, trainable_only: bool = False) -> int:
        """Number of parameters (1.87 M with the defaults; 1.78 M trainable, the rest unused)."""
        return count_params(self, trainable_only)
