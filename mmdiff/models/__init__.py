"""Models: graph layers, the GraFormer lifter and the MMDiff / DiffPose denoisers.

    from mmdiff.models import build_lifter, build_denoiser, DenoiserConfig
    lifter = build_lifter(cfg.lifter)                      # (B, 17, 2) -> (B, 17, 3) metres
    denoiser = build_denoiser(DenoiserConfig(hid_dim=96))  # eps(x_t, pose_2d, t), kind "mmdiff"
    eps = denoiser(x_t, pose_2d, t)        # (B, 17, 5), (B, 17, 2), (B,) -> (B, 17, 5)

One config dataclass and one builder per model: :class:`GraFormerConfig` / :func:`build_lifter`
and :class:`DenoiserConfig` / :func:`build_denoiser` (its ``kind`` picks MMDiff or DiffPose).
Configs (``mmdiff.config``) use these dataclasses as their ``lifter`` and ``model`` sections, and
checkpoints store their fields, so every model in the kit is built here.

The model classes are the paper in plain PyTorch (:mod:`~mmdiff.models.graph`); the builders
return them with the fast forms of their layers swapped in (:func:`~mmdiff.models.kernels.
accelerate`), which the kit's numbers were computed with; ``fast=False`` keeps them plain.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from mmdiff.errors import ConfigError
from mmdiff.models.common import DenoiserConfig, TimestepMLP, timestep_embedding
from mmdiff.models.diffpose import DiffPoseDenoiser
from mmdiff.models.graformer import GraFormer, GraFormerConfig
from mmdiff.models.graph import (ChebConv, GraphAttentionBlock, LayerNorm, LearnableGraphFFN,
                                 MultiHeadAttention, NodeLinear, ResChebBlock,
                                 adjacency_from_edges, chebyshev_polynomials,
                                 normalized_laplacian)
from mmdiff.models.kernels import accelerate
from mmdiff.models.mmdiff import MMDiffDenoiser, cross_channel_edges

#: Denoiser classes by the ``kind`` stored in checkpoints and configs.
DENOISERS = {"mmdiff": MMDiffDenoiser, "diffpose": DiffPoseDenoiser}


def _fields(cls, cfg: Any, what: str) -> Any:
    """An instance of the dataclass ``cls`` from a mapping or from any object carrying its fields
    (a config section may add fields of its own, such as ``lifter.checkpoint``)."""
    names = [f.name for f in dataclasses.fields(cls)]
    if isinstance(cfg, Mapping):
        unknown = sorted(set(cfg) - set(names))
        if unknown:
            raise ConfigError(f"{what}: unknown field(s) {unknown}; fields are {names}")
        return cls(**cfg)
    return cls(**{n: getattr(cfg, n) for n in names})


def build_lifter(cfg: GraFormerConfig | Mapping | None = None, fast: bool = True) -> GraFormer:
    """A fresh GraFormer lifter from :class:`GraFormerConfig` fields (a config's ``lifter``
    section, a dict of fields, or None for the released size), accelerated unless not ``fast``."""
    lifter = GraFormer(_fields(GraFormerConfig, cfg if cfg is not None else {}, "lifter config"))
    return accelerate(lifter) if fast else lifter


def build_denoiser(cfg: DenoiserConfig | Mapping | None = None, fast: bool = True):
    """A fresh denoiser from :class:`DenoiserConfig` fields (a config's ``model`` section, a
    dict of fields, or None for the released MMDiff); ``kind`` picks the class. Accelerated
    unless not ``fast``."""
    cfg = _fields(DenoiserConfig, cfg if cfg is not None else {}, "denoiser config")
    if cfg.kind not in DENOISERS:
        raise ConfigError(f"model.kind: expected one of {sorted(DENOISERS)}, found {cfg.kind!r}")
    denoiser = DENOISERS[cfg.kind](cfg)
    return accelerate(denoiser) if fast else denoiser


__all__ = [
    "ChebConv", "GraphAttentionBlock", "LayerNorm", "LearnableGraphFFN", "MultiHeadAttention",
    "NodeLinear", "ResChebBlock", "accelerate", "adjacency_from_edges", "chebyshev_polynomials",
    "normalized_laplacian",
    "timestep_embedding", "TimestepMLP", "GraFormer", "GraFormerConfig", "MMDiffDenoiser",
    "DenoiserConfig", "DiffPoseDenoiser", "cross_channel_edges", "DENOISERS", "build_denoiser",
    "build_lifter",
]
