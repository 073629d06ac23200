"""``mmdiff demo`` / ``make demo``: the whole method on the embedded data, on a CPU, in minutes.

1. generate the embedded dataset when ``data/synthetic/`` lacks it;
2. train the GraFormer lifter (``exp/demo_lifter``), then the MMDiff denoiser (``exp/demo_mmdiff``)
   and, with ``baseline=True`` (``--baseline``), the DiffPose denoiser (``exp/demo_diffpose``), all
   with ``configs/demo.yml``;
3. evaluate on the test subjects and print the per-action tables: lifter alone, (lifter +
   DiffPose,) lifter + MMDiff;
4. copy weights-only checkpoints to ``out`` (default ``exp/demo/``: lifter.pth, mmdiff.pth,
   diffpose.pth) with their accuracy in ``out/metrics.json``.

The demo never writes the shipped weights ``ckpts/demo/`` (which the notebooks load and the tests
check) unless asked to: ``mmdiff demo --baseline --fresh --out ckpts/demo`` refreshes them.

A run folder that already holds a run is continued (an interrupted stage resumes exactly where
Ctrl-C stopped it; a finished one is reused); ``fresh=True`` (``--fresh``) trains again.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
import yaml

from mmdiff.checkpoints import (load_denoiser, load_lifter, model_from_checkpoint,
                                read_checkpoint, save_checkpoint)
from mmdiff.config import Config, load_config
from mmdiff.data.dataset import load_split
from mmdiff.engine.runtime import default_device
from mmdiff.evaluate import evaluate_models, write_metrics_json
from mmdiff.train import fit, fit_lifter


def ensure_data(cfg: Config) -> None:
    """Write the embedded dataset when the files ``cfg.data`` names are missing."""
    paths = [Path(cfg.data.path_3d), Path(cfg.data.path_2d)]
    if all(p.is_file() for p in paths):
        return
    from mmdiff.data.synthetic import write_dataset
    print(f"embedded data missing: generating {paths[0].parent}/ ...", flush=True)
    write_dataset(paths[0].parent, seed=0)


def export_weights(src: Path, dst: Path, use_ema: bool = True) -> Path:
    """Write a weights-only copy of a training checkpoint (EMA weights when ``use_ema`` and the
    file has them) in the released list layout, with its config but no optimiser state."""
    info = read_checkpoint(src)
    model = model_from_checkpoint(info, device="cpu", ema="auto" if use_ema else False)
    dst.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(dst, model, epoch=info.epoch or 0, step=info.step or 0,
                           config=(info.meta or {}).get("config"),
                           extra={"source": str(src), "ema_weights": bool(use_ema and info.has_ema)})


class DemoInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM stopped a training stage (its checkpoint is saved; rerun to continue).
    ``signal`` is the signal's number (None when a step budget stopped it)."""

    def __init__(self, message: str, signal: int | None = None):
        super().__init__(message)
        self.signal = signal


def _train(fit_fn, cfg, run: Path, fresh: bool, **kwargs):
    """Train one stage, continuing a run already in ``run``; stop the demo if interrupted."""
    if fresh and run.exists():
        shutil.rmtree(run)
    resume = (run / "ckpt.pth").is_file()
    if resume:
        print(f"{run}: continuing the run found there (--fresh / delete it to retrain)", flush=True)
    result = fit_fn(cfg, run, resume=resume, **kwargs)
    if result.interrupted:
        raise DemoInterrupted(f"{run}: interrupted and saved; run the demo again to continue",
                              result.stop_signal)
    return result


def run_demo(exp: str | Path = "exp", out: str | Path = "exp/demo", config: str = "demo",
             overrides=None, device=None, progress: bool = True, fresh: bool = False,
             baseline: bool = False) -> dict:
    """Run the demo; returns {name: ActionErrors} for 'lifter', 'diffpose', 'mmdiff'."""
    t0 = time.perf_counter()
    device = default_device(device)
    cfg = load_config(config, overrides)
    ensure_data(cfg)
    exp, out = Path(exp), Path(out)
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    _train(fit_lifter, cfg, exp / "demo_lifter", fresh, device=device, progress=progress)
    # the denoisers are validated on the best lifter epoch, the one that is shipped
    cfg = cfg.replace({"lifter.checkpoint": str(exp / "demo_lifter" / "best.pth")})
    models = {"mmdiff": _train(fit, cfg, exp / "demo_mmdiff", fresh, device=device,
                               progress=progress).model}
    if baseline:
        base_cfg = cfg.replace({"model.kind": "diffpose"})
        models["diffpose"] = _train(fit, base_cfg, exp / "demo_diffpose", fresh, device=device,
                                    progress=progress).model
    train_s = time.perf_counter() - t0

    results = evaluate_exported(cfg, exp, out, list(models), device=device)
    total = time.perf_counter() - t0
    print(f"\ntrained in {train_s / 60:.1f} min, total {total / 60:.1f} min; weights in {out}/")
    return results


def evaluate_exported(cfg: Config, exp: Path, out: Path, denoisers: list[str], device=None) -> dict:
    """Export the best checkpoints weights-only to ``out``, reload them, evaluate them on the test
    subjects, print the tables and record them in ``out/metrics.json``."""
    export_weights(exp / "demo_lifter" / "best.pth", out / "lifter.pth", use_ema=False)
    lifter = load_lifter(out / "lifter.pth", device=device)
    test = load_split(cfg.data, "test")
    results = {"lifter": evaluate_models(cfg, lifter, None, test, device=device)}
    for name in ("diffpose", "mmdiff"):
        if name in denoisers:
            path = export_weights(exp / f"demo_{name}" / "best.pth", out / f"{name}.pth",
                                  use_ema=cfg.eval.use_ema)
            denoiser = load_denoiser(path, device=device, ema=False)
            results[name] = evaluate_models(cfg, lifter, denoiser, test, device=device)
    for name, errors in results.items():
        print(f"\n{TITLES[name]}\n{errors.table()}")
    write_metrics_json(out / "metrics.json", results)
    (out / "eval_config.yml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return results


TITLES = {"lifter": "lifter alone (GraFormer)", "diffpose": "lifter + DiffPose refinement",
          "mmdiff": "lifter + MMDiff refinement"}
