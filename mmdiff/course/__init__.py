"""The course's code: what every lesson starts with (this module: which data, which weights),
what the lessons measure (``analysis``), lesson 08's toy diffusion (``toy``), the static book
(``book``) and notebook hygiene.

    cfg, real = which_data(fast=FAST)                  # real Human3.6M files, else the embedded set
    lifter = load_or_train(cfg, "lifter", device, fast=FAST).model
    mmdiff = load_or_train(cfg, "mmdiff", device, fast=FAST, lifter=lifter).model

``which_data`` reads ``cpn.yml`` (the paper's setting on the published files) when the files it
names are in ``data/``, otherwise ``demo.yml`` (the embedded dataset, generated on first use,
models sized for a CPU). ``load_or_train`` loads the shipped ``ckpts/demo/<kind>.pth`` (written by
``mmdiff demo --baseline --fresh --out ckpts/demo``) or, when it is missing, trains that model
briefly with the same ``fit`` / ``fit_lifter`` the command line runs. In fast mode (the test
suite's ``MMDIFF_FAST=1``) a briefly trained model is a smoke test, never a result: its ``source``
says so, and the lessons print it beside every number.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from mmdiff.checkpoints import load_denoiser, load_lifter
from mmdiff.config import Config, load_config
from mmdiff.demo import ensure_data
from mmdiff.errors import ConfigError

KINDS = ("lifter", "mmdiff", "diffpose")
DEMO_DIR = Path("ckpts/demo")
FAST_BATCH = 64           # batch size of the fast mode's training runs
FAST_STEPS, FULL_STEPS = 4, 1000


class Weights(NamedTuple):
    """A model and where it came from (``source``: a checkpoint path or the training run)."""
    model: torch.nn.Module | None
    source: str


def which_data(real_config: str = "cpn.yml", embedded_config: str = "demo.yml",
               fast: bool = False, verbose: bool = True) -> tuple[Config, bool]:
    """(config, real): ``real_config`` when its 3D and 2D files exist, else ``embedded_config``
    with the embedded data written when missing. ``fast`` shrinks the training batch sizes to
    :data:`FAST_BATCH` (the test suite's budget). Prints which data the run uses."""
    cfg = load_config(real_config)
    real = Path(cfg.data.path_3d).is_file() and Path(cfg.data.path_2d).is_file()
    if not real:
        cfg = load_config(embedded_config)
        ensure_data(cfg)
    if fast:
        cfg = cfg.replace({"train.batch_size": FAST_BATCH, "lifter_train.batch_size": FAST_BATCH})
    if verbose:
        print("data:", "real Human3.6M" if real else "embedded (synthetic)", "|", cfg.data.path_3d)
    return cfg, real


def load_or_train(cfg: Config, kind: str, device=None, fast: bool = False,
                  lifter: torch.nn.Module | None = None, steps: int | None = None,
                  train_samples=None, test_samples=None, required: bool = True,
                  demo_dir: str | Path = DEMO_DIR, run_dir: str | Path | None = None) -> Weights:
    """The ``kind`` model ("lifter", "mmdiff" or "diffpose") from ``demo_dir/<kind>.pth``, or
    trained for ``steps`` optimiser steps (default 4 in fast mode, 1000 otherwise) into
    ``run_dir`` (default ``exp/course_<kind>``). A denoiser trains with ``lifter`` for its
    validation. ``required=False``: a missing checkpoint gives ``Weights(None, ...)`` instead."""
    from mmdiff.train import fit, fit_lifter                 # training only when needed
    if kind not in KINDS:
        raise ConfigError(f"load_or_train: kind must be one of {KINDS}, found {kind!r}")
    path = Path(demo_dir) / f"{kind}.pth"
    if path.is_file():
        model = load_lifter(path, device) if kind == "lifter" else load_denoiser(path, device)
        return Weights(model, str(path))
    if not required:
        return Weights(None, f"{path} missing")
    steps = steps if steps is not None else (FAST_STEPS if fast else FULL_STEPS)
    run_dir = run_dir or f"exp/course_{kind}"
    label = f"a {steps}-step training run in {run_dir}" + (" (fast mode: smoke test)" if fast else "")
    print(f"{path} missing: training {label} ...", flush=True)
    if kind == "lifter":
        run = fit_lifter(cfg, run_dir, device=device, train_samples=train_samples,
                         test_samples=test_samples, progress=not fast, max_steps=steps)
    else:
        run = fit(cfg.replace({"model.kind": kind}), run_dir, device=device, lifter=lifter,
                  train_samples=train_samples, test_samples=test_samples, progress=not fast,
                  max_steps=steps)
    return Weights(run.model.eval(), label)


def fast_label(fast: bool, source: str = "") -> str:
    """The tag printed beside a number computed in fast mode or with briefly trained weights."""
    if fast:
        return " [FAST MODE: a subset of the test poses, a smoke test, not a result]"
    if source and not source.endswith(".pth"):
        return f" [weights from {source}: not the shipped demo weights]"
    return ""


def stored_study(name: str, study_dir: str | Path = "ckpts/studies") -> str:
    """The table of a stored multi-seed study (``mmdiff study <name>`` writes
    ``<study_dir>/<name>.json``; ``<study>_hypotheses`` is the hypotheses analysis that
    ``mmdiff study <study> --hypotheses`` writes) with the command that produced it, or a line
    saying how to produce it when the file is absent. A study run with ``--fast`` is labelled as a
    smoke test."""
    path = Path(study_dir) / f"{name}.json"
    suffix = "_hypotheses"
    command = (f"mmdiff study {name[:-len(suffix)]} --hypotheses" if name.endswith(suffix)
               else f"mmdiff study {name}")
    if not path.is_file():
        return (f"{path} is not there yet: `{command}` trains every arm with the full "
                f"budget and several seeds and writes it")
    from mmdiff.study.report import load_study, table
    doc = load_study(path)
    fast = " [FAST: a smoke test, not a result]" if doc.get("fast") else ""
    return f"{doc.get('title', name)}, from `{doc.get('command', command)}`{fast}\n" + table(doc)
