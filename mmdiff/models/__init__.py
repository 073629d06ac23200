"""Models: graph layers, the GraFormer lifter and the MMDiff / DiffPose denoisers.

    from mmdiff.models import GraFormer, MMDiffDenoiser, DenoiserConfig, build_denoiser
    lifter = GraFormer()                                   # (B, 17, 2) -> (B, 17, 3) metres
    denoiser = build_denoiser("mmdiff", hid_dim=96)        # eps(x_t, pose_2d, t)
    eps = denoiser(x_t, pose_2d, t)        # (B, 17, 5), (B, 17, 2), (B,) -> (B, 17, 5)
"""
from __future__ import annotations

import dataclasses

from mmdiff.errors import ConfigError
from mmdiff.models.diffpose import DiffPoseDenoiser
from mmdiff.models.graformer import GraFormer, GraFormerConfig
from mmdiff.models.graph import (ChebConv, GraphAttentionBlock, LayerNorm, LearnableGraphFFN,
                                 MultiHeadAttention, ResChebBlock, adjacency_from_edges,
                                 chebyshev_polynomials, normalized_laplacian, timestep_embedding)
from mmdiff.models.mmdiff import DenoiserConfig, MMDiffDenoiser, cross_channel_edges

#: Denoiser classes by the ``kind`` stored in checkpoints and configs.
DENOISERS = {"mmdiff": MMDiffDenoiser, "diffpose": DiffPoseDenoiser}


def _config(cls, values: dict, what: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"{what}: unknown field(s) {unknown}; fields are {sorted(names)}")
    return cls(**values)


def build_denoiser(kind: str = "mmdiff", **fields):
    """A fresh denoiser of the given kind ("mmdiff" or "diffpose") from DenoiserConfig fields,
    e.g. ``build_denoiser(**dataclasses.asdict(cfg.model))`` (a ``kind`` key is accepted)."""
    if kind not in DENOISERS:
        raise ConfigError(f"unknown denoiser kind {kind!r}; choose one of {sorted(DENOISERS)}")
    return DENOISERS[kind](_config(DenoiserConfig, fields, f"{kind} denoiser config"))


def build_lifter(**fields) -> GraFormer:
    """A fresh GraFormer lifter from GraFormerConfig fields (unknown fields raise ConfigError)."""
    return GraFormer(_config(GraFormerConfig, fields, "lifter config"))


__all__ = [
    "ChebConv", "GraphAttentionBlock", "LayerNorm", "LearnableGraphFFN", "MultiHeadAttention",
    "ResChebBlock", "adjacency_from_edges", "chebyshev_polynomials", "normalized_laplacian",
    "timestep_embedding", "GraFormer", "GraFormerConfig", "MMDiffDenoiser", "DenoiserConfig",
    "DiffPoseDenoiser", "cross_channel_edges", "DENOISERS", "build_denoiser", "build_lifter",
]
