"""The dtypes the kernels compute in under autocast, and float32 islands inside it."""
from __future__ import annotations

from typing import Callable

import torch

#: the reduced-precision dtypes of autocast
LOW = (torch.bfloat16, torch.float16)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the matrix products on ``x`` run in: autocast's (bf16 / fp16) when autocast is
    on for x's device (:mod:`mmdiff.precision`), else x's own. The kernels below cast x and their
    weights to it themselves, since autocast skips in-place and ``out=`` forms such as
    ``baddbmm_``; in float32 every cast is a no-op, so results there are unchanged."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype


def full_precision(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
    """``fn(*tensors)`` in float32 with autocast off (the tensors cast up; a no-op in float32).
    For the read-out layers: bf16's 8 significant bits would round a 1 m coordinate by ~2 mm."""
    if not any(t.dtype != torch.float32 for t in tensors) and \
            not torch.is_autocast_enabled(tensors[0].device.type):
        return fn(*tensors)
    with torch.autocast(tensors[0].device.type, enabled=False):
        return fn(*(t.float() for t in tensors))
