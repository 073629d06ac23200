"""Throughput benchmark: poses per second of the models and of the full pipeline.

    python -m mmdiff.bench                      # CPU, and CUDA when present; batch 1024
    python -m mmdiff.bench --device cpu --batch 256 --repeats 5
    mmdiff bench --device cuda
    mmdiff bench --device cpu --reference ~/src/monoMotionDiff   # side by side with the reference

Rows (models at the released size, random weights; speed does not depend on the values):

    lifter forward     GraFormer, (B, 17, 2) -> (B, 17, 3), no grad
    denoiser forward   MMDiff denoiser, one call eps(x_t, pose_2d, t), no grad
    training step      denoiser forward + loss + backward + grad clip + Adam step
    predict, no flip   mmdiff.inference.predict(..., flip=False): lifter + 2 DDIM steps
    predict, flip      the same with flip test-time augmentation (the paper's setting)

Each figure is the best of ``--repeats`` timed runs after one warm-up run (best-of is the least
sensitive to other processes sharing the CPU). The peak memory of one training step at the
chosen batch is printed per device: on CUDA ``torch.cuda.max_memory_allocated``; on the CPU the
growth of the process's peak resident set (VmHWM, reset through /proc/self/clear_refs where
Linux allows it) over the resident set before the step.

``--reference DIR`` instead times the reference implementation (a checkout of
github.com/jjkislele/monoMotionDiff; it needs ``einops``) in the same process, on the same weights
and inputs, alternating runs so that load from other processes hits both alike, and prints
poses/s of both and the ratio for the lifter forward, the denoiser forward and a training step,
with the largest output difference. It prints only that table: the reference's own speed depends
on what ran before it in the process (after the other rows, its training step ran at 0.6x), so
the comparison starts from a fresh process. No reference code is part of this kit: it is
imported from DIR at run time.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from mmdiff.cpu import keep_freed_memory, set_threads
from mmdiff.models import DenoiserConfig, GraFormer, GraFormerConfig, build_denoiser
from mmdiff.models.mmdiff import cross_channel_edges
from mmdiff.skeleton import EDGES_17


@dataclass
class Row:
    """One line of the report: a name, poses/s (None when skipped) and a note."""
    name: str
    poses_per_s: float | None
    note: str = ""


def best_seconds(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Best wall-clock time of ``fn`` over ``repeats`` runs, after one warm-up run."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def make_inputs(batch: int, device: torch.device, seed: int = 0):
    """Random inputs of the right shapes: x_t (B, 17, 5), pose_2d (B, 17, 2), t (B,), target."""
    g = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, 17, 5, generator=g)
    pose_2d = torch.rand(batch, 17, 2, generator=g) * 2 - 1
    t = torch.randint(0, 51, (batch,), generator=g)
    target = torch.randn(batch, 17, 5, generator=g)
    return [a.to(device) for a in (x_t, pose_2d, t, target)]


def training_step_fn(denoiser, x_t, pose_2d, t, target):
    """A closure running one training step of the reference recipe (Adam, grad clip 1.0,
    loss = squared error summed over joints and channels, averaged over the batch)."""
    params = [p for p in denoiser.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)

    def step():
        denoiser.train()
        eps = denoiser(x_t, pose_2d, t)
        loss = (target - eps).square().sum(dim=(1, 2)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return step


def bench_device(device: torch.device, batch: int, repeats: int, kind: str = "mmdiff",
                 reference: str | None = None):
    """(rows, training-step peak memory, None) for one device; with ``reference`` instead
    (None, None, a text table comparing the kit with the reference implementation)."""
    torch.manual_seed(0)
    lifter = GraFormer(GraFormerConfig()).to(device).eval()
    denoiser = build_denoiser(DenoiserConfig(kind=kind)).to(device).eval()
    x_t, pose_2d, t, target = make_inputs(batch, device)
    if reference is not None:                   # only the comparison, from a fresh process:
        return None, None, format_reference(    # the reference's speed depends on what ran
            *reference_rows(reference, lifter, denoiser, x_t, pose_2d, t, target, repeats))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step = training_step_fn(denoiser, x_t, pose_2d, t, target)
    peak = peak_memory(step, device)            # first, so earlier runs do not mask the peak

    rows = []
    with torch.no_grad():
        rows.append(Row("lifter forward",
                        batch / best_seconds(lambda: lifter(pose_2d), repeats, sync)))
        denoiser.eval()
        rows.append(Row("denoiser forward",
                        batch / best_seconds(lambda: denoiser(x_t, pose_2d, t), repeats, sync)))
    rows.append(Row("training step", batch / best_seconds(step, repeats, sync)))
    denoiser.eval()
    try:
        from mmdiff.inference import predict
    except ImportError as err:
        note = f"skipped: mmdiff.inference.predict is not available ({err})"
        rows += [Row("predict, no flip", None, note), Row("predict, flip", None, note)]
    else:
        for flip in (False, True):
            secs = best_seconds(lambda: predict(lifter, denoiser, pose_2d, flip=flip),
                                repeats, sync)
            rows.append(Row(f"predict, {'flip' if flip else 'no flip'}", batch / secs,
                            "lifter + DDIM 2 of 12" + (" x2 (flip TTA)" if flip else "")))
    return rows, peak, None


def load_reference(path: str | Path):
    """The reference lifter and MMDiff denoiser classes, imported from a checkout at ``path``.

    Returns (GraFormer class, DiffModel class, adj_mx_from_edges function) of
    ``models/backbone/GraFormer.py`` and ``models/model.py`` there.
    """
    root = Path(path).expanduser().resolve()
    if not (root / "models" / "model.py").is_file():
        raise SystemExit(f"--reference {root}: no models/model.py (expected a checkout of "
                         "jjkislele/monoMotionDiff)")

    def theirs(name):                     # the checkout's top-level package is named "models"
        return name == "models" or name.startswith("models.")

    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if theirs(name)}
    sys.path.insert(0, str(root))
    try:
        from models.backbone.GraFormer import GraFormer as RefGraFormer
        from models.model import DiffModel, adj_mx_from_edges
    except ImportError as err:
        raise SystemExit(f"--reference {root}: cannot import the reference models ({err}); "
                         "it needs einops (pip install einops)") from err
    finally:                              # leave sys.path and sys.modules as they were
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if theirs(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
    return RefGraFormer, DiffModel, adj_mx_from_edges


def reference_rows(path, lifter, denoiser, x_t, pose_2d, t, target, repeats: int):
    """Time the reference beside the kit's models (same weights, inputs, device).

    Returns rows (name, reference poses/s, kit poses/s) and the largest |reference - kit| of the
    lifter and denoiser outputs. Both models run alternately after one warm-up call each.
    """
    RefGraFormer, DiffModel, adj_from_edges = load_reference(path)
    device, batch = x_t.device, x_t.shape[0]
    cfg, lcfg = denoiser.cfg, lifter.cfg
    if getattr(denoiser, "kind", "") != "mmdiff":
        raise SystemExit("--reference compares the MMDiff denoiser; use --kind mmdiff")
    adj = lambda edges, n: adj_from_edges(n, torch.tensor(edges), sparse=False)   # noqa: E731
    ref_lifter = RefGraFormer(adj(EDGES_17, 17), hid_dim=lcfg.hid_dim, num_layers=lcfg.num_layers,
                              n_head=lcfg.n_head, dropout=lcfg.dropout, n_pts=17)
    ref_den = DiffModel(adj(cross_channel_edges(), 34), adj(EDGES_17, 17), hid_dim=cfg.hid_dim,
                        coords_dim=(3, 3), num_layers=cfg.num_layers, n_head=cfg.n_head,
                        dropout=cfg.dropout, n_pts=34)
    ref_lifter.load_state_dict(lifter.state_dict())         # the kit keeps the released layout
    ref_den.load_state_dict(denoiser.state_dict())
    ref_lifter.to(device).eval(), ref_den.to(device).eval()
    lifter.eval(), denoiser.eval()
    mask = torch.ones(1, 1, 17, dtype=torch.bool, device=device)
    ref_eps = lambda x, c, tt: ref_den(x[:, None], c[:, None], mask, tt.float())[:, 0]  # noqa
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    with torch.no_grad():
        diff = max((ref_lifter(pose_2d, mask) - lifter(pose_2d)).abs().max().item(),
                   (ref_eps(x_t, pose_2d, t) - denoiser(x_t, pose_2d, t)).abs().max().item())
        rows.append(("lifter forward", *alternate(lambda: ref_lifter(pose_2d, mask),
                                                  lambda: lifter(pose_2d), repeats, sync)))
        rows.append(("denoiser forward", *alternate(lambda: ref_eps(x_t, pose_2d, t),
                                                    lambda: denoiser(x_t, pose_2d, t),
                                                    repeats, sync)))
    ref_step = training_step_fn(_Called(ref_den, ref_eps), x_t, pose_2d, t, target)
    kit_step = training_step_fn(denoiser, x_t, pose_2d, t, target)
    rows.append(("training step", *alternate(ref_step, kit_step, repeats, sync)))
    denoiser.eval()
    return [(name, batch / a, batch / b) for name, a, b in rows], diff


class _Called(torch.nn.Module):
    """The reference denoiser behind the kit's call signature eps(x_t, pose_2d, t)."""

    def __init__(self, module, call):
        super().__init__()
        self.module, self.call = module, call

    def forward(self, x_t, pose_2d, t):
        return self.call(x_t, pose_2d, t)


