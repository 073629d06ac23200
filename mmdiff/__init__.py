"""mmdiff: diffusion-refined monocular 3D human pose estimation, as a teaching and research kit.

Top-level names used by notebooks, the CLI and outside checks::

    import mmdiff as mm
    lifter = mm.load_lifter("ckpts/demo/lifter.pth")
    denoiser = mm.load_denoiser("ckpts/demo/mmdiff.pth")
    pose_3d = mm.predict(lifter, denoiser, pose_2d)      # (B, 17, 3) metres, root-relative

Submodules are imported on first use so that ``import mmdiff`` stays fast.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_lifter": ("mmdiff.checkpoints", "load_lifter"),
    "load_denoiser": ("mmdiff.checkpoints", "load_denoiser"),
    "predict": ("mmdiff.inference", "predict"),
    "MmdiffError": ("mmdiff.errors", "MmdiffError"),
}
_SUBMODULES = {"skeleton", "camera", "data", "metrics", "diffusion", "models", "checkpoints",
               "config", "train", "evaluate", "inference", "viz", "cli", "errors", "bench",
               "demo", "keypoints", "atomic", "notebook_hygiene", "cpu", "runtime", "runs",
               "ema", "optim", "typed", "wild", "plausibility", "loop", "regression",
               "course", "analysis"}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"mmdiff.{name}")
    raise AttributeError(f"module 'mmdiff' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
