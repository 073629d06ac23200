"""Experiment configuration: YAML files loaded into typed dataclasses, unknown keys rejected.

A config has one dataclass per section (``data``, ``lifter``, ``model``, ``diffusion``, ``train``,
``lifter_train``, ``optim``, ``sampler``, ``eval``); ``lifter`` and ``model`` are the models' own
config dataclasses (:class:`~mmdiff.models.GraFormerConfig` plus the checkpoint path, and
:class:`~mmdiff.models.DenoiserConfig`). Every field has a typed default and a comment saying what
it means; the paper's settings are the defaults of ``configs/cpn.yml``. A YAML file names only the
sections and keys it sets; a file may start from another with ``base: other.yml`` and override
what differs.

    cfg = load_config("demo", overrides={"train.epochs": 2})   # packaged mmdiff/configs/demo.yml
    cfg.train.epochs, cfg.optim.lr
    cfg.to_dict()                                               # stored inside every checkpoint

Errors (:class:`mmdiff.errors.ConfigError`) name the file, the section and the key, suggest a
close match for a typo, and say which type was expected. Command-line overrides
``--set section.key=value`` are parsed with the type of the field they replace.

YAML note: PyYAML reads ``1e-3`` (no dot) as a string; float fields accept such numeric strings
(the checks are in :mod:`mmdiff.engine.typed`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from mmdiff.engine.precision import check_precision
from mmdiff.engine.typed import apply, nest
from mmdiff.errors import ConfigError
from mmdiff.models.common import DenoiserConfig
from mmdiff.models.graformer import GraFormerConfig

PACKAGE_CONFIGS = Path(__file__).resolve().parent / "configs"


@dataclass
class DataConfig:
    """Where the poses come from and how they are sampled."""
    path_3d: str = "data/data_3d_h36m.npz"  # 3D mocap file, VideoPose3D layout (positions_3d)
    path_2d: str = "data/data_2d_h36m_cpn_ft_h36m_dbb_gmm.npz"  # 2D file: plain or DiffPose GMM
    path_2d_train: str = ""  # 2D file of the training subjects; "" = path_2d (DiffPose trains on
    #                          data_2d_h36m_gt_gmm.npz and tests on the detector's file)
    train_subjects: list[str] = field(default_factory=lambda: ["S1", "S5", "S6", "S7", "S8"])
    test_subjects: list[str] = field(default_factory=lambda: ["S9", "S11"])  # standard protocol
    actions: list[str] = field(default_factory=list)  # action filter (base names); empty = all
    train_stride: int = 1  # keep every n-th training frame
    test_stride: int = 1  # keep every n-th test frame (evaluation uses every frame in the paper)
    normalization: str = "reference"  # pixels -> [-1, 1]: "reference" w = h = 1000 for every
    #                                   camera (prepare_2d_poses.py); "camera" each camera's size
    flip_aug: bool = True  # horizontal flip augmentation of the training poses (test-time flip
    #                        is eval.flip)
    sample_gmm: bool = False  # draw a GMM kernel per joint as training input (DiffPose); needs GMM 2D
    num_workers: int = 0  # DataLoader worker processes (0 = load in the main process)


@dataclass
class LifterConfig(GraFormerConfig):
    """The GraFormer prior that lifts 2D to 3D before diffusion refines it: the model's fields
    (:class:`mmdiff.models.GraFormerConfig`) and where its trained weights are."""
    checkpoint: str = "ckpts/gcn_xyz_cpn.pth"  # trained lifter; `mmdiff train` loads it


@dataclass
class DiffusionConfig:
    """Forward process q(x_t | x_0) over uvxyz (normalised 2D + metres 3D)."""
    beta_schedule: str = "linear"  # linear, quad, const, jsd, sigmoid or cosine
    beta_start: float = 1e-4  # beta_1
    beta_end: float = 1e-3  # beta_T
    num_timesteps: int = 51  # T: the diffusion timesteps t = 0 .. T-1 of the schedule
    train_t_max: int = 0  # training draws t from [0, train_t_max); 0 = all T timesteps
    noise: str = "scale"  # "scale" (per-channel Gaussian) or "gmm" (DiffPose's GMM kernel spreads)
    noise_scale: list[float] = field(default_factory=lambda: [0.1, 0.1, 1.0, 1.0, 1.0])  # u,v,x,y,z


@dataclass
class TrainConfig:
    """The denoiser's training loop."""
    epochs: int = 800  # passes over the training set
    batch_size: int = 1024  # global batch (split across processes under torchrun)
    seed: int = 19960903  # one seed for data order, augmentation, noise, timesteps and dropout
    ema: bool = True  # keep an exponential moving average of the weights
    ema_rate: float = 0.999  # EMA decay mu: shadow = mu * shadow + (1 - mu) * weights
    objective: str = "diffusion"  # "diffusion": noise prediction (the paper); "regression": the
    #                               same network as a residual regressor from the lifter's output
    #                               (a control, mmdiff.train.regression_loss)
    input: str = "auto"  # what the network is trained from: "truth" (ground truth + the
    #                      schedule's Gaussian noise; diffusion's, and with regression the
    #                      one-level denoiser Tweedie's formula describes), "lifter" (the frozen
    #                      lifter's outputs on its own training poses), "crossfit" (out-of-sample
    #                      lifter outputs: each subject's from a lifter trained without it; the
    #                      studies train those), "auto" (diffusion: truth, regression: lifter)
    antithetic: bool = True  # timesteps drawn in pairs (t, T-1-t)
    antithetic_draws: str = "reference"  # "reference": B//2 + 1 draws, cut to B (513 / 511 at
    #                                      1024); "balanced": ceil(B/2) (512 / 512)
    validate_every: int = 1  # run the evaluation pipeline every n epochs (0 = never)
    keep_every: int = 1  # keep ckpt_<epoch>.pth every n epochs (0 = only ckpt.pth and best.pth)
    log_every: int = 100  # write a log line every n steps
    precision: str = "fp32"  # "fp32" (exact, the reference's), "bf16" (autocast, fp32 master
    #                          weights, optimiser state, loss; mmdiff.engine.precision) or "fp16"
    #                          (CUDA, with a gradient scaler); the lifter's training uses it too

    def __post_init__(self):
        check_precision(self.precision, key="train.precision")
        if self.input not in ("auto", "truth", "lifter", "crossfit"):
            raise ConfigError(f"train.input: expected 'auto', 'truth', 'lifter' or 'crossfit', "
                              f"found {self.input!r}")


