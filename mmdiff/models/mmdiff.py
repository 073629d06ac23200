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
from mmdiff.models.common import (UVXYZ, DenoiserConfig, TimestepMLP, count_params,
                                  split_frames)
from mmdiff.models.graph import (ChebConv, GraphAttentionBlock, NodeLinear, ResChebBlock,
                                 adjacency_from_edges)
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
        self.fc3 = NodeLinear(J, 2 * J)  # context: 17 joint nodes -> 34 cross-channel nodes
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
        x, c, t, lead = split_frames(x_t, pose_2d, t, "MMDiffDenoiser")  # (B, J, 5), (B, J, 2)
        J, maps = NUM_JOINTS, {"pose": [], "context": []}
        temb = self.temb(t)                                   # 4. timestep (B, 4*hid)

        # 1.-2. the embeddings in float32 under autocast: the noise at small t is a 1 % change
        # of x_t, below bf16's resolution (the residual streams h, ctx stay float32 from here)
        with torch.autocast(x.device.type, enabled=False):
            uv, xyz = x.float().split([2, 3], dim=-1)                    # (B, J, 2), (B, J, 3)
            nodes = torch.cat([self.fc1(uv), xyz], dim=1)                # 2D above 3D (B, 2J, 3)
            h = self.gconv_input(nodes)                                  # (B, 2J, hid)
            if self.cfg.context:       # 2D context, its 17 joint nodes mapped to the 34 nodes
                ctx = self.fc3(self.gconv_input_t(c.float()))            # (B, 2J, hid)
                h = h + ctx

        # 3. the two branches, exchanging features after every attention block (without the
        # context branch, the ablation, the pose branch alone)
        last = len(self.atten_layers) - 1
        for i in range(last + 1):
            h = self._attend(self.atten_layers[i], h, maps["pose"], return_attention)
            if self.cfg.context:
                ctx = self._attend(self.atten_layers_t[i], ctx, maps["context"],
                                   return_attention)
                h = h + ctx                                              # context -> pose
                if i < last:          # (after the last block the context branch is not used)
                    ctx = self.gconv_layers_t[i](ctx + h, temb)          # pose -> context
            h = self.gconv_layers[i](h, temb)

        # 5. read-out in float32 (bf16 would round a 1 m coordinate by ~2 mm): per joint, the
        # 2D node and the 3D node side by side, 6 -> 5 channels
        with torch.autocast(x.device.type, enabled=False):
            out = self.gconv_output(h.float())                           # (B, 2J, 3)
            eps = self.fc2(torch.cat([out[:, :J], out[:, J:]], dim=-1))  # (B, J, 5)
        eps = eps.reshape(*lead, J, UVXYZ)                               # like x_t
        return (eps, maps) if return_attention else eps

    @staticmethod
    def _attend(block, h, maps, keep):
        """block(h), its attention map appended to ``maps`` when ``keep``."""
        if not keep:
            return block(h)
        h, attn = block(h, return_attention=True)
        maps.append(attn)
        return h

    def num_params(self, trainable_only: bool = False) -> int:
        """Number of parameters (1.87 M with the defaults; 1.78 M trainable, the rest unused)."""
        return count_params(self, trainable_only)
