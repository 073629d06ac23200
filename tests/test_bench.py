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
