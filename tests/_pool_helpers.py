"""Functions the spawned processes of mmdiff.study.run_pool import in tests."""
from __future__ import annotations

import time
from pathlib import Path


def mark(folder: str, i: int) -> int:
    """Write <folder>/<i> and return i; call 1 stops like an interrupted training run."""
    if i == 1:
        raise KeyboardInterrupt("run interrupted and saved")
    time.sleep(0.5)
    Path(folder, str(i)).write_text("ran")
    return i
