"""Training loops: the GraFormer lifter and the diffusion denoiser, resumable and distributed.

    fit_lifter(cfg, "exp/demo_lifter")    # MPJPE on root-relative 3D
    fit(cfg, "exp/demo")                  # noise prediction (the denoiser), lifter from cfg.lifter

Both keep everything of a run in one folder (``exp/<doc>/``): the resolved ``config.yml``, a
``log.txt``, ``metrics.jsonl`` (one line per epoch), ``ckpt_<epoch>.pth``, ``ckpt.pth`` (the latest,
also written mid-epoch on SIGINT/SIGTERM) and ``best.pth`` (lowest validation MPJPE; the latest
epoch when validation is off).

Exact repeatability. All randomness is derived from ``(train.seed, epoch, batch)``:
- data order: ``DistributedSampler(seed, epoch)`` (also with one process);
- per-item flip / GMM kernel: the dataset's own ``(seed, epoch, index)`` rule;
- noise and timesteps: drawn for the whole *global* batch from a generator seeded per batch, each
  process taking its rows, so N processes draw what one process would;
- dropout: the global torch RNG, reseeded before every step from ``(seed, epoch, batch, rank)``.
So a run resumed from a mid-epoch checkpoint ends with the same weights as an uninterrupted one,
and a 2-process run with dropout 0 matches a 1-process run with the same global batch.

Distributed: under ``torchrun`` the environment names the rank; the model is wrapped in
DistributedDataParallel (gloo on CPU, NCCL on CUDA), ``train.batch_size`` is the global batch,
losses and validation predictions are reduced across processes, and only rank 0 writes files.
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as torch_dist
from torch.utils.data import DataLoader, DistributedSampler

from mmdiff.config import Config, save_config
from mmdiff.errors import CheckpointError, ConfigError

Callback = Callable[[dict], Any]


# ----------------------------------------------------------------------------- seeds, devices

def derive_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from integer keys, e.g. ``(seed, epoch, batch, stream)``."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0] >> 1)


def default_device(device=None) -> torch.device:
    """``device`` as a torch.device; None picks CUDA when available, else CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ----------------------------------------------------------------------------- distributed

