"""mmdiff bench --write: the printed figures land in a markdown results file with the command,
date, torch version, threads and machine (the figures themselves are not checked)."""
from __future__ import annotations

import re

import pytest
import torch

from mmdiff import bench
from mmdiff.bench import results


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_bench_write_appends_the_printed_rows(tmp_path, capsys, restore_threads):
    path = tmp_path / "out" / "RESULTS.md"                      # the folder is made
    argv = ["--device", "cpu", "--batch", "2", "--repeats", "1", "--threads", "1",
            "--write", str(path)]
    assert bench.main(argv) == 0
    printed = capsys.readouterr().out
    text = path.read_text()
    assert text.startswith(results.HEADER)
    assert f"`mmdiff bench {' '.join(argv)}`" in text
    assert re.search(r"^## \d{4}-\d\d-\d\d \d\d:\d\d UTC: ", text, re.M)
    assert f"- torch {torch.__version__}, 1 threads" in text and "- machine: " in text
    for name in ("lifter forward", "denoiser forward", "training step", "predict, no flip",
                 "predict, flip", "peak memory of one training step"):
        row = next(line for line in printed.splitlines() if line.strip().startswith(name))
        assert row in text                                      # the very row that was printed
    assert f"figures appended to {path}" in printed


def test_results_append_keeps_earlier_runs(tmp_path):
    path = tmp_path / "RESULTS.md"
    results.append(path, ["--kernels"], "first run\n")
    results.append(path, ["--batch", "8"], "second run\n")
    text = path.read_text()
    assert text.count(results.HEADER) == 1 and text.count("\n## ") == 2
    assert text.index("first run") < text.index("`mmdiff bench --batch 8`") < text.index("second")
    assert "```text\nsecond run\n```\n" in text


def test_write_without_a_path_uses_the_default():
    args = bench.build_parser().parse_args(["--write"])
    assert args.write == str(results.DEFAULT_PATH)
    assert bench.build_parser().parse_args([]).write is None     # off unless asked
