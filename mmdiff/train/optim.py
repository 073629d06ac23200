"""Optimisers and the learning-rate schedule of both training loops.

    optimizer = make_optimizer(model.parameters(), "Adam", lr=1e-3)
    schedule = StepDecay(1e-3, gamma=0.9, every=60)
    lr = schedule.at(epoch)                              # lr of epoch e
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from mmdiff.errors import ConfigError


def step_lr(lr0: float, gamma: float, every: int, epoch: int, shift: int = 0) -> float:
    """Step decay: ``lr0 * gamma ** (max(epoch - shift, 0) // every)`` (every <= 0: constant).

    shift 0: the first decay applies from epoch ``every``. shift 1 is the reference's schedule
    (monoMotionDiff ``train()``: after epoch e, ``if e % decay == 0`` sets lr0 * gamma ** (e /
    decay)), so epochs 0 .. every run at lr0 and the first decay applies from epoch every + 1.
    """
    return lr0 * gamma ** (max(epoch - shift, 0) // every) if every > 0 else lr0


@dataclass(frozen=True)
class StepDecay:
    """Step decay of the learning rate: lr0, times gamma every ``every`` epochs (0 = constant)."""
    lr0: float
    gamma: float = 1.0
    every: int = 0
    shift: int = 0          # 1 = the reference's: epochs 0 .. every at lr0 (see step_lr)

    def at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based)."""
        return step_lr(self.lr0, self.gamma, self.every, epoch, self.shift)

    def state(self) -> dict:
        """Plain fields, stored in checkpoints."""
        return {"kind": "step", **asdict(self)}


def make_optimizer(params, name: str, lr: float, weight_decay=0.0, amsgrad=False, eps=1e-8):
    """Adam (the paper's), AdamW or SGD with momentum 0.9."""
    if name == "Adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, amsgrad=amsgrad, eps=eps)
    if name == "AdamW":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, amsgrad=amsgrad, eps=eps)
    if name == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ConfigError(f"optim.optimizer: expected Adam, AdamW or SGD, found {name!r}")
