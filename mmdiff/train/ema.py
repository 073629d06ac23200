"""Exponential moving average of a model's weights (the EMA kept beside the trained denoiser).

    ema = EMA(model, rate=0.999)
    ema.update(model)                       # after every optimiser step
    averaged = ema.copy_to(copy.deepcopy(model))

As the reference keeps it: a dict name -> tensor, updated ``shadow = rate * shadow + (1 - rate) *
param`` every step. Frozen parameters are kept too, so the EMA state has every key of the
released checkpoint layout (element 4 of the checkpoint list).
"""
from __future__ import annotations

import torch

from mmdiff.errors import CheckpointError


class EMA:
    """Shadow copies of a model's parameters, averaged with decay ``rate`` (mu in the paper)."""

    def __init__(self, model: torch.nn.Module, rate: float):
        self.rate = rate
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """shadow <- rate * shadow + (1 - rate) * param, for every parameter."""
        for name, p in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(p.detach(), 1.0 - self.rate)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {n: t.clone() for n, t in self.shadow.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise CheckpointError(f"EMA state lacks {sorted(missing)[:5]}")
        for n in self.shadow:
            self.shadow[n].copy_(state[n])

    def copy_to(self, model: torch.nn.Module) -> torch.nn.Module:
        """Load the averaged weights into ``model`` (in place) and return it."""
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name in self.shadow:
                    p.copy_(self.shadow[name])
        return model