def alternate(fn_a, fn_b, repeats: int, sync) -> tuple[float, float]:
    """Best seconds of two functions run alternately (a, b, a, b, ...) after a warm-up each."""
    fn_a(), fn_b()
    sync()
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, fn in enumerate((fn_a, fn_b)):
            t0 = time.perf_counter()
            fn()
            sync()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0], best[1]


def format_reference(rows, diff: float) -> str:
    lines = [f"  side by side with the reference (max |output difference| {diff:.1e}):",
             f"  {'':18s} {'reference':>10s} {'mmdiff':>10s}  ratio"]
    for name, ref, kit in rows:
        lines.append(f"  {name:18s} {ref:10.0f} {kit:10.0f}  {kit / ref:4.2f}x  poses/s")
    return "\n".join(lines)


def peak_memory(step: Callable[[], None], device: torch.device) -> tuple[int | None, str]:
    """Peak memory of one call of ``step``: (bytes or None, how it was measured)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, "torch.cuda.max_memory_allocated"
    status = Path("/proc/self/status")
    if not status.is_file():
        return None, "not measured (no /proc/self/status)"
    before = _status_kib(status, "VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")     # reset the peak resident set (VmHWM)
        how = "peak RSS growth (VmHWM reset)"
    except OSError:
        how = "peak RSS growth (VmHWM not resettable: an upper bound of earlier peaks)"
    step()
    return (_status_kib(status, "VmHWM") - before) * 1024, how


def _status_kib(status: Path, field: str) -> int:
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{status} has no {field} line")


def format_report(device: torch.device, batch: int, rows: list[Row], peak) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"
    lines = [f"device {device} ({name}), batch {batch}, torch {torch.__version__}"]
    for row in rows:
        value = f"{row.poses_per_s:10.0f} poses/s" if row.poses_per_s is not None else " " * 17
        lines.append(f"  {row.name:18s} {value}  {row.note}".rstrip())
    size, how = peak
    text = f"{size / 2**20:.0f} MiB" if size is not None else "n/a"
    lines.append(f"  peak memory of one training step (batch {batch}): {text} [{how}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmdiff bench", description="poses/s of the models and "
                                 "of the full predict pipeline, and training-step peak memory")
    ap.add_argument("--batch", type=int, default=1024, help="poses per call (default 1024)")
    ap.add_argument("--device", default="all",
                    help="cpu, cuda, cuda:N, or all (CPU and, when present, CUDA; default)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (best is kept)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = default)")
    ap.add_argument("--kind", default="mmdiff", choices=["mmdiff", "diffpose"],
                    help="denoiser to time (default mmdiff)")
    ap.add_argument("--reference", metavar="DIR", default=None,
                    help="instead, time the kit side by side with the reference implementation, "
                         "imported from a checkout of jjkislele/monoMotionDiff at DIR (needs "
                         "einops)")
    args = ap.parse_args(argv)
    if args.batch < 1 or args.repeats < 1 or args.threads < 0:
        ap.error("--batch and --repeats must be positive and --threads >= 0")
    set_threads(args.threads)
    keep_freed_memory()                       # as the CLI does (see mmdiff/cpu.py)
    if args.reference is not None:
        load_reference(args.reference)        # fail now, not after the kit's own rows
    if args.device == "all":
        devices = [torch.device("cpu")]
        if torch.cuda.is_available():
            devices.append(torch.device("cuda"))
    else:
        devices = [torch.device(args.device)]
        if devices[0].type == "cuda" and not torch.cuda.is_available():
            ap.error("--device cuda: CUDA is not available on this machine")
    for device in devices:
        rows, peak, versus = bench_device(device, args.batch, args.repeats, args.kind,
                                          args.reference)
        if versus:                            # --reference: the side-by-side table only
            print(f"device {device}, batch {args.batch}, torch {torch.__version__}\n{versus}",
                  flush=True)
        else:
            print(format_report(device, args.batch, rows, peak), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