@dataclass
class LifterTrainConfig:
    """The lifter's training loop (MPJPE on root-relative 3D)."""
    epochs: int = 50  # passes over the training set
    batch_size: int = 1024  # global batch
    lr: float = 1e-3  # Adam learning rate
    lr_decay_every: int = 10  # epochs between learning-rate decays
    lr_gamma: float = 0.9  # decay factor
    grad_clip: float = 1.0  # max gradient norm (0 = off)


@dataclass
class OptimConfig:
    """Optimiser of the denoiser."""
    optimizer: str = "Adam"  # Adam, AdamW or SGD
    lr: float = 1e-3  # initial learning rate
    lr_decay_every: int = 60  # epochs between decays of lr0 by lr_gamma ...
    lr_decay_shift: int = 1  # ... 1: the reference's (epochs 0..60 at lr0, decays after epoch
    #                          60, 120, ...); 0: lr0 * gamma ** (epoch // every)
    #                          (mmdiff.train.optim)
    lr_gamma: float = 0.9  # decay factor
    weight_decay: float = 0.0  # L2 penalty
    amsgrad: bool = False  # Adam's AMSGrad variant
    eps: float = 1e-8  # Adam epsilon
    grad_clip: float = 1.0  # max gradient norm (0 = off)


@dataclass
class SamplerConfig:
    """The DDIM sampler of the evaluation pipeline, field for field the arguments of
    :class:`mmdiff.diffusion.DDIMSampler`
    (``DDIMSampler.from_config(cfg.diffusion, cfg.sampler)``)."""
    steps: int = 2  # DDIM steps taken, i.e. timesteps visited (the reference's test_timesteps)
    span: int = 12  # the leading timesteps they are spread over: 2 of 12 visits t = 6, then 0
    skip: str = "uniform"  # spacing of the visited timesteps: "uniform" or "quad"
    eta: float = 0.0  # DDIM stochasticity (0 = deterministic)


