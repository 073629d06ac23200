"""CPU process settings for the command-line tools: threads and the memory allocator.

PyTorch's CPU allocator has no cache of its own: every tensor is a ``malloc`` and every free a
``free``. With glibc's default settings, a freed block of a few MB is handed back to the
operating system (trimmed from the heap top, or unmapped), and the next tensor of that size
faults its pages in again and has them zeroed. A denoiser forward pass at batch 1024 allocates
activations of 3 to 27 MB hundreds of times, so these page faults are a sizeable share of its
time (``mmdiff bench --kernels`` counts them with and without). :func:`keep_freed_memory` tells
glibc to keep freed memory for reuse; the cost is that the process keeps its peak heap size
until it exits.

Nothing here runs on import: ``mmdiff`` as a library leaves the process as it found it. The CLI
(``mmdiff ...``) and ``python -m mmdiff.bench`` call these at start-up.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

from mmdiff.errors import ConfigError

M_TRIM_THRESHOLD = -1   # glibc mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's largest allowed mmap threshold on 64-bit systems


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse: blocks up to 32 MiB come from the heap (not
    fresh mappings), and the heap is trimmed only once more than 2 GiB at its top are free.
    Returns True when applied, False where the C library is not glibc (macOS, Windows, musl),
    where it does nothing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1
    return mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1 and ok


def set_threads(threads: int) -> None:
    """Use ``threads`` CPU threads for torch's intra-op work (0 keeps torch's default, one per
    core). Two torch processes that each use all the cores slow each other down many times over
    (their threads wait on one another); give each its share."""
    if threads < 0:
        raise ConfigError(f"threads must be >= 0, got {threads}")
    if threads:
        import torch                      # here: ``mmdiff --help`` need not load torch
        torch.set_num_threads(threads)
