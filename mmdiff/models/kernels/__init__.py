"""Fast forms of the paper's layers: subclasses of the plain layers of
:mod:`mmdiff.models.graph` that compute the same values faster on a CPU, and the one switch that
puts them in a model.

    model = accelerate(GraFormer(cfg))                 # every layer that has a fast form
    model = accelerate(model, only=[LayerNorm])        # or some of them (``bench --ablate``)

:func:`~mmdiff.models.build_lifter` and :func:`~mmdiff.models.build_denoiser` return accelerated
models (``fast=False``: the plain ones). A fast form only overrides ``forward``: parameters,
buffers and state-dict keys are its parent's, and the swap changes a module's class only.

==========================  ===================================================================
plain layer                 fast form: what it does differently
==========================  ===================================================================
``nn.Dropout``              :class:`FastDropout`: masks from random integers; in bf16 mask and
                            scale in one pass, rounded once (another random stream)
:class:`LayerNorm`          :class:`FastLayerNorm`: hand-written backward in float32; bf16:
                            PyTorch's fused layer norm with float32 statistics
:class:`ChebConv`           :class:`FastChebConv`: T_0 = I skipped, the terms summed in place;
                            bf16: all terms in one GEMM and one batched product
:class:`MultiHeadAttention` :class:`FastMultiHeadAttention`: 1/sqrt(d) folded into W_q;
                            evaluation through the fused scaled-dot-product attention
:class:`LearnableGraphConv` :class:`FastLearnableGraphConv`: fc(L x) as L (x W^T) + b where
                            that is cheaper (the narrowing layer)
:class:`NodeLinear`         :class:`FastNodeLinear`: one ``baddbmm``, the output contiguous
==========================  ===================================================================

In float32 each fast form gives the plain one's values up to float32 rounding (FastDropout: the
same distribution), and the kit's numbers were computed with them; ``tests/test_models_fast.py``
checks each against its plain parent, values and gradients, in float32 and under bf16 autocast.
Under autocast (:mod:`mmdiff.engine.precision`) they compute in :func:`compute_dtype`. What each
buys in a whole training step: ``mmdiff --threads 1 bench --ablate``; each alone: ``bench
--kernels``.
Also here: :func:`chunked`, no-grad inference in CPU-cache-sized chunks.
"""
from __future__ import annotations

from typing import Iterable

import torch.nn as nn

from mmdiff.errors import ConfigError
from mmdiff.models.graph import (ChebConv, LayerNorm, LearnableGraphConv, MultiHeadAttention,
                                 NodeLinear)
from mmdiff.models.kernels.autocast import LOW, compute_dtype
from mmdiff.models.kernels.dropout_masks import FastDropout, dropout, dropout_mask, random_ints
from mmdiff.models.kernels.graph import (FastChebConv, FastLearnableGraphConv, FastNodeLinear,
                                         cheb_conv, node_linear)
from mmdiff.models.kernels.node_attention import (CPU_CHUNK, FastMultiHeadAttention, chunked,
                                                  compile_for_inference)
from mmdiff.models.kernels.norm import FastLayerNorm, layer_norm

#: plain layer class -> its fast form
FAST: dict[type[nn.Module], type[nn.Module]] = {
    nn.Dropout: FastDropout,
    LayerNorm: FastLayerNorm,
    ChebConv: FastChebConv,
    MultiHeadAttention: FastMultiHeadAttention,
    LearnableGraphConv: FastLearnableGraphConv,
    NodeLinear: FastNodeLinear,
}


def accelerate(model: nn.Module, only: Iterable[type[nn.Module]] | None = None) -> nn.Module:
    """``model`` with every layer of a class in ``only`` (plain classes, keys of :data:`FAST`;
    default all of them) swapped in place for its fast form; returns ``model``.

    The swap sets the module's class (the fast forms add no state), so parameters, optimiser
    references and state-dict keys are untouched; layers already fast are left as they are."""
    only = list(FAST) if only is None else list(only)
    unknown = [c for c in only if c not in FAST]
    if unknown:
        raise ConfigError(f"accelerate: no fast form for {unknown}; there is one for "
                          f"{[c.__name__ for c in FAST]}")
    for module in model.modules():
        if type(module) in only:
            module.__class__ = FAST[type(module)]
    return model


__all__ = ["FAST", "accelerate", "FastDropout", "FastLayerNorm", "FastChebConv",
           "FastMultiHeadAttention", "FastLearnableGraphConv", "FastNodeLinear", "LOW",
           "compute_dtype", "random_ints", "dropout_mask", "dropout", "layer_norm", "cheb_conv",
           "node_linear", "chunked", "CPU_CHUNK"]
