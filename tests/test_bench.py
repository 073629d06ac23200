"""Smoke test of mmdiff.bench: it runs and reports every row (figures are not checked here;
speed is measured by running the benchmark, never by timed unit tests)."""
from __future__ import annotations

import pytest
import torch

from mmdiff import bench


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("via_cli", [False, True])
def test_bench_reports_every_row_on_cpu(capsys, restore_threads, via_cli):
    # one thread: tiny batches are slowed down by thread hand-offs on a shared CPU
    argv = ["--device", "cpu", "--batch", "4", "--repeats", "1", "--threads", "1"]
    if via_cli:                                                 # mmdiff bench <bench options>
        from mmdiff.cli import main
        assert main(["bench", *argv]) == 0
    else:
        assert bench.main(argv) == 0
    out = capsys.readouterr().out
    for name in ("lifter forward", "denoiser forward", "training step", "predict, no flip",
                 "predict, flip", "peak memory of one training step (batch 4)"):
        assert name in out
    assert "poses/s" in out and "device cpu (CPU, 1 threads)" in out


def test_bench_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--batch", "0"])


STAND_IN = {   # a stand-in for a reference checkout: the kit's own models behind its signatures
    "models/__init__.py": "",
    "models/backbone/__init__.py": "",
    "models/model.py": """
import torch
from mmdiff.models import DenoiserConfig, MMDiffDenoiser

def adj_mx_from_edges(num_pts, edges, sparse=True):
    assert edges.shape[1] == 2 and num_pts in (17, 34)
    return torch.eye(num_pts)

class DiffModel(MMDiffDenoiser):
    def __init__(self, adj_2d3d, adj_ctx, hid_dim, coords_dim, num_layers, n_head, dropout, n_pts):
        super().__init__(DenoiserConfig(hid_dim=hid_dim, num_layers=num_layers, n_head=n_head,
                                        dropout=dropout))

    def forward(self, x, guide, mask, t):
        assert x.shape[1] == 1 and mask.dtype == torch.bool
        return super().forward(x, guide, t)
""",
    "models/backbone/GraFormer.py": """
from mmdiff.models import GraFormer as KitGraFormer, GraFormerConfig

class GraFormer(KitGraFormer):
    def __init__(self, adj, hid_dim, num_layers, n_head, dropout, n_pts):
        super().__init__(GraFormerConfig(hid_dim=hid_dim, num_layers=num_layers, n_head=n_head,
                                         dropout=dropout))

    def forward(self, x, mask):
        return super().forward(x)
""",
}


def test_bench_side_by_side_with_a_reference_checkout(tmp_path, capsys, restore_threads):
    for rel, text in STAND_IN.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    argv = ["--device", "cpu", "--batch", "4", "--repeats", "1", "--threads", "1",
            "--reference", str(tmp_path)]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "side by side with the reference (max |output difference| 0.0e+00)" in out
    assert "predict" not in out                              # the comparison only
    for name in ("lifter forward", "denoiser forward", "training step"):
        assert sum(name in line and line.rstrip().endswith("x  poses/s")
                   for line in out.splitlines()) == 1
    import sys
    assert not any(name == "models" for name in sys.modules)          # import left no trace


def test_bench_reference_must_be_a_checkout(tmp_path):
    with pytest.raises(SystemExit, match="models/model.py"):
        bench.main(["--device", "cpu", "--batch", "2", "--repeats", "1",
                    "--reference", str(tmp_path)])
