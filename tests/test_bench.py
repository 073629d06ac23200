"""Smoke test of mmdiff.bench: it runs and reports every row (figures are not checked here;
speed is measured by running the benchmark, never by timed unit tests)."""
from __future__ import annotations

import re
import sys

import pytest
import torch

from mmdiff import bench

from conftest import REFERENCE_FIXTURE


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
                 "predict, flip", "peak memory of one training step (batch 4, fp32)"):
        assert name in out
    assert "poses/s" in out and "device cpu (CPU, 1 threads)" in out


def test_bench_precision_bf16_adds_a_column_and_its_ratio(capsys, restore_threads):
    argv = ["--device", "cpu", "--batch", "4", "--repeats", "1", "--threads", "1",
            "--precision", "bf16"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert re.search(r"poses/s\s+fp32\s+bf16\s+bf16/fp32", out)
    rows = [line for line in out.splitlines() if re.search(r"\d\.\d\dx", line)]
    assert len(rows) == 5                                    # every row has its bf16 / fp32 ratio
    assert "(batch 4, bf16)" in out


def test_bench_profile_splits_a_step_by_phase_group_and_op(capsys, restore_threads):
    """--profile: the phases and the groups each add up to the step's op time; the matrix
    products are found (with the FLOP/s they reach) and the top ops are listed per precision."""
    from mmdiff.bench.profile import group_of, group_totals, step_profile
    from mmdiff.bench.throughput import released_models
    from mmdiff.bench.timing import make_inputs, training_step_fn
    from mmdiff.config import load_config
    assert [group_of(n) for n in ("aten::mm", "aten::bmm", "aten::native_layer_norm",
                                  "aten::copy_", "aten::view")] == \
        ["matrix products", "matrix products", "normalisation", "elementwise", "other"]
    torch.set_num_threads(1)
    _, denoiser = released_models(torch.device("cpu"), "mmdiff", load_config("demo"))
    prof = step_profile(training_step_fn(denoiser, *make_inputs(8, torch.device("cpu"))), 1)
    total = sum(r.ms for r in prof.ops)
    assert sum(prof.phases.values()) == pytest.approx(total, rel=1e-6)
    assert all(prof.phases[k] > 0 for k in ("forward", "backward", "optimiser"))
    assert sum(ms for ms, _ in group_totals(prof.ops).values()) == pytest.approx(total)
    assert group_totals(prof.ops)["matrix products"][0] > 0
    assert bench.main(["--profile", "--config", "demo", "--batch", "8", "--repeats", "1",
                       "--threads", "1", "--precision", "bf16"]) == 0
    out = capsys.readouterr().out
    assert out.count("one training step, batch 8") == 2 and "phases: forward" in out
    assert re.search(r"matrix products .* GFLOP/s in them", out) and "top 15 ops:" in out


def test_bench_jobs_times_processes_against_threads():
    """--jobs: N one-thread processes at once and one N-thread process, the same steps each
    way; both throughputs are measured and the report gives their ratio."""
    from mmdiff.bench.jobs import format_jobs, jobs_rows
    rows = jobs_rows(jobs=2, steps=2, batch=8, config="demo")
    assert rows["parallel"] > 0 and rows["threaded"] > 0 and rows["parallel_wall_s"] > 0
    text = format_jobs(rows, 2, 2, 8, "demo", "fp32")
    assert "2 single-thread processes at once" in text and "one 2-thread process" in text
    assert f"{rows['parallel'] / rows['threaded']:.2f}x" in text
    with pytest.raises(SystemExit):
        bench.main(["--jobs", "-1"])


def test_bench_rejects_fp16_on_the_cpu(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--device", "cpu", "--batch", "2", "--repeats", "1", "--precision", "fp16"])
    assert "fp16 needs a CUDA device" in capsys.readouterr().err


def test_bench_rejects_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--batch", "0"])


STAND_IN = {   # a stand-in for a reference checkout, with the reference's import paths and call
    # signatures but NOT the kit's models: it records the weights it is given and answers with a
    # known, different output, so the test can check what the bench loads, calls and compares
    "models/__init__.py": "",
    "models/backbone/__init__.py": "",
    "models/model.py": """
import torch

LOADED = {}

def adj_mx_from_edges(num_pts, edges, sparse=True):
    assert edges.shape[1] == 2 and num_pts in (17, 34) and not sparse
    return torch.eye(num_pts)

class _Recorder(torch.nn.Module):
    def __init__(self, name, **kw):
        super().__init__()
        self.name, self.kw = name, kw
        self.w = torch.nn.Parameter(torch.zeros(()))

    def load_state_dict(self, state, strict=True):
        LOADED[self.name] = (sorted(state), self.kw)

class DiffModel(_Recorder):
    def __init__(self, adj_2d3d, adj_ctx, hid_dim, coords_dim, num_layers, n_head, dropout, n_pts):
        super().__init__("denoiser", hid_dim=hid_dim, n_pts=n_pts, coords_dim=coords_dim)

    def forward(self, x, guide, mask, t):
        assert x.shape[1] == 1 and guide.shape[1] == 1 and mask.dtype == torch.bool
        return torch.full_like(x, 7.0) + 0 * self.w        # a known answer, not the kit's
""",
    "models/backbone/GraFormer.py": """
import torch
from models.model import _Recorder

class GraFormer(_Recorder):
    def __init__(self, adj, hid_dim, num_layers, n_head, dropout, n_pts):
        super().__init__("lifter", hid_dim=hid_dim, n_pts=n_pts)

    def forward(self, x, mask):
        return torch.zeros(x.shape[:-1] + (3,))
""",
}


def _stand_in(folder):
    for rel, text in STAND_IN.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)


def test_bench_side_by_side_with_a_reference_checkout(tmp_path, restore_threads):
    """The bench imports the checkout at DIR (not the kit), times both and reports the true
    difference of their outputs; the import leaves no trace in sys.modules."""
    from mmdiff.bench.reference import reference_rows
    from mmdiff.bench.throughput import released_models
    from mmdiff.bench.timing import make_inputs
    _stand_in(tmp_path)
    torch.set_num_threads(1)
    lifter, denoiser = released_models(torch.device("cpu"))
    x_t, pose_2d, t, target = make_inputs(4, torch.device("cpu"))
    with torch.no_grad():                        # the stand-in answers 0 (lifter) and 7 (eps)
        expected = max(lifter(pose_2d).abs().max().item(),
                       (denoiser(x_t, pose_2d, t) - 7).abs().max().item())
    rows, diffs = reference_rows(tmp_path, lifter, denoiser, x_t, pose_2d, t, target, repeats=1,
                                 precisions=("fp32", "bf16"))
    assert diffs["fp32"] == pytest.approx(expected, rel=1e-6) and diffs["fp32"] > 0.1
    assert diffs["bf16"] == pytest.approx(expected, rel=0.05)   # bf16's rounding only
    assert [name for name, *_ in rows] == ["lifter forward", "denoiser forward", "training step",
                                           "predict, flip"]
    assert all(len(row) == 4 and all(v > 0 for v in row[1:]) for row in rows)
    from mmdiff.bench.reference import format_reference
    table = format_reference(rows, diffs)
    assert "mmdiff fp32" in table and "mmdiff bf16" in table and "bf16 ratio" in table
    assert not any(name == "models" or name.startswith("models.") for name in sys.modules)


def test_bench_reference_loads_the_released_layout_into_the_checkout(tmp_path):
    """The state dicts handed to the reference classes carry the released keys and sizes."""
    from mmdiff.bench.reference import reference_rows
    from mmdiff.bench.throughput import released_models
    from mmdiff.bench.timing import make_inputs
    _stand_in(tmp_path)
    model_py = tmp_path / "models" / "model.py"                  # record into builtins
    model_py.write_text(model_py.read_text().replace(
        "LOADED = {}", "import builtins\nLOADED = builtins.__dict__.setdefault('_mmdiff_stand_in', {})"))
    lifter, denoiser = released_models(torch.device("cpu"))
    reference_rows(tmp_path, lifter, denoiser, *make_inputs(2, torch.device("cpu")), repeats=1)
    import builtins
    loaded = builtins.__dict__.pop("_mmdiff_stand_in")
    table = (REFERENCE_FIXTURE / "mmdiff_denoiser_state_dict.tsv").read_text().splitlines()
    released = sorted(line.split("\t")[0] for line in table if line.strip())
    assert loaded["denoiser"][0] == released
    assert loaded["denoiser"][1] == {"hid_dim": 96, "n_pts": 34, "coords_dim": (3, 3)}
    assert loaded["lifter"][1] == {"hid_dim": 96, "n_pts": 17}


def test_bench_reference_must_be_a_checkout(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(["--device", "cpu", "--batch", "2", "--repeats", "1",
                    "--reference", str(tmp_path)])
    assert stop.value.code == 2 and "models/model.py" in capsys.readouterr().err


def test_bench_kernels_report(capsys, restore_threads, monkeypatch):
    """--kernels prints every fast layer against its plain parent (training in fp32 and bf16,
    evaluation in fp32) with the ratio and the difference, the chunked denoiser and the
    allocator rows (tiny sizes here: the figures are not checked)."""
    from mmdiff.bench import kernels
    from mmdiff.models.kernels import FAST
    monkeypatch.setattr(kernels, "B", 8)
    monkeypatch.setattr(kernels, "allocator_rows", lambda: [("glibc defaults", 123, 4.5)])
    assert bench.main(["--kernels", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("dropout", "layer norm", "attention", "Chebyshev", "learned-graph fc 96->192",
                 "learned-graph fc 192->96", "node fc", "chunks of 192", "glibc defaults"):
        assert name in out
    rows = {line.split("  ")[1].strip(): line.split()[-1] for line in out.splitlines()
            if re.search(r"\d\.\d\dx  ", line)}
    cases = kernels.layer_cases()
    assert {type(layer) for _, layer, _ in cases} == set(FAST)   # every fast form has a row
    assert len(rows) == 3 * len(cases) - 1 + 1             # (dropout: no eval row) + chunks
    assert rows["dropout p=0.1, bf16 fwd+bwd"] == "(random)"
    assert all(float(d) < (0.1 if "bf16" in name else 1e-4)
               for name, d in rows.items() if "dropout" not in name)


def test_reference_table_marks_untimed_cells():
    """The compiled column is timed only in the inference rows; the others show '-'."""
    from mmdiff.bench.reference import format_reference
    nan = float("nan")
    table = format_reference([("training step", 10.0, 20.0, 30.0, nan),
                              ("denoiser forward", 10.0, 20.0, 30.0, 50.0)],
                             {"fp32": 1e-5, "bf16": 0.2, "bf16 compiled": 0.2})
    lines = table.splitlines()
    assert "mmdiff bf16 compiled" in lines[1]
    assert lines[2].split()[-2:] == ["3.00x", "-"] and lines[3].split()[-1] == "5.00x"
    assert "nan" not in table


def test_ablate_rows_swap_through_accelerate():
    """Each --ablate row is the denoiser with exactly one kind of layer left plain (the last:
    all plain), made by the switch itself; the kit's step has every fast form."""
    import copy
    from mmdiff.bench import ablate
    from mmdiff.models import DenoiserConfig, accelerate, build_denoiser
    from mmdiff.models.kernels import FAST
    plain = build_denoiser(DenoiserConfig(hid_dim=16, emd_dim=8, num_layers=2, n_head=2),
                           fast=False)
    rows = ablate.variants()
    assert list(rows) == [c.__name__ for c in FAST] + [ablate.ALL_PLAIN]
    for name, only in rows.items():
        kinds = {type(m) for m in accelerate(copy.deepcopy(plain), only=only).modules()}
        left_plain = {c.__name__ for c in FAST if c in kinds}
        assert left_plain == ({name} if name != ablate.ALL_PLAIN else {c.__name__ for c in FAST})
        assert {FAST[c] for c in only} <= kinds


def test_bench_ablate_report(capsys, restore_threads):
    from mmdiff.models.kernels import FAST
    assert bench.main(["--ablate", "--batch", "4", "--repeats", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.search(r"\d\.\d{3}x$", line)]
    assert len(rows) == len(FAST) + 1 and "LayerNorm" in out and "(all plain)" in out


def test_roofline_counts_matrix_products_and_divides_by_the_peak():
    """count_flops: 2 m k n per product, the backward's two products too; the share of the
    peak is achieved FLOP/s over it."""
    from mmdiff.bench.roofline import count_flops, gemm_peak, roofline, roofline_columns
    layer, x = torch.nn.Linear(8, 4), torch.randn(3, 8, requires_grad=True)
    assert count_flops(lambda: layer(x)) == 2 * 3 * 8 * 4
    assert count_flops(lambda: layer(x).sum().backward()) == 3 * (2 * 3 * 8 * 4)
    assert roofline(100.0, 1e6, 1e9) == pytest.approx((1e8, 0.1))
    text = roofline_columns({"fp32": 100.0, "bf16": float("nan")}, 1e6, {"fp32": 1e9})
    assert "1.00 MFLOP/pose" in text and "0.1 GFLOP/s  10%" in text and text.endswith("| -")
    assert 0 < gemm_peak("fp32", "cpu", (64, 32, 16), repeats=1) < float("inf")


def test_bench_config_sizes_with_flops_and_share_of_the_peak(capsys, restore_threads):
    argv = ["--device", "cpu", "--config", "demo", "--batch", "4", "--repeats", "1",
            "--threads", "1"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "model sizes of demo" in out and "GEMM peak (fp32, 2048^3" in out
    assert "GEMM at the model's shape (fp32, 136 x 64 @ 64 x 64)" in out    # 4 poses x 34 nodes
    assert len(re.findall(r"MFLOP/pose: +[\d.]+ GFLOP/s +\d+%", out)) == 5
    assert bench.main(argv + ["--no-peak"]) == 0
    assert "MFLOP/pose" not in capsys.readouterr().out


def test_reference_table_with_flops_gives_each_column_its_peak():
    from mmdiff.bench.reference import format_reference
    table = format_reference([("training step", 10.0, 20.0, 40.0)], {"fp32": 0.0, "bf16": 0.1},
                             {"fp32": 1e9, "bf16": 4e9}, {"training step": 1e7})
    row = table.splitlines()[-1]
    # reference 10 poses/s x 10 MFLOP = 0.1 GFLOP/s = 10 % of fp32; bf16 40 x 10 M = 10 % of 4e9
    assert row.count("10%") == 2 and "0.1 GFLOP/s" in row and "0.2 GFLOP/s  20%" in row
