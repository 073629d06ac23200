"""Run folders, training state on disk, resume and stop signals.

A run keeps everything in one folder, ``exp/<doc>/``::

    config.yml       the resolved config (every field), written when the run starts
    log.txt          progress lines and the validation tables
    metrics.jsonl    one JSON line per epoch (loss, lr, p1, p2 in mm, seconds, poses/s)
    ckpt.pth         the latest state (every epoch, and mid-epoch on SIGINT / SIGTERM)
    ckpt_<e>.pth     the state after epoch e (``train.keep_every``)
    best.pth         the state of the lowest validation P1 (the latest epoch without validation)

A training checkpoint is the released list layout ``[state_dict, optimizer, epoch, step, ema,
meta]`` (:mod:`mmdiff.checkpoints`) whose ``meta`` also holds the :class:`Position` (epoch, batch
within the epoch, running loss), the history of epoch rows and the RNG states, so a resumed run
ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import json
import logging
import math
import signal
from dataclasses import dataclass
from pathlib import Path

import torch

from mmdiff.checkpoints import read_checkpoint, save_checkpoint
from mmdiff.config import Config, save_config
from mmdiff.engine.runtime import Dist
from mmdiff.errors import CheckpointError

__all__ = ["RunFolder", "Position", "StopSignal", "save_state", "restore_state",
           "resume_config", "exit_code", "open_run"]


class RunFolder:
    """``exp/<doc>/``: config, log, metrics, checkpoints. Only the main process writes."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self.log = logging.getLogger(f"mmdiff.run.{self.path.resolve()}")
        self.log.setLevel(logging.INFO)
        self.log.propagate = False
        if enabled:
            self.path.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.path / "log.txt")
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            self.log.handlers = [handler]
        else:
            self.log.handlers = [logging.NullHandler()]

    def close(self) -> None:
        for h in self.log.handlers:
            h.close()
        self.log.handlers = []

    def write_config(self, cfg: Config) -> None:
        if self.enabled:
            save_config(cfg, self.path / "config.yml")

    def append_metrics(self, row: dict) -> None:
        if self.enabled:
            with open(self.path / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    def checkpoint(self, name: str) -> Path:
        return self.path / name


@dataclass
class Position:
    """Where training stands: the next batch to run and the running loss of the epoch."""
    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    loss_count: float = 0.0
    best_p1: float = math.inf
    best_epoch: int = -1

    def next_epoch(self) -> None:
        self.epoch += 1
        self.batch = 0
        self.loss_sum = self.loss_count = 0.0


class StopSignal:
    """A context in which SIGINT / SIGTERM set ``self.signal`` instead of killing the process;
    the training loop saves and stops at the next step boundary. A second Ctrl-C stops at once."""

    def __init__(self):
        self.signal: int | None = None
        self._previous = {}

    def __enter__(self):
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: no signal handling
            self._previous = {}
        return self

    def _handle(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def exit_code(stop_signal: int | None) -> int:
    """The shell's exit status of a run stopped by ``stop_signal``: 128 + its number (130 for
    SIGINT, 143 for SIGTERM); 0 when it was not stopped by a signal."""
    return 128 + int(stop_signal) if stop_signal is not None else 0


def save_state(path: Path, trainer_name: str, model, optimizer, position: Position,
               history: list[dict], cfg: Config, lr_state: dict, ema=None) -> Path:
    """Write a resumable training checkpoint atomically (model, optimiser, EMA, position, RNG)."""
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return save_checkpoint(path, model, optimizer=optimizer, epoch=position.epoch,
                           step=position.step, ema_state=ema.state_dict() if ema else None,
                           config=cfg, scheduler_state=lr_state, rng_state=rng,
                           metrics=history[-1] if history else None,
                           extra={"trainer": trainer_name, "position": vars(position).copy(),
                                  "history": list(history)})


def restore_state(path: Path, trainer_name: str, model, optimizer, ema=None):
    """Load a checkpoint written by :func:`save_state` into model, optimiser and EMA; restore the
    RNG states. Returns (Position, history)."""
    ckpt = read_checkpoint(path)
    meta = ckpt.meta or {}
    if meta.get("trainer") != trainer_name or "position" not in meta:
        raise CheckpointError(f"{path}: not a resumable {trainer_name} training checkpoint "
                              f"(found trainer {meta.get('trainer')!r})")
    model.load_state_dict(ckpt.state_dict)
    optimizer.load_state_dict(ckpt.optimizer_state)
    if ema is not None and ckpt.ema_state:
        ema.load_state_dict(ckpt.ema_state)
    rng = meta.get("rng") or {}
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    return Position(**meta["position"]), list(meta.get("history", []))


def resume_config(cfg: Config, ckpt: Path) -> Config:
    """The stored config rebuilds a resumed run; only the epoch counts may be raised by ``cfg``."""
    stored = Config.from_dict((read_checkpoint(ckpt).meta or {}).get("config", {}), str(ckpt))
    return stored.replace({"train.epochs": max(stored.train.epochs, cfg.train.epochs),
                           "lifter_train.epochs": max(stored.lifter_train.epochs,
                                                      cfg.lifter_train.epochs)})


def open_run(cfg: Config, run_dir, device, resume: bool, default_name: str):
    """Start (or continue) a run: the distributed context, the run folder with its config.yml,
    and on resume the stored config and its checkpoint. Returns (cfg, dist, run, ckpt or None)."""
    dist = Dist.from_env(device)
    run_dir = Path(run_dir) if run_dir is not None else Path("exp") / default_name
    ckpt = run_dir / "ckpt.pth"
    if resume and not ckpt.is_file():
        raise CheckpointError(f"--resume: no checkpoint {ckpt} to continue from")
    if resume:
        cfg = resume_config(cfg, ckpt)
    run = RunFolder(run_dir, enabled=dist.is_main)
    run.write_config(cfg)
    return cfg, dist, run, (ckpt if resume else None)
