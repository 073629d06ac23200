"""The dtypes the fast layers compute in under autocast."""
from __future__ import annotations

import torch

#: the reduced-precision dtypes of autocast
LOW = (torch.bfloat16, torch.float16)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the matrix products on ``x`` run in: autocast's (bf16 / fp16) when autocast is
    on for x's device (:mod:`mmdiff.engine.precision`), else x's own. The fast layers cast x and
    their weights to it themselves, since autocast skips in-place and ``out=`` forms such as
    ``baddbmm_``; in float32 every cast is a no-op, so results there are unchanged."""
    kind = x.device.type
    return torch.get_autocast_dtype(kind) if torch.is_autocast_enabled(kind) else x.dtype

