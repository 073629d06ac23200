"""Run-time plumbing shared by training, evaluation and the command line: which device, which
random seed, which process of a distributed job.

    device = default_device()            # CUDA when available, else CPU (the one rule)
    seed = derive_seed(cfg.train.seed, epoch, batch, 1)   # a well-mixed seed from counters
    dist = Dist.from_env()               # rank / world size under torchrun, else one process

Seeds. Every random stream of the kit is keyed by integers (seed, epoch, batch, stream, item
index...) through one counter-based hash, SplitMix64 (:func:`mix_keys`): the same keys give the
same stream whatever the batching, the number of workers or processes, or a resume mid-epoch.

Distributed: under ``torchrun`` the training model is wrapped in DistributedDataParallel (gloo on
CPU, NCCL on CUDA), ``train.batch_size`` is the global batch, losses and validation predictions
are reduced across processes, and only rank 0 writes files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as torch_dist
from torch.utils.data import DistributedSampler

from mmdiff.errors import ConfigError

__all__ = ["default_device", "mix_keys", "derive_seed", "Dist", "epoch_batches"]


# ----------------------------------------------------------------------------- devices

def default_device(device=None) -> torch.device:
    """``device`` as a torch.device; None picks CUDA when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ----------------------------------------------------------------------------- seeds

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic): a well-mixed hash."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
        return x ^ (x >> np.uint64(31))


def mix_keys(*keys) -> np.ndarray:
    """Hash integer keys into uint64 words: h = splitmix(... splitmix(splitmix(k0) ^ k1) ... ^ kn).

    Each key is an int or an integer array; arrays broadcast, so ``mix_keys(seed, epoch, index)``
    with ``index`` (B,) gives (B,) independent words in one vectorised pass.
    """
    if not keys:
        raise ConfigError("mix_keys: at least one key is needed")
    h = _splitmix64(np.asarray(keys[0], dtype=np.int64).astype(np.uint64))
    for k in keys[1:]:
        h = _splitmix64(h ^ np.asarray(k, dtype=np.int64).astype(np.uint64))
    return h


def derive_seed(*keys: int) -> int:
    """A 63-bit seed (for ``torch.Generator.manual_seed``) from integer keys, e.g.
    ``(seed, epoch, batch, stream)``."""
    return int(mix_keys(*keys) >> np.uint64(1))


def uniforms(words: np.ndarray, num: int) -> np.ndarray:
    """``num`` uniforms in [0, 1) per hashed word: words (...,) uint64 -> (..., num) float64."""
    draws = _splitmix64(words[..., None] ^ (np.arange(num, dtype=np.uint64) << np.uint64(40)))
    return (draws >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


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
        device = default_device(device)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls(0, 1, device)
        rank = int(os.environ["RANK"])
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        if not torch_dist.is_initialized():
            torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        return cls(rank, world, device)

    @staticmethod
    def close() -> None:
        """Leave the process group, if one was joined: wait for every rank, then destroy it. Exiting
        with gloo's threads still alive can abort a rank ("terminate called without an active
        exception") while its peer is closing its sockets."""
        if torch_dist.is_initialized():
            torch_dist.barrier()
            torch_dist.destroy_process_group()

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

    def rows(self, t):
        """This process's rows of something drawn for the whole global batch (``t[rank::world]``)."""
        return t[self.rank::self.world]

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