@dataclass
class EvalConfig:
    """The evaluation pipeline: lifter -> refinement (``sampler``) -> flip TTA."""
    hypotheses: int = 1  # hypotheses per pose, aggregated by mean
    flip: bool = True  # flip test-time augmentation of the pipeline (2D mirrored, result mirrored
    #                    back and averaged), for every arm
    lifter_tta: bool = True  # the lifter-alone row: flip TTA as every arm (with `flip`), or false
    #                          for its plain output, the pose the refinement starts from
    use_ema: bool = False  # evaluate (and validate on) the EMA weights; the reference uses the
    #                        raw ones (element 0 of the checkpoint), also to pick the best epoch
    batch_size: int = 1024  # poses per test batch: the reference's P2 credits per batch
    p2: str = "reference"  # P2 column: "reference" (a batch mixing actions credits its mean to
    #                        every pose) or "per_sample"; the per-sample P2 is always printed too
    average: str = "all"  # Average row: "all" 15 actions (0 for absent ones, the reference's) or
    #                       "present" (the actions seen)
    seed: int = 0  # seed of the starting noise of extra hypotheses
    precision: str = "fp32"  # the networks' forward passes in "fp32" (exact), "bf16" or "fp16"
    #                          (CUDA); the DDIM arithmetic stays fp32 (mmdiff.engine.precision)
    compile: bool = False  # torch.compile the denoiser for `mmdiff eval` / `predict`: the first
    #                        forward compiles (about a minute on a CPU), later ones run faster

    def __post_init__(self):
        check_precision(self.precision, key="eval.precision")


