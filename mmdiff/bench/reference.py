"""``mmdiff bench --reference DIR``: the kit side by side with the reference implementation.

The reference (a checkout of github.com/jjkislele/monoMotionDiff; it needs ``einops``) is imported
from DIR at run time, in the same process, on the same weights and inputs; runs alternate so that
load from other processes hits both alike. No reference code is part of this kit.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from mmdiff.bench.timing import alternate, training_step_fn
from mmdiff.errors import ConfigError
from mmdiff.inference import denoise
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
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    with torch.no_grad():
        diff = max((ref_lifter(pose_2d, mask) - lifter(pose_2d)).abs().max().item(),
                   (ref_eps(x_t, pose_2d, t) - denoise(denoiser, x_t, pose_2d, t)).abs().max()
                   .item())
        rows.append(("lifter forward", *alternate(lambda: ref_lifter(pose_2d, mask),
                                                  lambda: lifter(pose_2d), repeats, sync)))
        rows.append(("denoiser forward", *alternate(lambda: ref_eps(x_t, pose_2d, t),
                                                    lambda: denoise(denoiser, x_t, pose_2d, t),
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


def format_reference(rows, diff: float) -> str:
    lines = [f"  side by side with the reference (max |output difference| {diff:.1e}):",
             f"  {'':18s} {'reference':>10s} {'mmdiff':>10s}  ratio"]
    for name, ref, kit in rows:
        lines.append(f"  {name:18s} {ref:10.0f} {kit:10.0f}  {kit / ref:4.2f}x  poses/s")
    return "\n".join(lines)
