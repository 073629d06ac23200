"""How the reference initialises its graph-attention blocks, as a function the models call.

The reference (monoMotionDiff's ``models/model.py`` and ``models/backbone/GraFormer.py``, as
DiffPose's ``models/gcndiff.py``) builds ONE attention module and one learnable-graph
feed-forward network per branch, then puts ``copy.deepcopy`` of them into every layer; and the
attention's four projections are ``clones(nn.Linear(d, d), 4)``, deep copies of one layer. So at
initialisation, before any training step:

- W_q = W_k = W_v = W_o (and their biases) in every attention module;
- every attention module of the model is the same (MMDiff: both branches, all layers);
- every feed-forward graph of a branch is the same (MMDiff: one per branch).

``init: "reference"`` (the default of every model config) reproduces that structure;
``init: "independent"`` keeps PyTorch's independent initialisation of every layer (the kit's
earlier behaviour). The random values themselves cannot match the reference's: only which
weights start equal.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from mmdiff.errors import ConfigError

INITS = ("reference", "independent")


@torch.no_grad()
def _copy_into(target: nn.Module, source: nn.Module) -> None:
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.copy_(s)


@torch.no_grad()
def tie_like_reference(branches: Sequence[Sequence[nn.Module]]) -> None:
    """Give graph-attention blocks (:class:`~mmdiff.models.graph.GraphAttentionBlock`) the
    reference's starting copies. ``branches``: per branch, its list of blocks (the first branch's
    first block is the source of every attention module; each branch's first block the source of
    that branch's feed-forward graphs)."""
    first = branches[0][0].self_attn
    q_proj = first.linears[0]
    for proj in first.linears[1:]:                                 # W_q = W_k = W_v = W_o
        _copy_into(proj, q_proj)
    for blocks in branches:
        for block in blocks:
            if block.self_attn is not first:
                _copy_into(block.self_attn, first)
            if block is not blocks[0]:
                _copy_into(block.feed_forward, blocks[0].feed_forward)


def check_init(init: str) -> None:
    if init not in INITS:
        raise ConfigError(f"init: expected one of {INITS}, found {init!r}")