@dataclass
class Config:
    """A full experiment: one field per section."""
    data: DataConfig = field(default_factory=DataConfig)
    lifter: LifterConfig = field(default_factory=LifterConfig)
    model: DenoiserConfig = field(default_factory=DenoiserConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    lifter_train: LifterTrainConfig = field(default_factory=LifterTrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict (YAML/JSON/torch.save friendly); `from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> "Config":
        """Build a config from a nested dict (e.g. the one stored in a checkpoint).
        Missing keys keep their defaults; unknown keys and wrong types raise ConfigError. Keys of
        an earlier kit (:data:`RENAMED`, as stored in its checkpoints) are read under their new
        names."""
        return apply(cls(), upgrade_renamed(data), source)

    def replace(self, overrides: Mapping[str, Any]) -> "Config":
        """A new config with ``{"section.key": value}`` overrides applied (self is unchanged)."""
        data = nest(overrides, "<overrides>")
        check_renamed(data, "<overrides>")
        return apply(self, data, "<overrides>", parse_strings=True)


SECTIONS = tuple(f.name for f in dataclasses.fields(Config))


def load_config(path: str | Path, overrides: Mapping[str, Any] | list[str] | None = None) -> Config:
    """Read a YAML config into a :class:`Config`.

    path: a YAML file, or the name of a packaged config (``"demo"``, ``"cpn"``, ``"gt"``; a missing
        ``configs/<name>.yml`` falls back to the packaged one).
    overrides: ``{"section.key": value}`` or a list of ``"section.key=value"`` strings (the CLI's
        ``--set``); string values are parsed with the type of the field they replace.
    Raises ConfigError naming the file, section and key on an unknown key or a wrong type.
    """
    cfg = _load_file(resolve_config_path(path), seen=())
    if overrides:
        if not isinstance(overrides, Mapping):
            overrides = parse_overrides(overrides)
        cfg = cfg.replace(overrides)
    return cfg


def resolve_config_path(path: str | Path) -> Path:
    """The file a config argument names: the path itself, else a packaged config of that name."""
    p = Path(path)
    if p.is_file():
        return p
    packaged = PACKAGE_CONFIGS / (p.stem + ".yml")
    if packaged.is_file() and (p.suffix in ("", ".yml", ".yaml")):
        return packaged
    names = sorted(q.stem for q in PACKAGE_CONFIGS.glob("*.yml"))
    raise ConfigError(f"config file {str(path)!r} not found (packaged configs: {', '.join(names)})")


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["optim.lr=3e-4", "train.epochs=2"]`` -> ``{"optim.lr": "3e-4", "train.epochs": "2"}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"override {item!r} must look like section.key=value")
        out[key.strip()] = value.strip()
    return out


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the resolved config as YAML (every field, so the run can be repeated from it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path


# ----------------------------------------------------------------------------- renamed keys

#: keys renamed so that one word has one meaning ("steps" = DDIM steps taken, nothing else):
#: old "section.key" -> new "section.key". A file or override with an old key is an error naming
#: the new one; a config stored by an earlier kit (in its checkpoints) is read under the new names.
RENAMED = {
    "diffusion.num_steps": "diffusion.num_timesteps",
    "diffusion.train_steps": "diffusion.train_t_max",
    "eval.steps": "sampler.steps",
    "eval.schedule_steps": "sampler.span",
    "eval.skip_type": "sampler.skip",
    "eval.eta": "sampler.eta",
    "eval.lifter_flip": "eval.lifter_tta",
}
#: old values of renamed keys whose meaning is now a boolean
_RENAMED_VALUES = {"eval.lifter_flip": {"rerun": True, "mirror": False}}


def check_renamed(data: Mapping[str, Any], source: str) -> None:
    """ConfigError naming the new key for any old key (:data:`RENAMED`) in the nested ``data``."""
    for section, values in data.items():
        if not isinstance(values, Mapping):
            continue
        for key in values:
            old = f"{section}.{key}"
            if old in RENAMED:
                hint = ""
                if old in _RENAMED_VALUES:
                    hint = " (" + ", ".join(f"{v!r} is {n}" for v, n in
                                            _RENAMED_VALUES[old].items()) + ")"
                raise ConfigError(f"{source}: {old} was renamed: use {RENAMED[old]}{hint}")


def upgrade_renamed(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the nested ``data`` with old keys (:data:`RENAMED`) moved to their new names."""
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    for old, new in RENAMED.items():
        (section, key), (new_section, new_key) = old.split("."), new.split(".")
        if isinstance(out.get(section), dict) and key in out[section]:
            value = out[section].pop(key)
            value = _RENAMED_VALUES.get(old, {}).get(value, value)
            out.setdefault(new_section, {})[new_key] = value
    return out


# ----------------------------------------------------------------------------- checks

def check_noise(cfg: Config) -> None:
    """The forward-noise settings of ``cfg`` fit together (raise ConfigError naming the key)."""
    d = cfg.diffusion
    if d.noise not in ("scale", "gmm"):
        raise ConfigError(f"diffusion.noise: expected 'scale' or 'gmm', found {d.noise!r}")
    if d.noise == "gmm" and not cfg.data.sample_gmm:
        raise ConfigError("diffusion.noise: 'gmm' scales u, v by the spread of a drawn GMM kernel; "
                          "set data.sample_gmm: true (and use a *_gmm.npz 2D file)")
    if len(d.noise_scale) != 5:
        raise ConfigError(f"diffusion.noise_scale: expected 5 values (u, v, x, y, z), "
                          f"found {len(d.noise_scale)}")
    if not 0 <= d.train_t_max <= d.num_timesteps:
        raise ConfigError(f"diffusion.train_t_max: expected 0 or 1..{d.num_timesteps}, "
                          f"found {d.train_t_max}")


# ----------------------------------------------------------------------------- internals

def _load_file(path: Path, seen: tuple[Path, ...]) -> Config:
    """Read one YAML file, following its optional ``base:`` chain first."""
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'base' chain loops back to itself")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, found {type(raw).__name__}")
    raw = dict(raw)
    base = raw.pop("base", None)
    cfg = Config()
    if base is not None:
        cfg = _load_file(resolve_config_path(path.parent / str(base)), seen + (path.resolve(),))
    check_renamed(raw, str(path))
    return apply(cfg, raw, str(path))