@dataclass
class Dist:
    """This process's place in a (possibly 1-process) job."""
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls, device=None) -> "Dist":
        """Join the process group when started by torchrun (WORLD_SIZE > 1), else a single process.
        gloo on CPU, NCCL on CUDA (each rank takes cuda:LOCAL_RANK)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(0, 1, default_device(device))
        rank = int(os.environ["RANK"])
        device = default_device(device)
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not torch_dist.is_initialized():
            torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(rank, world, device)

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of a few numbers over all processes."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch_dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """True on every process when it is True on any (used to stop together)."""
        return bool(self.sum([float(flag)])[0] > 0) if self.active else flag

    def gather_rows(self, rows: np.ndarray, total: int) -> np.ndarray:
        """Re-assemble an array sharded as ``full[rank::world]`` into ``full`` (every process)."""
        if not self.active:
            return rows
        parts = [None] * self.world
        torch_dist.all_gather_object(parts, rows)
        full = np.empty((total,) + rows.shape[1:], dtype=rows.dtype)
        for r, part in enumerate(parts):
            full[r::self.world] = part
        return full


def epoch_batches(num_items: int, batch_size: int, epoch: int, seed: int, dist: Dist) -> list[list[int]]:
    """This process's batches of one epoch, as lists of dataset indices.

    The order is ``DistributedSampler``'s (a permutation seeded by ``seed + epoch``), with the
    global ``batch_size`` split evenly over the processes: the union over ranks of batch k equals
    batch k of a single-process run, and rank r holds its positions ``r::world``.
    """
    if batch_size % dist.world:
        raise ConfigError(f"batch_size {batch_size} is not divisible by {dist.world} processes")
    sampler = DistributedSampler(range(num_items), num_replicas=dist.world, rank=dist.rank,
                                 shuffle=True, seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    indices = list(sampler)
    local = batch_size // dist.world
    return [indices[i:i + local] for i in range(0, len(indices), local)]


# ----------------------------------------------------------------------------- EMA, lr

class EMA:
    """Exponential moving average of a model's parameters (as the reference keeps it: a dict
    name -> tensor, updated ``shadow = rate * shadow + (1 - rate) * param`` every step; frozen
    parameters are kept too, so the EMA state has every key of the released layout)."""

    def __init__(self, model: torch.nn.Module, rate: float):
        self.rate = rate
        self.shadow = {n: p.detach().clone() for n, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
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


def step_lr(lr0: float, gamma: float, every: int, epoch: int) -> float:
    """Step decay: ``lr0 * gamma ** (epoch // every)`` (every <= 0: constant)."""
    return lr0 * gamma ** (epoch // every) if every > 0 else lr0


def make_optimizer(params, name: str, lr: float, weight_decay=0.0, amsgrad=False, eps=1e-8):
    """Adam (the paper's), AdamW or SGD with momentum 0.9."""
    if name == "Adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, amsgrad=amsgrad, eps=eps)
    if name == "AdamW":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, amsgrad=amsgrad, eps=eps)
    if name == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ConfigError(f"optim.optimizer: expected Adam, AdamW or SGD, found {name!r}")


# ----------------------------------------------------------------------------- models, data

def build_lifter(cfg: Config) -> torch.nn.Module:
    """A fresh GraFormer with ``cfg.lifter``'s size."""
    from mmdiff.models.graformer import GraFormer, GraFormerConfig
    c = cfg.lifter
    return GraFormer(GraFormerConfig(hid_dim=c.hid_dim, num_layers=c.num_layers, n_head=c.n_head,
                                     dropout=c.dropout, attn_dropout=c.attn_dropout,
                                     gconv_dropout=c.gconv_dropout))


def build_denoiser(cfg: Config) -> torch.nn.Module:
    """A fresh MMDiff (or DiffPose, ``model.kind``) denoiser with ``cfg.model``'s size."""
    from mmdiff.models.mmdiff import DenoiserConfig, MMDiffDenoiser
    m = cfg.model
    dcfg = DenoiserConfig(hid_dim=m.hid_dim, emd_dim=m.emd_dim, num_layers=m.num_layers,
                          n_head=m.n_head, dropout=m.dropout, cross_links=m.cross_links,
                          attn_dropout=m.attn_dropout, gconv_dropout=m.gconv_dropout)
    if m.kind == "mmdiff":
        return MMDiffDenoiser(dcfg)
    if m.kind == "diffpose":
        from mmdiff.models.diffpose import DiffPoseDenoiser
        return DiffPoseDenoiser(dcfg)
    raise ConfigError(f"model.kind: expected 'mmdiff' or 'diffpose', found {m.kind!r}")


def make_schedule(cfg: Config):
    """The training beta schedule of ``cfg.diffusion``."""
    from mmdiff.diffusion import BetaSchedule
    d = cfg.diffusion
    return BetaSchedule.make(d.beta_schedule, d.beta_start, d.beta_end, d.num_steps)


def load_split(cfg: Config, split: str):
    """PoseSamples of the train or test subjects of ``cfg.data`` (test uses ``test_stride``)."""
    from mmdiff.data.dataset import load_samples
    d = cfg.data
    subjects = d.train_subjects if split == "train" else d.test_subjects
    stride = d.train_stride if split == "train" else d.test_stride
    return load_samples(d.path_3d, d.path_2d, subjects, actions=d.actions or None, stride=stride)


# ----------------------------------------------------------------------------- run folder

class RunFolder:
    """``exp/<doc>/``: config, log, metrics, checkpoints. Only the main process writes."""

    def __init__(self, path: str | Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self.log = logging.getLogger(f"mmdiff.train.{self.path.name}")
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


# ----------------------------------------------------------------------------- the loop

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


@dataclass
class FitResult:
    """What a call of :func:`fit` / :func:`fit_lifter` returns."""
    model: torch.nn.Module  # the trained module (EMA weights when EMA is on), eval mode
    run_dir: Path
    history: list[dict]  # one row per epoch: epoch, loss, lr, p1, p2 (mm), seconds
    best_p1: float  # mm, inf when never validated
    best_epoch: int
    interrupted: bool  # stopped by a signal or max_steps before the last epoch ended
    position: Position


class _StopFlag:
    """SIGINT / SIGTERM set a flag; the loop saves and stops at the next step boundary."""

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
        if self.signal is not None and signum == signal.SIGINT:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class Trainer:
    """One training job: a model, its optimiser, EMA, lr schedule and the loop over epochs.

    step_fn(model, batch, generator, dist) -> scalar loss of this process's rows of the batch.
    validate_fn(model) -> dict with 'p1', 'p2' (mm) and 'table', or None.
    """

    def __init__(self, cfg: Config, kind: str, model: torch.nn.Module, run: RunFolder, dist: Dist,
                 *, epochs: int, batch_size: int, lr: float, lr_gamma: float, lr_every: int,
                 grad_clip: float, optimizer: torch.optim.Optimizer, ema: EMA | None,
                 step_fn, validate_fn, train_set, on_step: Callback | None = None,
                 on_epoch: Callback | None = None, progress: bool = True):
        self.cfg, self.kind, self.model, self.run, self.dist = cfg, kind, model, run, dist
        self.epochs, self.batch_size = epochs, batch_size
        self.lr, self.lr_gamma, self.lr_every, self.grad_clip = lr, lr_gamma, lr_every, grad_clip
        self.optimizer, self.ema = optimizer, ema
        self.step_fn, self.validate_fn, self.train_set = step_fn, validate_fn, train_set
        self.on_step, self.on_epoch, self.progress = on_step, on_epoch, progress
        self.seed = cfg.train.seed
        self.pos = Position()
        self.history: list[dict] = []
        # the released layout's unused heads are frozen (requires_grad False), so DDP skips them
        self.ddp = (torch.nn.parallel.DistributedDataParallel(model) if dist.active else model)

    # -- checkpoints --------------------------------------------------------------------------
    def save(self, name: str) -> None:
        """Write a resumable checkpoint (released list layout + meta) atomically; main process."""
        if not self.run.enabled:
            return
        from mmdiff.checkpoints import save_checkpoint
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        scheduler = {"kind": "step", "lr0": self.lr, "gamma": self.lr_gamma,
                     "every": self.lr_every, "epoch": self.pos.epoch}
        save_checkpoint(self.run.checkpoint(name), self.model, optimizer=self.optimizer,
                        epoch=self.pos.epoch, step=self.pos.step,
                        ema_state=self.ema.state_dict() if self.ema is not None else None,
                        config=self.cfg, scheduler_state=scheduler, rng_state=rng,
                        metrics=self.history[-1] if self.history else None,
                        extra={"trainer": self.kind, "position": vars(self.pos).copy(),
                               "history": list(self.history)})

    def restore(self, path: Path) -> None:
        """Continue from a checkpoint written by :meth:`save`."""
        from mmdiff.checkpoints import read_checkpoint
        ckpt = read_checkpoint(path)
        meta = ckpt.meta or {}
        if meta.get("trainer") != self.kind or "position" not in meta:
            raise CheckpointError(f"{path}: not a resumable {self.kind} training checkpoint "
                                  f"(found trainer {meta.get('trainer')!r})")
        self.model.load_state_dict(ckpt.state_dict)
        self.optimizer.load_state_dict(ckpt.optimizer_state)
        if self.ema is not None and ckpt.ema_state:
            self.ema.load_state_dict(ckpt.ema_state)
        self.pos = Position(**meta["position"])
        self.history = list(meta.get("history", []))
        rng = meta.get("rng") or {}
        if "torch" in rng:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    # -- one epoch ----------------------------------------------------------------------------
    def _loader(self, batches: list[list[int]]) -> Iterator[dict]:
        return iter(DataLoader(self.train_set, batch_sampler=batches,
                               num_workers=self.cfg.data.num_workers))

    def _train_step(self, batch: dict, batch_index: int) -> float:
        epoch = self.pos.epoch
        torch.manual_seed(derive_seed(self.seed, epoch, batch_index, 1, self.dist.rank))  # dropout
        generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch, batch_index, 2))
        batch = {k: v.to(self.dist.device) if torch.is_tensor(v) else v for k, v in batch.items()}
        self.ddp.train()
        loss = self.step_fn(self.ddp, batch, generator, self.dist)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return float(loss.detach())

    def _run_epoch(self, stop: _StopFlag, max_steps: int | None) -> bool:
        """Train the rest of the current epoch. Returns False when stopped early."""
        from tqdm.auto import tqdm
        epoch = self.pos.epoch
        lr = step_lr(self.lr, self.lr_gamma, self.lr_every, epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        batches = epoch_batches(len(self.train_set), self.batch_size, epoch, self.seed, self.dist)
        start = self.pos.batch
        bar = tqdm(total=len(batches), initial=start, desc=f"{self.kind} epoch {epoch}",
                   disable=not (self.progress and self.dist.is_main), leave=False, dynamic_ncols=True)
        try:
            for i, batch in enumerate(self._loader(batches[start:]), start=start):
                n = len(batches[i])
                loss = self._train_step(batch, i)
                self.pos.batch, self.pos.step = i + 1, self.pos.step + 1
                self.pos.loss_sum += loss * n
                self.pos.loss_count += n
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if self.on_step is not None and self.dist.is_main:
                    self.on_step({"epoch": epoch, "batch": i, "step": self.pos.step, "loss": loss,
                                  "lr": lr})
                if self.pos.step % max(self.cfg.train.log_every, 1) == 0:
                    self.run.log.info(f"{self.kind} epoch {epoch} batch {i + 1}/{len(batches)} "
                                      f"step {self.pos.step} loss {loss:.6f} lr {lr:.3g}")
                budget_spent = max_steps is not None and self.pos.step >= max_steps
                if self.dist.any(stop.signal is not None or budget_spent) and i + 1 < len(batches):
                    return False
        finally:
            bar.close()
        return True

    def _end_epoch(self, seconds: float) -> dict:
        epoch = self.pos.epoch
        total, count = self.dist.sum([self.pos.loss_sum, self.pos.loss_count])
        row = {"epoch": epoch, "step": self.pos.step, "loss": total / max(count, 1),
               "lr": step_lr(self.lr, self.lr_gamma, self.lr_every, epoch),
               "seconds": round(seconds, 3), "poses_per_s": round(count / max(seconds, 1e-9), 1)}
        every = self.cfg.train.validate_every
        if self.validate_fn is not None and every > 0 and (epoch + 1) % every == 0:
            result = self.validate_fn(self.eval_model())
            row.update(p1=result["p1"], p2=result["p2"])
            if self.dist.is_main:
                self.run.log.info(f"{self.kind} epoch {epoch} validation\n{result['table']}")
        self.history.append(row)
        return row

    def eval_model(self) -> torch.nn.Module:
        """The weights to validate: the EMA copy when EMA is on and eval.use_ema, else the model."""
        import copy
        if self.ema is None or not self.cfg.eval.use_ema:
            return self.model
        return self.ema.copy_to(copy.deepcopy(self.model))

    # -- the loop -----------------------------------------------------------------------------
    def fit(self, max_steps: int | None = None) -> FitResult:
        """Train from ``self.pos`` to ``epochs``; checkpoint every epoch and on a stop signal."""
        interrupted = False
        with _StopFlag() as stop:
            while self.pos.epoch < self.epochs:
                t0 = time.perf_counter()
                if not self._run_epoch(stop, max_steps):
                    interrupted = True
                    self.save("ckpt.pth")
                    why = f"signal {stop.signal}" if stop.signal is not None else "max_steps"
                    self.run.log.info(f"stopped ({why}) at epoch {self.pos.epoch} batch "
                                      f"{self.pos.batch}, step {self.pos.step}: saved ckpt.pth")
                    break
                row = self._end_epoch(time.perf_counter() - t0)
                improved = "p1" in row and row["p1"] < self.pos.best_p1
                if improved:
                    self.pos.best_p1, self.pos.best_epoch = row["p1"], row["epoch"]
                best = self.pos.best_p1 if math.isfinite(self.pos.best_p1) else None
                row.update(best_p1=best, best_epoch=self.pos.best_epoch)
                self.run.append_metrics(row)
                self.run.log.info(json.dumps(row))
                self._advance_epoch()
                # without any validation, best.pth follows the latest epoch
                self._save_epoch(row["epoch"], improved or self.validate_fn is None
                                 or self.cfg.train.validate_every <= 0)
                if self.on_epoch is not None and self.dist.is_main:
                    self.on_epoch(dict(row))
                if stop.signal is not None or (max_steps is not None and self.pos.step >= max_steps):
                    interrupted = self.pos.epoch < self.epochs
                    break
        self.model.eval()
        return FitResult(self.eval_model().eval(), self.run.path, list(self.history),
                         self.pos.best_p1, self.pos.best_epoch, interrupted, self.pos)

    def _advance_epoch(self) -> None:
        self.pos.epoch += 1
        self.pos.batch = 0
        self.pos.loss_sum = self.pos.loss_count = 0.0

    def _save_epoch(self, finished: int, improved: bool) -> None:
        every = self.cfg.train.keep_every
        if every > 0 and (finished + 1) % every == 0:
            self.save(f"ckpt_{finished}.pth")
        self.save("ckpt.pth")
        if improved:
            self.save("best.pth")


# ----------------------------------------------------------------------------- loss functions

def global_rows(t: torch.Tensor, dist: Dist) -> torch.Tensor:
    """This process's rows of a tensor drawn for the whole global batch (``t[rank::world]``)."""
    return t[dist.rank::dist.world]


def lifter_step(model, batch: dict, generator: torch.Generator, dist: Dist) -> torch.Tensor:
    """MPJPE (metres) between the root-centred prediction and the root-relative target."""
    pred = model(batch["pose_2d"])  # (B, 17, 3)
    pred = pred - pred[:, :1]  # (B, 17, 3) root-relative
    return (pred - batch["pose_3d"]).norm(dim=-1).mean()


def make_denoiser_step(cfg: Config, schedule):
    """The denoiser's loss: || eps - eps_theta(x_t, 2D, t) ||^2 summed over joints and channels,
    averaged over the batch (the reference's loss), with x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps.

    x_0 = uvxyz (B, 17, 5): normalised 2D and root-relative 3D in metres. eps is Gaussian scaled
    per channel by ``diffusion.noise_scale`` or, with ``diffusion.noise == "gmm"``, scaled on u, v
    by the spread of the GMM kernel the dataset drew for each joint (DiffPose).
    """
    from mmdiff.diffusion import antithetic_timesteps
    d = cfg.diffusion
    if d.noise not in ("scale", "gmm"):
        raise ConfigError(f"diffusion.noise: expected 'scale' or 'gmm', found {d.noise!r}")
    if d.noise == "gmm" and not cfg.data.sample_gmm:
        raise ConfigError("diffusion.noise: 'gmm' scales u, v by the spread of a drawn GMM kernel; "
                          "set data.sample_gmm: true (and use a *_gmm.npz 2D file)")
    if len(d.noise_scale) != 5:
        raise ConfigError(f"diffusion.noise_scale: expected 5 values (u, v, x, y, z), "
                          f"found {len(d.noise_scale)}")
    scale = torch.tensor(d.noise_scale, dtype=torch.float32)
    num_steps = d.train_steps or d.num_steps  # timesteps drawn in [0, num_steps)
    if not 0 < num_steps <= d.num_steps:
        raise ConfigError(f"diffusion.train_steps: expected 0 or 1..{d.num_steps}, "
                          f"found {d.train_steps}")

    def step(model, batch: dict, generator: torch.Generator, dist: Dist) -> torch.Tensor:
        pose_2d, pose_3d = batch["pose_2d"], batch["pose_3d"]  # (B, 17, 2), (B, 17, 3)
        device = pose_2d.device
        rows = pose_2d.shape[0] * dist.world  # global batch
        if cfg.train.antithetic:
            t = antithetic_timesteps(rows, num_steps, generator)
        else:
            t = torch.randint(0, num_steps, (rows,), generator=generator)
        eps = torch.randn((rows,) + pose_2d.shape[1:-1] + (5,), generator=generator)  # (G, 17, 5)
        t = global_rows(t, dist).to(device)  # (B,)
        eps = global_rows(eps, dist).to(device)  # (B, 17, 5)
        if d.noise == "gmm":
            per_joint = torch.cat([batch["spread_2d"], scale[2:].to(device).expand_as(pose_3d)], -1)
            eps = eps * per_joint  # (B, 17, 5)
        else:
            eps = eps * scale.to(device)
        x0 = torch.cat([pose_2d, pose_3d], dim=-1)  # (B, 17, 5) uvxyz
        x_t = schedule.q_sample(x0, t, eps)
        eps_hat = model(x_t, pose_2d, t)
        return (eps - eps_hat).square().sum(dim=(1, 2)).mean()

    return step


# ----------------------------------------------------------------------------- public API

def _prepare(cfg: Config, run_dir, device, resume: bool, kind: str):
    """Distributed context, run folder and (on resume) the stored config."""
    dist = Dist.from_env(device)
    run_dir = Path(run_dir) if run_dir is not None else Path("exp") / kind
    ckpt = run_dir / "ckpt.pth"
    if resume and ckpt.is_file():
        cfg = _resume_config(cfg, ckpt)
    elif resume:
        raise CheckpointError(f"--resume: no checkpoint {ckpt} to continue from")
    run = RunFolder(run_dir, enabled=dist.is_main)
    run.write_config(cfg)
    return cfg, dist, run, (ckpt if resume else None)


def _resume_config(cfg: Config, ckpt: Path) -> Config:
    """The stored config rebuilds the run; only the epoch counts may be raised by ``cfg``."""
    from mmdiff.checkpoints import read_checkpoint
    stored = Config.from_dict((read_checkpoint(ckpt).meta or {}).get("config", {}), str(ckpt))
    return stored.replace({"train.epochs": max(stored.train.epochs, cfg.train.epochs),
                           "lifter_train.epochs": max(stored.lifter_train.epochs,
                                                      cfg.lifter_train.epochs)})


def _dataset(cfg: Config, samples, seed: int):
    from mmdiff.data.dataset import PoseDataset
    return PoseDataset(samples, flip=cfg.data.flip_aug, sample_gmm=cfg.data.sample_gmm, seed=seed)


def _run(trainer: "Trainer", run, ckpt, max_steps: int | None) -> FitResult:
    """Restore ``ckpt`` when resuming, train, and close the run's log whatever happens."""
    if ckpt is not None:
        trainer.restore(ckpt)
    try:
        return trainer.fit(max_steps)
    finally:
        run.close()


def fit_lifter(cfg: Config, run_dir: str | Path | None = None, *, resume: bool = False,
               device=None, train_samples=None, test_samples=None, on_step: Callback | None = None,
               on_epoch: Callback | None = None, progress: bool = True,
               max_steps: int | None = None) -> FitResult:
    """Train the GraFormer lifter on ``cfg.data`` with ``cfg.lifter`` / ``cfg.lifter_train``.

    Loss: MPJPE (metres) on root-relative 3D. Validation each epoch: per-action P1/P2 (mm) of the
    lifter alone on the test subjects. Files go to ``run_dir`` (default ``exp/lifter``).
    ``train_samples`` / ``test_samples`` (PoseSamples) replace the files named by ``cfg.data``.
    ``max_steps`` stops (and checkpoints) after that many optimiser steps in total.
    """
    from mmdiff.evaluate import validate
    cfg, dist, run, ckpt = _prepare(cfg, run_dir, device, resume, "lifter")
    torch.manual_seed(cfg.train.seed)
    model = build_lifter(cfg).to(dist.device)
    lt = cfg.lifter_train
    train_samples = train_samples if train_samples is not None else load_split(cfg, "train")
    test_samples = test_samples if test_samples is not None else load_split(cfg, "test")
    trainer = Trainer(
        cfg, "lifter", model, run, dist, epochs=lt.epochs, batch_size=lt.batch_size, lr=lt.lr,
        lr_gamma=lt.lr_gamma, lr_every=lt.lr_decay_every, grad_clip=lt.grad_clip,
        optimizer=make_optimizer(model.parameters(), "Adam", lt.lr), ema=None,
        step_fn=lifter_step, train_set=_dataset(cfg, train_samples, cfg.train.seed),
        validate_fn=lambda m: validate(cfg, m, None, test_samples, dist, progress=progress),
        on_step=on_step, on_epoch=on_epoch, progress=progress)
    return _run(trainer, run, ckpt, max_steps)


def fit(cfg: Config, run_dir: str | Path | None = None, *, resume: bool = False, device=None,
        lifter: torch.nn.Module | None = None, train_samples=None, test_samples=None,
        on_step: Callback | None = None, on_epoch: Callback | None = None,
        progress: bool = True, max_steps: int | None = None) -> FitResult:
    """Train the diffusion denoiser (``cfg.model``) on ``cfg.data`` with ``cfg.train`` / ``cfg.optim``.

    The lifter used for validation (lifter -> DDIM -> flip TTA, ``cfg.eval``) is ``lifter`` or
    the checkpoint ``cfg.lifter.checkpoint``; without either, validation is skipped. Files go to
    ``run_dir`` (default ``exp/mmdiff``); ``resume=True`` continues from ``run_dir/ckpt.pth``.
    on_step(dict(epoch, batch, step, loss, lr)) and on_epoch(dict(epoch, loss, p1, p2, ...)) are
    called on the main process (e.g. a live loss plot in a notebook).
    Returns a FitResult whose ``model`` holds the EMA weights when EMA is on.
    """
    from mmdiff.evaluate import validate
    cfg, dist, run, ckpt = _prepare(cfg, run_dir, device, resume, "mmdiff")
    torch.manual_seed(cfg.train.seed)
    model = build_denoiser(cfg).to(dist.device)
    if lifter is None and cfg.lifter.checkpoint and Path(cfg.lifter.checkpoint).is_file():
        from mmdiff.checkpoints import load_lifter
        lifter = load_lifter(cfg.lifter.checkpoint, device=dist.device)
    if lifter is not None:
        lifter = lifter.to(dist.device).eval()
    else:
        run.log.info(f"no lifter at {cfg.lifter.checkpoint!r}: validation is skipped")
    train_samples = train_samples if train_samples is not None else load_split(cfg, "train")
    if lifter is not None and test_samples is None:
        test_samples = load_split(cfg, "test")
    o = cfg.optim
    validate_fn = None
    if lifter is not None:
        validate_fn = lambda m: validate(cfg, lifter, m, test_samples, dist, progress=progress)  # noqa: E731
    trainer = Trainer(
        cfg, "denoiser", model, run, dist, epochs=cfg.train.epochs, batch_size=cfg.train.batch_size,
        lr=o.lr, lr_gamma=o.lr_gamma, lr_every=o.lr_decay_every, grad_clip=o.grad_clip,
        optimizer=make_optimizer(model.parameters(), o.optimizer, o.lr, o.weight_decay,
                                 o.amsgrad, o.eps),
        ema=EMA(model, cfg.train.ema_rate) if cfg.train.ema else None,
        step_fn=make_denoiser_step(cfg, make_schedule(cfg)),
        train_set=_dataset(cfg, train_samples, cfg.train.seed), validate_fn=validate_fn,
        on_step=on_step, on_epoch=on_epoch, progress=progress)
    return _run(trainer, run, ckpt, max_steps)
