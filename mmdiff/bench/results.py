"""``mmdiff bench --write``: the figures a benchmark printed, kept in a markdown results file.

Measurements belong to a machine and a day, not to the code: docstrings and comments say what
is computed and why, and the numbers live here, each run under a heading that records how it
was made. A section of the file (newest last)::

    ## <YYYY-MM-DD HH:MM> UTC: `mmdiff bench <options>`

    - torch <version>, <N> threads
    - machine: <OS>, <architecture>, <CPU model> (<N> logical CPUs); CUDA: <GPU names or none>

    ```text
    <what the benchmark printed>
    ```
"""
from __future__ import annotations

import contextlib
import datetime
import io
import os
import platform
import shlex
import sys
from pathlib import Path

import torch

from mmdiff.engine.atomic import write_atomic

#: where ``--write`` without a path puts the figures (relative to the working directory, which
#: for ``make bench`` is the repository root)
DEFAULT_PATH = Path("benchmarks") / "RESULTS.md"
HEADER = """# Benchmark results

Written by `mmdiff bench --write` (mmdiff/bench/results.py): one section per run, newest last,
with the command, the date, the torch version, the threads and the machine. Figures from
different machines, thread counts or torch versions are not comparable.
"""


class _Tee(io.TextIOBase):
    """A text stream that writes to several streams at once."""

    def __init__(self, *streams):
        super().__init__()
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def recorded_stdout():
    """Print as usual and also collect what is printed: ``with recorded_stdout() as buf``,
    then ``buf.getvalue()``."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, buf)):
        yield buf


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """One line on the hardware: OS, architecture, CPU model and count, CUDA devices."""
    cuda = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) \
        if torch.cuda.is_available() else "none"
    return (f"{platform.platform(terse=True)}, {platform.machine()}, {_cpu_model()} "
            f"({os.cpu_count()} logical CPUs); CUDA: {cuda}")


def section(argv: list[str], printed: str, now: datetime.datetime | None = None) -> str:
    """The markdown section of one run: heading (date, command), environment, the output."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    command = shlex.join(["mmdiff", "bench", *argv])
    return (f"## {now:%Y-%m-%d %H:%M} UTC: `{command}`\n\n"
            f"- torch {torch.__version__}, {torch.get_num_threads()} threads\n"
            f"- machine: {machine()}\n\n"
            f"```text\n{printed.rstrip()}\n```\n")


def append(path, argv: list[str], printed: str) -> Path:
    """Add the section of one run at the end of the results file ``path`` (created, with a
    header, when missing; written atomically). Returns the path."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    text = old.rstrip("\n") + "\n\n" + section(argv, printed)
    return write_atomic(path, lambda f: f.write(text.encode("utf-8")))
