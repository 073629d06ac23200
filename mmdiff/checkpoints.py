"""Checkpoint files: read the released ones, write our own in the same layout.

File layout (a list, as the reference code saves it; read with ``torch.load(weights_only=True)``)::

    [state_dict, optimizer_state, epoch, step, ema_state, meta]
     0           1                2      3     4          5

* Released MMDiff denoisers (``ckpt_cpn.pth``, ``ckpt_gt.pth``): the first five elements;
  ``ema_state`` maps parameter names to the EMA shadow weights.
* Released lifters (DiffPose's ``gcn_xyz_cpn.pth``, ``gcn_xyz_gt.pth``): the first four; keys carry
  a ``module.`` prefix (saved through ``nn.DataParallel``) and an unused ``temb.dense.*`` head.
* The kit's files add element 5, ``meta``: a dict with ``format`` ("mmdiff"), ``format_version``,
  ``kind`` ("lifter", "mmdiff", "diffpose"), ``model_config`` (the model's dataclass fields),
  ``config`` (the resolved experiment config), ``scheduler``, ``rng``, ``metrics`` and versions.
  The reference code reads elements 0-4 only, so kit files load there too:
  the denoiser's keys are exactly the released ones (the reference loads them strictly into a bare
  model) and the lifter's keys are written *with* the ``module.`` prefix, because the reference
  wraps its lifter in ``DataParallel`` and loads with ``strict=False``: without the prefix it
  would silently keep random weights.

Loading is strict on the model's own keys: a missing, misshaped or unknown key raises
:class:`~mmdiff.errors.CheckpointError` naming the key, the file, and the expected and found
shapes. Tolerated: the ``module.`` prefix, the lifter's ``temb.dense.*`` head. Files without
``meta`` get their architecture inferred from the state dict (hidden size, layers, timestep
embedding width, model kind); the number of attention heads cannot be inferred from weights
and is taken as the released value, 4. Files are written atomically (temp file, then rename).
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn as nn

from mmdiff.engine.atomic import write_atomic
from mmdiff.engine.runtime import default_device
from mmdiff.errors import CheckpointError, ConfigError
from mmdiff.models import GraFormer, build_denoiser, build_lifter

FORMAT = "mmdiff"
FORMAT_VERSION = 1
KINDS = ("lifter", "mmdiff", "diffpose")
#: Keys present in released files that no model here uses (after the ``module.`` prefix).
KNOWN_EXTRAS = {"lifter": (re.compile(r"^temb\.dense\.\d+\.(weight|bias)$"),)}
DEFAULT_N_HEAD = 4  # released value; not recoverable from the weights


@dataclass
class CheckpointInfo:
    """What a checkpoint file holds, with the ``module.`` prefix removed from every key.

    kind: "lifter", "mmdiff" or "diffpose"; model_config: the model's config fields (stored in
    ``meta`` or inferred); state_dict / ema_state: name -> tensor (ema_state None when absent);
    optimizer_state: dict or None; epoch, step: ints or None; meta: {} for released files.
    """
    path: Path
    kind: str
    model_config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    optimizer_state: dict | None = None
    epoch: int | None = None
    step: int | None = None
    ema_state: dict[str, torch.Tensor] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_kit(self) -> bool:
        """True for files written by :func:`save_checkpoint` (they carry ``meta``)."""
        return bool(self.meta)

    @property
    def has_ema(self) -> bool:
        return bool(self.ema_state)


# ----------------------------------------------------------------------------- reading

def read_checkpoint(path: str | Path) -> CheckpointInfo:
    """Read a checkpoint (released or the kit's) without building a model.

    Accepts the list layout above (4 to 6 elements) or a bare state dict.
    Raises CheckpointError naming the file when it is missing, unsafe to unpickle or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (torch raises several types here)
        raise CheckpointError(f"{path}: cannot be read as a safe (weights_only) torch file: "
                              f"{type(err).__name__}: {str(err).splitlines()[0]}") from None
    if _is_state_dict(obj):
        obj = [obj]
    if not isinstance(obj, (list, tuple)) or not obj or not _is_state_dict(obj[0]):
        raise CheckpointError(f"{path}: expected [state_dict, optimizer, epoch, step, ema, meta] "
                              f"or a state dict, found {_describe(obj)}")
    items = list(obj) + [None] * (6 - len(obj))
    state, optim, epoch, step, ema, meta = items[:6]
    meta = meta if isinstance(meta, dict) and meta.get("format") == FORMAT else {}
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: written by a newer kit (format version "
                              f"{meta['format_version']}, this kit reads <= {FORMAT_VERSION})")
    state = _strip_prefix(state)
    ema = _strip_prefix(ema) if _is_state_dict(ema) and ema else None
    kind = meta.get("kind") or infer_kind(state, path)
    if kind not in KINDS:
        raise CheckpointError(f"{path}: unknown model kind {kind!r} in meta; "
                              f"expected one of {KINDS}")
    model_config = dict(meta["model_config"]) if "model_config" in meta else \
        infer_model_config(state, kind, path)
    return CheckpointInfo(path=path, kind=kind, model_config=model_config, state_dict=state,
                          optimizer_state=optim if isinstance(optim, dict) else None,
                          epoch=epoch if isinstance(epoch, int) else None,
                          step=step if isinstance(step, int) else None,
                          ema_state=ema, meta=meta)


def infer_kind(state: Mapping[str, torch.Tensor], path: Path | str = "<state dict>") -> str:
    """Which model a state dict belongs to, from its keys (prefix already removed)."""
    if "fc1.weight" in state or "gconv_input_t.weight" in state:
        return "mmdiff"
    if "gconv_layers.0.temb_proj.weight" in state:
        return "diffpose"
    if "gconv_input.weight" in state:
        return "lifter"
    raise CheckpointError(f"{path}: cannot tell the model from its keys (no 'gconv_input.weight'); "
                          f"first keys: {list(state)[:5]}")


def infer_model_config(state: Mapping[str, torch.Tensor], kind: str,
                       path: Path | str = "<state dict>") -> dict[str, Any]:
    """Model config fields implied by the shapes in a state dict (n_head: the released 4)."""
    w = state.get("gconv_input.weight")
    if w is None or w.dim() != 4:
        raise CheckpointError(f"{path}: key 'gconv_input.weight' missing or not (K+1, 1, in, out)")
    layers = {int(m.group(1)) for k in state
              if (m := re.match(r"^gconv_layers\.(\d+)\.gconv1\.gconv\.weight$", k))}
    cfg = {"hid_dim": int(w.shape[-1]), "num_layers": len(layers), "n_head": DEFAULT_N_HEAD}
    if kind != "lifter":
        dense = state.get("temb.dense.0.weight")
        if dense is None:
            raise CheckpointError(f"{path}: key 'temb.dense.0.weight' missing (timestep embedding)")
        cfg["emd_dim"] = int(dense.shape[1])
    return cfg


# ----------------------------------------------------------------------------- loading models

def load_lifter(path: str | Path, device: str | torch.device | None = None) -> GraFormer:
    """The GraFormer lifter of a checkpoint, in eval mode on ``device`` (default: CUDA if
    available, else CPU). Strict on keys; tolerates ``module.`` and the unused ``temb.dense.*``."""
    info = read_checkpoint(path)
    if info.kind != "lifter":
        raise CheckpointError(f"{info.path}: holds a {info.kind} denoiser, not a lifter "
                              f"(use load_denoiser)")
    return model_from_checkpoint(info, device=device)


def load_denoiser(path: str | Path, device: str | torch.device | None = None,
                  ema: bool | str = False) -> nn.Module:
    """The denoiser (MMDiffDenoiser or DiffPoseDenoiser) of a checkpoint, in eval mode.

    ema: False = the raw weights (what the reference evaluation uses), True = the EMA weights
    (CheckpointError if the file has none), "auto" = EMA when present.
    device: default CUDA if available, else CPU.
    """
    info = read_checkpoint(path)
    if info.kind == "lifter":
        raise CheckpointError(f"{info.path}: holds a lifter, not a denoiser (use load_lifter)")
    return model_from_checkpoint(info, device=device, ema=ema)


def model_from_checkpoint(info: CheckpointInfo, device=None, ema: bool | str = False) -> nn.Module:
    """Build the model described by ``info`` and load its weights strictly; eval mode."""
    if ema not in (True, False, "auto"):
        raise CheckpointError(f"{info.path}: ema must be True, False or 'auto', got {ema!r}")
    model = build_model(info.kind, info.model_config, info.path)
    state = dict(info.state_dict)
    use_ema = info.has_ema if ema == "auto" else bool(ema)
    if use_ema:
        if not info.has_ema:
            raise CheckpointError(f"{info.path}: EMA weights requested but the file has none")
        state = _merge_ema(model, state, info.ema_state, info.path)
    load_state_strict(model, state, info.path, info.kind)
    return model.to(default_device(device)).eval()


def build_model(kind: str, model_config: Mapping[str, Any], path: Path | str = "<config>"):
    """A fresh model of ``kind`` from its stored config fields, through the models' builders
    (unknown fields raise CheckpointError naming the file)."""
    try:
        if kind == "lifter":
            return build_lifter(model_config)
        return build_denoiser({**model_config, "kind": kind})
    except ConfigError as err:
        raise CheckpointError(f"{path}: model_config does not fit a {kind}: {err}") from None


def load_state_strict(model: nn.Module, state: Mapping[str, torch.Tensor],
                      path: Path | str = "<state dict>", kind: str | None = None) -> None:
    """Copy ``state`` into ``model``; every model key must be present with its exact shape and
    every other key must be a known extra of ``kind``. Raises one CheckpointError listing all
    problems (key, expected shape, found shape)."""
    expected = model.state_dict()
    extras = KNOWN_EXTRAS.get(kind or getattr(model, "kind", ""), ())
    problems = []
    for key, ref in expected.items():
        if key not in state:
            problems.append(f"missing key {key!r} (expected shape {tuple(ref.shape)})")
        elif tuple(state[key].shape) != tuple(ref.shape):
            problems.append(f"key {key!r}: expected shape {tuple(ref.shape)}, "
                            f"found {tuple(state[key].shape)}")
    unknown = [k for k in state if k not in expected and not any(p.match(k) for p in extras)]
    problems += [f"unexpected key {k!r} (shape {tuple(state[k].shape)})" for k in unknown]
    if problems:
        shown = "\n  ".join(problems[:12])
        more = f"\n  ... and {len(problems) - 12} more" if len(problems) > 12 else ""
        raise CheckpointError(f"{path}: does not match {type(model).__name__}"
                              f"({_cfg_text(model)}):\n  {shown}{more}")
    model.load_state_dict({k: state[k] for k in expected}, strict=True)


def _merge_ema(model, state, ema_state, path):
    """Raw weights with every trainable parameter replaced by its EMA shadow. Frozen (unused)
    parameters may be absent from the EMA, as the reference EMA only tracks trainable ones."""
    merged = dict(state)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    missing = sorted(trainable - set(ema_state))
    if missing:
        raise CheckpointError(f"{path}: EMA state lacks {len(missing)} trainable parameter(s), "
                              f"e.g. {missing[:3]}")
    merged.update(ema_state)
    return merged


# ----------------------------------------------------------------------------- saving

def save_checkpoint(path: str | Path, model: nn.Module, *, optimizer=None, epoch: int = 0,
                    step: int = 0, ema_state=None, config=None, scheduler_state=None,
                    rng_state=None, metrics=None, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``[state_dict, optimizer_state, epoch, step, ema_state, meta]`` atomically.

    model: a GraFormer / MMDiffDenoiser / DiffPoseDenoiser (a DataParallel / DDP / compiled
    wrapper is unwrapped). optimizer: an optimizer or its state dict. ema_state: name -> tensor
    (or an object with ``state_dict()``). config: the resolved experiment config (a dict or an
    object with ``to_dict()``). scheduler_state, rng_state, metrics, extra: stored in ``meta``;
    they must hold only dicts, lists, tuples, str, int, float, bool, None and tensors so the
    file loads with ``weights_only=True`` (else CheckpointError naming the entry).
    Tensors are saved on the CPU. Lifter keys get the ``module.`` prefix (see module docstring).
    Returns the path written.
    """
    path = Path(path)
    model = unwrap(model)
    kind = getattr(model, "kind", None)
    if kind not in KINDS:
        raise CheckpointError(f"{path}: cannot save a {type(model).__name__}; expected one of the "
                              f"kit's models (kind in {KINDS})")
    prefix = "module." if kind == "lifter" else ""
    state = {prefix + k: v.detach().cpu() for k, v in model.state_dict().items()}
    if ema_state is not None and hasattr(ema_state, "state_dict"):
        ema_state = ema_state.state_dict()
    if ema_state is not None:
        ema_state = {k: v.detach().cpu() for k, v in ema_state.items()}
    if optimizer is not None and hasattr(optimizer, "state_dict"):
        optimizer = optimizer.state_dict()
    if config is not None and hasattr(config, "to_dict"):
        config = config.to_dict()
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind,
        "model_config": dataclasses.asdict(model.cfg), "config": config,
        "scheduler": scheduler_state, "rng": rng_state, "metrics": metrics,
        "torch_version": str(torch.__version__), "mmdiff_version": _kit_version(),
        **dict(extra or {}),
    }
    for name, value in (("optimizer", optimizer), ("meta", meta)):
        _check_safe(value, name, path)
    if not isinstance(epoch, int) or not isinstance(step, int):
        raise CheckpointError(f"{path}: epoch and step must be ints, got {epoch!r}, {step!r}")
    obj = [state, optimizer if optimizer is not None else {}, epoch, step, ema_state, meta]
    _atomic_save(obj, path)
    return path


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside DataParallel / DistributedDataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            inner = getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _atomic_save(obj, path: Path) -> None:
    write_atomic(path, lambda f: torch.save(obj, f))


# ----------------------------------------------------------------------------- small helpers

_SAFE_SCALARS = (str, int, float, bool, type(None), torch.Tensor, torch.dtype, torch.Size)


def _check_safe(value, where: str, path: Path) -> None:
    """Raise CheckpointError if ``value`` holds a type that weights_only loading rejects."""
    if isinstance(value, _SAFE_SCALARS):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise CheckpointError(f"{path}: {where} has a key of type {type(k).__name__}")
            _check_safe(v, f"{where}[{k!r}]", path)
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_safe(v, f"{where}[{i}]", path)
        return
    raise CheckpointError(f"{path}: {where} is a {type(value).__module__}.{type(value).__name__}, "
                          f"which torch.load(weights_only=True) cannot read; store plain Python "
                          f"numbers, lists, dicts or tensors (e.g. torch.from_numpy, .item())")


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def _describe(obj) -> str:
    if isinstance(obj, (list, tuple)):
        kinds = ", ".join(type(o).__name__ for o in obj[:6])
        return f"a {type(obj).__name__} of {len(obj)} items ({kinds})"
    return f"a {type(obj).__name__}"


def _cfg_text(model) -> str:
    cfg = getattr(model, "cfg", None)
    if cfg is None:
        return ""
    return ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(cfg).items()
                     if k in ("hid_dim", "num_layers", "emd_dim"))


def _kit_version() -> str:
    from mmdiff import __version__
    return __version__
