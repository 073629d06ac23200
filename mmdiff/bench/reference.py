"""``mmdiff bench --reference DIR``: the kit side by side with the reference implementation.

The reference (a checkout of github.com/jjkislele/monoMotionDiff; it needs ``einops``) is imported
from DIR at run time, in the same process, on the same weights and inputs; runs alternate so that
load from other processes hits both alike. The reference runs in float32 (it has no mixed
precision); the kit in each precision of ``--precision`` (fp32, and bf16 when asked), and with
``--compile`` its denoiser compiled for inference in the last of them. The predict
row drives the reference's networks with the kit's pipeline (lifter, DDIM 2 of 12, flip TTA, the
CPU chunks). No reference code is part of this kit.
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch

from mmdiff.bench.roofline import count_flops, peak_lines, roofline_columns
from mmdiff.bench.timing import alternate_many, training_step_fn
from mmdiff.errors import ConfigError
from mmdiff.models.kernels import compile_for_inference
from mmdiff.pipeline import Pipeline, denoise
from mmdiff.engine.precision import autocast
from mmdiff.models.mmdiff import cross_channel_edges
from mmdiff.skeleton import EDGES_17


def load_reference(path: str | Path):
    """The reference lifter and MMDiff denoiser classes, imported from a checkout at ``path``.

    Returns (GraFormer class, DiffModel class, adj_mx_from_edges function) of
    ``models/backbone/GraFormer.py`` and ``models/model.py`` there.
    """
    root = Path(path).expanduser().resolve()
    if not (root / "models" / "model.py").is_file():
        raise ConfigError(f"--reference {root}: no models/model.py (expected a checkout of "
                          "jjkislele/monoMotionDiff)")

    def theirs(name):                     # the checkout's top-level package is named "models"
        return name == "models" or name.startswith("models.")

    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if theirs(name)}
    sys.path.insert(0, str(root))
    try:
        from models.backbone.GraFormer import GraFormer as RefGraFormer
        from models.model import DiffModel, adj_mx_from_edges
    except ImportError as err:
        raise ConfigError(f"--reference {root}: cannot import the reference models ({err}); "
                          "it needs einops and scipy (pip install einops scipy)") from err
    finally:                              # leave sys.path and sys.modules as they were
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if theirs(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
    return RefGraFormer, DiffModel, adj_mx_from_edges


def reference_rows(path, lifter, denoiser, x_t, pose_2d, t, target, repeats: int,
                   precisions=("fp32",), compiled: bool = False):
    """Time the reference (float32, as it is written) beside the kit's models in each of
    ``precisions`` (same weights, inputs, device).

    Returns (rows, diffs): rows (name, reference poses/s, kit poses/s per precision...) for the
    lifter forward, denoiser forward, training step and predict (flip TTA; the reference's
    networks driven by the kit's pipeline), and per precision the largest |reference - kit| of
    the lifter and denoiser outputs. The variants of a row run in turn after a warm-up each.
    With ``compiled`` one more column, "<last precision> compiled": a copy of the denoiser
    compiled for inference (:func:`mmdiff.models.kernels.compile_for_inference`), timed in the
    denoiser forward and predict rows (nan in the others: the training step is eager).
    """
    RefGraFormer, DiffModel, adj_from_edges = load_reference(path)
    device, batch = x_t.device, x_t.shape[0]
    cfg, lcfg = denoiser.cfg, lifter.cfg
    if getattr(denoiser, "kind", "") != "mmdiff":
        raise ConfigError("--reference compares the MMDiff denoiser; use --kind mmdiff")
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
    ref_lift = _Called(ref_lifter, lambda p: ref_lifter(p, mask))
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def lift(p):
        def run():
            with autocast(device, p):
                return lifter(pose_2d).float()
        return run

    # (denoiser, precision) of each kit column of the denoiser forward and predict rows
    variants = [(denoiser, p) for p in precisions]
    if compiled:
        fast = compile_for_inference(copy.deepcopy(denoiser).eval())
        variants.append((fast, precisions[-1]))
    nan = [float("nan")] * (len(variants) - len(precisions))         # rows without the copy
    rows, diffs = [], {}
    with torch.no_grad():
        for p in precisions:
            diffs[p] = max((ref_lift(pose_2d) - lift(p)()).abs().max().item(),
                           (ref_eps(x_t, pose_2d, t) - denoise(denoiser, x_t, pose_2d, t, p))
                           .abs().max().item())
        if compiled:
            diffs[f"{precisions[-1]} compiled"] = (
                ref_eps(x_t, pose_2d, t) - denoise(fast, x_t, pose_2d, t, precisions[-1])
            ).abs().max().item()
        rows.append(("lifter forward", *alternate_many(
            [lambda: ref_lift(pose_2d)] + [lift(p) for p in precisions], repeats, sync), *nan))
        rows.append(("denoiser forward", *alternate_many(
            [lambda: ref_eps(x_t, pose_2d, t)]
            + [(lambda m, p: lambda: denoise(m, x_t, pose_2d, t, p))(m, p) for m, p in variants],
            repeats, sync)))
    ref_den_called = _Called(ref_den, ref_eps)
    steps = [training_step_fn(ref_den_called, x_t, pose_2d, t, target)]
    steps += [training_step_fn(denoiser, x_t, pose_2d, t, target, p) for p in precisions]
    rows.append(("training step", *alternate_many(steps, repeats, sync), *nan))
    ref_den.eval(), denoiser.eval()
    rows.append(("predict, flip", *alternate_many(
        [lambda: Pipeline.paper(ref_lift, ref_den_called).sample_batch(pose_2d)]
        + [(lambda m, p: lambda: Pipeline.paper(lifter, m, precision=p).sample_batch(pose_2d))(m, p)
           for m, p in variants], repeats, sync)))
    denoiser.eval()
    return [(name, *(batch / s for s in seconds)) for name, *seconds in rows], diffs


class _Called(torch.nn.Module):
    """A reference network behind the kit's call signature (lifter(pose_2d), denoiser
    eps(x_t, pose_2d, t))."""

    def __init__(self, module, call):
        super().__init__()
        self.module, self.call = module, call

    def forward(self, *args):
        return self.call(*args)


def row_flops(lifter, denoiser, x_t, pose_2d, t, target) -> dict[str, float]:
    """Matrix-product FLOPs per pose of each row of :func:`reference_rows`, counted on the kit's
    models in fp32 (the reference computes the same products: same layers, same sizes)."""
    batch = x_t.shape[0]
    step = training_step_fn(denoiser, x_t, pose_2d, t, target)
    with torch.no_grad():
        forward = {"lifter forward": count_flops(lambda: lifter(pose_2d)),
                   "denoiser forward": count_flops(lambda: denoise(denoiser, x_t, pose_2d, t)),
                   "predict, flip": count_flops(
                       lambda: Pipeline.paper(lifter, denoiser).sample_batch(pose_2d))}
    flops = {**forward, "training step": count_flops(step)}
    lifter.eval(), denoiser.eval()
    return {name: f / batch for name, f in flops.items()}


def format_reference(rows, diffs: dict[str, float], gemm: dict[str, float] | None = None,
                     flops: dict[str, float] | None = None) -> str:
    """The side-by-side table: poses/s of the reference (fp32) and of the kit per precision, and
    the kit's ratios to the reference; with ``gemm`` (GEMM peak FLOP/s per precision) and
    ``flops`` (per pose, per row: :func:`row_flops`) each row's FLOP/s and share of the peak of
    its column's precision (the reference's: fp32)."""
    precisions = list(diffs)
    what = ", ".join(f"{p} {d:.1e}" for p, d in diffs.items())
    lines = [f"  side by side with the reference (max |output difference| {what}):",
             f"  {'poses/s':18s} {'reference':>10s}"
             + "".join(f" {'mmdiff ' + p:>12s}" for p in precisions)
             + "".join(f" {p + ' ratio':>11s}" for p in precisions)]
    for name, ref, *kit in rows:                         # nan: not timed in that column
        lines.append(f"  {name:18s} {ref:10.0f}"
                     + "".join(f" {'-':>12s}" if k != k else f" {k:12.0f}" for k in kit)
                     + "".join(f" {'-':>11s}" if k != k else f" {k / ref:10.2f}x" for k in kit))
    if gemm and flops:
        lines += [f"  {ln.strip()}" for ln in peak_lines(gemm, "this device")]
        lines.append("  FLOP/s and share of the GEMM peak: reference | "
                     + " | ".join(f"mmdiff {p}" for p in precisions))
        for name, ref, *kit in rows:
            peaks = {p: gemm[p.split()[0]] for p in precisions}   # "bf16 compiled": bf16's
            ref_part = roofline_columns({"fp32": ref}, flops.get(name), {"fp32": gemm["fp32"]})
            kit_part = roofline_columns(dict(zip(precisions, kit)), flops.get(name), peaks)
            lines.append(f"  {name:18s}{ref_part} |{kit_part.split(':', 1)[-1]}")
    return "\n".join(lines)
