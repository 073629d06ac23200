"""CPU process settings: glibc keeps freed memory (no page faults on reuse), thread counts."""
import subprocess
import sys

import pytest
import torch

from mmdiff.cpu import keep_freed_memory, set_threads
from mmdiff.errors import ConfigError

FAULTS = """
import resource, sys, torch
from mmdiff.cpu import keep_freed_memory
from mmdiff.models import MMDiffDenoiser
applied = keep_freed_memory() if sys.argv[1] == "on" else None
torch.manual_seed(0)
model = MMDiffDenoiser().eval()                  # released size, batch 1024, as in mmdiff bench
x, c, t = torch.randn(1024, 17, 5), torch.rand(1024, 17, 2), torch.randint(0, 51, (1024,))
with torch.no_grad():
    model(x, c, t)                               # warm up: the heap grows once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model(x, c, t)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_keep_freed_memory_reuses_pages_without_faults():
    applied, faults = page_faults("on")
    assert applied == "True"
    assert faults < 10_000              # glibc defaults: 50,000 to 100,000 per pass here


def test_set_threads_and_bad_count():
    before = torch.get_num_threads()
    try:
        set_threads(1)
        assert torch.get_num_threads() == 1
        set_threads(0)                                                  # 0: leave as is
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ConfigError, match="threads"):
        set_threads(-1)


def test_cli_threads_option(capsys):
    from mmdiff.cli import main
    assert main(["--threads", "-2", "data", "synth", "--out", "/nonexistent"]) == 2
    assert "--threads" in capsys.readouterr().err
