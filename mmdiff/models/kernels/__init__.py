"""Speed kernels: the arithmetic of the graph layers, written to run fast on a CPU.

The layers in :mod:`mmdiff.models.graph` state what they compute in their docstrings and call
these functions to compute it. Each kernel below gives the plain PyTorch expression it replaces
(``*_plain``, used by the tests, which check both agree, and by ``mmdiff bench --kernels``, which
times both) and the gain measured here: ``mmdiff --threads 1 bench --kernels --repeats 10``
(one thread of the 2-core CPU, the machine otherwise idle, torch 2.13, the released size:
batch 1024, 34 nodes, 96 features; median of 10 alternating runs in one process; 2026-12-06).
The kernels live in modules by idea and are used from here: ``autocast`` (the dtypes they
compute in), ``dropout_masks``, ``feature_maps`` (linear maps, Q/K/V, residual adds), ``graph``
(node mixing), ``norm`` and ``node_attention`` (attention and inference chunks).

==============================  =============================================  ===============
kernel                          instead of                                     measured gain
==============================  =============================================  ===============
:func:`dropout`                 ``F.dropout`` (a float mask from torch.rand)    4.62x
:func:`linear`                  ``F.linear`` (addmm copies the bias first)      1.03x
:func:`layer_norm`              autograd through mean / norm / division         2.68x
:func:`attention`               softmax(q k^T / sqrt(d)) v as three ops         0.94x
:func:`cheb_conv`               sum_k T_k @ x @ W_k with T_k per call           1.42x
:func:`graph_linear`            fc(L @ x) in the order written                  1.17x / 1.12x
:func:`node_linear`             fc over the node axis via two transposes        1.39x
:func:`chunked`                 one pass over the whole batch                   1.17x
==============================  =============================================  ===============

``graph_linear``: 192 -> 96 / 96 -> 192. On one thread ``linear`` (1.03x) and ``attention``
(0.94x, inference) gain nothing here; their gain with both cores is unmeasured (run the command
above without ``--threads 1`` on an idle machine). Where a kernel and its plain form differ
at all, it is float32 rounding (summation order); ``tests/test_models.py`` checks the layers
against their formulas.

Mixed precision (:mod:`mmdiff.precision`): under autocast the matrix products cast their inputs
and weights to the autocast dtype (:func:`compute_dtype`), the layer norm keeps float32
statistics and gradients, dropout masks stay exact, bf16 attention on a CPU avoids the fused SDPA,
and :func:`full_precision` runs the models' embeddings and read-outs in float32;
``tests/test_precision.py`` checks each under bf16. In bf16 / fp16 six kernels take another
path (float32 keeps the one above, its results unchanged), each measured against the form the
bf16 step used before it, or against PyTorch's own form, by the same command (its ``bf16``
rows, same run):

==============================  =============================================  ===============
bf16 path                       instead of                                     measured gain
==============================  =============================================  ===============
:func:`dropout` (fwd + bwd)     ``F.dropout`` on bf16, p = 0.1                  1.72x
:func:`qkv_heads` (fwd + bwd)   three ``linear`` maps, head views               1.25x
:func:`layer_norm` (fwd + bwd)  the hand-written norm in float32, then a cast   2.41x
:func:`residual_add`            PyTorch's mixed-dtype add                       1.36x
:func:`cheb_conv`               the terms one by one (forward only)             0.96x
:func:`linear`                  GEMM + in-place bias (``F.linear`` fuses it)    (A/B: 1.6x)
==============================  =============================================  ===============

What each path buys in a whole bf16 training step (batch 1024), the step against the same step
with that one path swapped back, alternating in one process: ``mmdiff --threads 1 bench --ablate
--repeats 5``, two runs (2026-12-06, idle machine; step about 2.7 s): dropout 1.10x / 1.09x,
Q, K, V 1.01x / 1.02x, layer norm 1.10x / 1.09x, residual add 1.00x / 1.02x, stacked Chebyshev
terms 1.06x / 1.06x (alone, forward only, no faster: the table above), ``F.linear`` 1.00x /
1.01x (alone 0.22 against 0.36 ms for 192 poses); all dropout together costs 0.40-0.42 s of the
step. The bf16
layer norm is GraFormer's norm computed by PyTorch's fused layer norm (:func:`layer_norm`;
relative difference eps / std, below bf16's resolution).
"""
from __future__ import annotations

from mmdiff.models.kernels.node_attention import CPU_CHUNK, attention, chunked
from mmdiff.models.kernels.autocast import LOW, compute_dtype, full_precision
from mmdiff.models.kernels.dropout_masks import Dropout, dropout, dropout_mask, random_ints
from mmdiff.models.kernels.graph import cheb_conv, graph_linear, node_linear
from mmdiff.models.kernels.feature_maps import linear, qkv_heads, residual_add
from mmdiff.models.kernels.norm import layer_norm, layer_norm_plain
# the forms behind them, for the tests and ``mmdiff bench --kernels``
from mmdiff.models.kernels.node_attention import _padded  # noqa: F401
from mmdiff.models.kernels.dropout_masks import _MaskScale  # noqa: F401
from mmdiff.models.kernels.graph import _cheb_conv_stacked, _cheb_conv_terms  # noqa: F401
from mmdiff.models.kernels.feature_maps import _bias_after, _QKVHeads, _qkv_separate  # noqa: F401
from mmdiff.models.kernels.norm import _fused_layer_norm, _UnbiasedLayerNorm  # noqa: F401

__all__ = ["LOW", "compute_dtype", "full_precision", "random_ints", "dropout_mask", "dropout",
           "Dropout", "linear", "qkv_heads", "residual_add", "layer_norm", "layer_norm_plain",
           "attention", "cheb_conv", "graph_linear", "node_linear", "chunked", "CPU_CHUNK"]
