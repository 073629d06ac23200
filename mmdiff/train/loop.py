"""The training loop both models share: one :class:`Stage` (model, loss, optimiser, lr, EMA),
its data and validation, epochs of seeded batches, checkpoints every epoch and on a stop signal.

    trainer = Trainer(cfg, Stage("denoiser", model, loss, optimizer, ...), train_set, validate,
                      run, dist)
    result = trainer.fit()                                  # FitResult

The losses are pure functions of (model, batch). A stage that needs random inputs (the denoiser's
t and eps) carries a draw function: the loop draws them for the *global* batch from a generator
seeded per batch and puts this process's rows into the batch before calling the loss.

The losses and the entry points (``fit``, ``fit_lifter``) are in :mod:`mmdiff.train`; run folders
and resume in :mod:`mmdiff.train.runs`; seeds and processes in :mod:`mmdiff.engine.runtime`;
``train.precision`` (forward passes under autocast, the step in float32) in
:mod:`mmdiff.engine.precision`.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import DataLoader

from mmdiff.config import Config
from mmdiff.data.dataset import PoseDataset
from mmdiff.engine.precision import autocast, check_precision, make_scaler, optimizer_step
from mmdiff.engine.runtime import Dist, derive_seed, epoch_batches
from mmdiff.train.ema import EMA
from mmdiff.train.optim import StepDecay
from mmdiff.train.runs import Position, RunFolder, StopSignal, restore_state, save_state

Callback = Callable[[dict], Any]
LossFn = Callable[[torch.nn.Module, dict], torch.Tensor]          # loss(model, batch) -> scalar
DrawFn = Callable[[torch.Generator, int, dict], dict[str, torch.Tensor]]
#        draw(generator, rows, batch) -> {name: (rows, ...)} for the global batch of ``rows`` rows
#        (``batch``, this process's rows, gives the per-row shapes)


@dataclass
class Stage:
    """What differs between the lifter's and the denoiser's training."""
    name: str                                 # "lifter" or "denoiser" (stored in checkpoints)
    model: torch.nn.Module
    loss: LossFn
    optimizer: torch.optim.Optimizer
    epochs: int
    batch_size: int                           # global batch
    lr: StepDecay                             # learning rate per epoch
    grad_clip: float                          # max gradient norm (0 = off)
    ema: EMA | None = None
    draw: DrawFn | None = None                # the loss's random inputs (None: it has none)


@dataclass
class Hooks:
    """Called on the main process: on_step(dict(epoch, batch, step, loss, lr)), on_epoch(row)."""
    on_step: Callback | None = None
    on_epoch: Callback | None = None
    progress: bool = True                     # tqdm bars


@dataclass
class FitResult:
    """What :func:`fit` / :func:`fit_lifter` return."""
    model: torch.nn.Module          # the trained module (EMA weights when EMA is on), eval mode
    run_dir: Path
    history: list[dict]             # one row per epoch: epoch, loss, lr, p1, p2 (mm), seconds
    best_p1: float                  # mm, inf when never validated
    best_epoch: int
    interrupted: bool               # stopped by a signal or max_steps before the last epoch
    position: Position
    stop_signal: int | None = None  # the signal that stopped the run (SIGINT 2, SIGTERM 15)


@dataclass
class Trainer:
    """One training job: a :class:`Stage`, its data and validation, and the loop over epochs.

    validate(model) -> dict with 'p1', 'p2' (mm) and 'table', or None to skip validation.
    """
    cfg: Config
    stage: Stage
    train_set: PoseDataset
    validate: Callable[[torch.nn.Module], dict] | None
    run: RunFolder
    dist: Dist
    hooks: Hooks = field(default_factory=Hooks)
    pos: Position = field(default_factory=Position)
    history: list[dict] = field(default_factory=list)

    def __post_init__(self):
        model = self.stage.model   # the released layout's unused heads are frozen: DDP skips them
        self.ddp = torch.nn.parallel.DistributedDataParallel(model) if self.dist.active else model
        self.precision = check_precision(self.cfg.train.precision, self.dist.device,
                                         "train.precision")
        self.scaler = make_scaler(self.dist.device, self.precision)   # fp16 only (not saved)

    def fit(self, max_steps: int | None = None) -> FitResult:
        """Train from ``self.pos`` to the last epoch; checkpoint every epoch and on a stop signal.
        ``max_steps`` stops (and checkpoints) after that many optimiser steps in total."""
        with StopSignal() as stop:
            while self.pos.epoch < self.stage.epochs:
                t0 = time.perf_counter()
                finished = self.train_epoch(stop, max_steps)
                if finished:
                    self.end_epoch(time.perf_counter() - t0)     # saves ckpt.pth
                else:
                    self.save("ckpt.pth")                        # stopped mid-epoch
                budget_spent = max_steps is not None and self.pos.step >= max_steps
                if stop.signal is not None or budget_spent:
                    why = f"signal {stop.signal}" if stop.signal is not None else "max_steps"
                    self.run.log.info(f"stopped ({why}) at epoch {self.pos.epoch} batch "
                                      f"{self.pos.batch}, step {self.pos.step}: saved ckpt.pth")
                    break
        self.stage.model.eval()
        return FitResult(self.eval_model().eval(), self.run.path, list(self.history),
                         self.pos.best_p1, self.pos.best_epoch,
                         interrupted=self.pos.epoch < self.stage.epochs, position=self.pos,
                         stop_signal=stop.signal)

    def train_epoch(self, stop: StopSignal, max_steps: int | None) -> bool:
        """Train the rest of the current epoch. Returns False when stopped early."""
        from tqdm.auto import tqdm
        epoch, s = self.pos.epoch, self.stage
        lr = s.lr.at(epoch)
        for group in s.optimizer.param_groups:
            group["lr"] = lr
        self.train_set.set_epoch(epoch)
        batches = epoch_batches(len(self.train_set), s.batch_size, epoch, self.cfg.train.seed,
                                self.dist)
        bar = tqdm(total=len(batches), initial=self.pos.batch, desc=f"{s.name} epoch {epoch}",
                   disable=not (self.hooks.progress and self.dist.is_main), leave=False)
        loader = DataLoader(self.train_set, batch_sampler=batches[self.pos.batch:],
                            num_workers=self.cfg.data.num_workers)
        try:
            for i, batch in enumerate(loader, start=self.pos.batch):
                loss = self.train_step(batch, i)
                self.pos.batch, self.pos.step = i + 1, self.pos.step + 1
                self.pos.loss_sum += loss * len(batches[i])
                self.pos.loss_count += len(batches[i])
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                self._report_step(epoch, i, len(batches), loss, lr)
                budget_spent = max_steps is not None and self.pos.step >= max_steps
                if self.dist.any(stop.signal is not None or budget_spent) and i + 1 < len(batches):
                    return False
        finally:
            bar.close()
        return True

    def train_step(self, batch: dict, batch_index: int) -> float:
        """One optimiser step on this process's rows of global batch ``batch_index``."""
        seed, epoch, s = self.cfg.train.seed, self.pos.epoch, self.stage
        torch.manual_seed(derive_seed(seed, epoch, batch_index, 1, self.dist.rank))  # dropout
        generator = torch.Generator().manual_seed(derive_seed(seed, epoch, batch_index, 2))
        batch = {k: v.to(self.dist.device) for k, v in batch.items()}
        if s.draw is not None:     # drawn for the global batch, so N processes draw what one does
            rows = len(next(iter(batch.values()))) * self.dist.world
            drawn = s.draw(generator, rows, batch)
            batch.update({k: self.dist.rows(v).to(self.dist.device) for k, v in drawn.items()})
        self.ddp.train()
        with autocast(self.dist.device, self.precision):                # fp32: no autocast
            loss = s.loss(self.ddp, batch).float()
        optimizer_step(loss, s.optimizer, s.model.parameters(), s.grad_clip, self.scaler)
        if s.ema is not None:
            s.ema.update(s.model)
        return float(loss.detach())

    def _report_step(self, epoch: int, i: int, num_batches: int, loss: float, lr: float) -> None:
        if self.hooks.on_step is not None and self.dist.is_main:
            self.hooks.on_step({"epoch": epoch, "batch": i, "step": self.pos.step, "loss": loss,
                                "lr": lr})
        if self.pos.step % max(self.cfg.train.log_every, 1) == 0:
            self.run.log.info(f"{self.stage.name} epoch {epoch} batch {i + 1}/{num_batches} "
                              f"step {self.pos.step} loss {loss:.6f} lr {lr:.3g}")

    def end_epoch(self, seconds: float) -> None:
        """Validate, log the epoch's row, advance, and write the epoch's checkpoints."""
        epoch = self.pos.epoch
        total, count = self.dist.sum([self.pos.loss_sum, self.pos.loss_count])
        row = {"epoch": epoch, "step": self.pos.step, "loss": total / max(count, 1),
               "lr": self.stage.lr.at(epoch), "seconds": round(seconds, 3),
               "poses_per_s": round(count / max(seconds, 1e-9), 1)}
        every = self.cfg.train.validate_every
        validating = self.validate is not None and every > 0
        if validating and (epoch + 1) % every == 0:
            result = self.validate(self.eval_model())
            row.update(p1=result["p1"], p2=result["p2"])
            if self.dist.is_main:
                self.run.log.info(f"{self.stage.name} epoch {epoch} validation\n{result['table']}")
        improved = "p1" in row and row["p1"] < self.pos.best_p1
        if improved:
            self.pos.best_p1, self.pos.best_epoch = row["p1"], epoch
        row.update(best_p1=self.pos.best_p1 if math.isfinite(self.pos.best_p1) else None,
                   best_epoch=self.pos.best_epoch)
        self.history.append(row)
        self.run.append_metrics(row)
        self.run.log.info(json.dumps(row))
        self.pos.next_epoch()
        keep = self.cfg.train.keep_every
        if keep > 0 and (epoch + 1) % keep == 0:
            self.save(f"ckpt_{epoch}.pth")
        self.save("ckpt.pth")
        if improved or not validating:       # without validation best.pth follows the latest
            self.save("best.pth")
        if self.hooks.on_epoch is not None and self.dist.is_main:
            self.hooks.on_epoch(dict(row))

    def eval_model(self) -> torch.nn.Module:
        """The weights to validate: the EMA copy when EMA is on and eval.use_ema, else the model."""
        s = self.stage
        if s.ema is None or not self.cfg.eval.use_ema:
            return s.model
        return s.ema.copy_to(copy.deepcopy(s.model))

    def save(self, name: str) -> None:
        """A resumable checkpoint in the run folder (main process only)."""
        if self.run.enabled:
            s = self.stage
            save_state(self.run.checkpoint(name), s.name, s.model, s.optimizer, self.pos,
                       self.history, self.cfg, {**s.lr.state(), "epoch": self.pos.epoch}, s.ema)

    def restore(self, path: Path) -> None:
        """Continue from a checkpoint written by :meth:`save`."""
        s = self.stage
        self.pos, self.history = restore_state(path, s.name, s.model, s.optimizer, s.ema)
