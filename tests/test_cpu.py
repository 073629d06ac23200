"""CPU process settings: glibc keeps freed memory for reuse, thread counts."""
import subprocess
import sys

import pytest
import torch

from mmdiff.engine.cpu import set_threads
from mmdiff.errors import ConfigError

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")
def test_keep_freed_memory_is_applied_on_glibc():
    """The setting reaches glibc (both mallopt calls succeed). Its effect, page faults and time
    per denoiser forward, is a benchmark figure: `mmdiff bench --kernels` prints it."""
    out = subprocess.run([sys.executable, "-c", "from mmdiff.engine.cpu import keep_freed_memory; "
                          "print(keep_freed_memory())"], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "True"


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
