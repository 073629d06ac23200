"""mmdiff: diffusion-refined monocular 3D human pose estimation, as a teaching and research kit.

Top-level names used by notebooks, the CLI and outside checks::

    import mmdiff as mm
    lifter = mm.load_lifter("ckpts/demo/lifter.pth")
    denoiser = mm.load_denoiser("ckpts/demo/mmdiff.pth")
    pipe = mm.Pipeline.from_config(mm.load_config("demo"), lifter, denoiser)
    pose_3d = pipe.predict(pose_2d)                      # (N, 17, 3) metres, root-relative

Submodules are imported on first use so that ``import mmdiff`` stays fast.
"""
from __future__ import annotations

import importlib
import pkgutil

__version__ = "0.1.0"

_LAZY = {
    "load_config": ("mmdiff.config", "load_config"),
    "load_lifter": ("mmdiff.checkpoints", "load_lifter"),
    "load_denoiser": ("mmdiff.checkpoints", "load_denoiser"),
    "Pipeline": ("mmdiff.pipeline", "Pipeline"),
    "default_device": ("mmdiff.engine.runtime", "default_device"),
    "MmdiffError": ("mmdiff.errors", "MmdiffError"),
}
#: every module and sub-package of mmdiff, found on disk (``mm.<name>`` imports it on first use)
_SUBMODULES = {m.name for m in pkgutil.iter_modules(__path__) if m.name != "__main__"}


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"mmdiff.{name}")
    raise AttributeError(f"module 'mmdiff' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
