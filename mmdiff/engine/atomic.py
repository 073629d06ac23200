"""Atomic file writes: nothing half-written is ever left at the destination.

A crash, a full disk or Ctrl-C during a write leaves the previous file (or none) in place: the
data goes to a temporary file in the destination folder, is flushed to disk, and only then
renamed over the destination (``os.replace`` is atomic on POSIX and Windows).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def write_atomic(path, write: Callable[[BinaryIO], None], mode: int = 0o644) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then rename it to ``path``.

    The file gets permissions ``mode`` (tempfile would leave 0600). Returns ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
