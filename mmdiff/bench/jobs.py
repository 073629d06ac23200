"""Two cores, two ways (``mmdiff bench --jobs N``): N single-thread training processes at once,
as ``mmdiff study --jobs N`` runs seeds, against one N-thread process doing the same work in turn.

    rows = jobs_rows(jobs=2, steps=60, batch=256, config="demo")
    print(format_jobs(rows))

Each process runs ``steps`` training steps of the config's denoiser (the bench's training step:
forward, loss, backward, clip, Adam; random inputs, so no data loading is timed) in a fresh
interpreter, so its thread count is its own. Throughput is training steps per second of wall
time over the whole batch of work (N x ``steps`` steps either way).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

CHILD = """
import sys, time, torch
from mmdiff.bench.throughput import released_models
from mmdiff.bench.timing import make_inputs, training_step_fn
from mmdiff.config import load_config
torch.set_num_threads({threads})
cfg = load_config({config!r}) if {config!r} else None
_, den = released_models(torch.device("cpu"), "mmdiff", cfg)
step = training_step_fn(den, *make_inputs({batch}, torch.device("cpu")), {precision!r})
step()
t0 = time.perf_counter()
for _ in range({steps}):
    step()
print(time.perf_counter() - t0)
"""


def _spawn(threads: int, steps: int, batch: int, config: str | None, precision: str):
    code = CHILD.format(threads=threads, steps=steps, batch=batch, config=config or "",
                        precision=precision)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=env)


def _seconds(proc) -> float:
    out, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"bench --jobs: a training process failed (exit {proc.returncode})")
    return float(out.strip().splitlines()[-1])


def jobs_rows(jobs: int = 2, steps: int = 60, batch: int = 256, config: str | None = "demo",
              precision: str = "fp32") -> dict[str, float]:
    """{"parallel": steps/s of ``jobs`` single-thread processes at once, "threaded": steps/s of
    one ``jobs``-thread process running the same ``jobs`` x ``steps`` steps in turn} (the
    timed loops only, each after one warm-up step)."""
    t0 = time.perf_counter()
    procs = [_spawn(1, steps, batch, config, precision) for _ in range(jobs)]
    loops = [_seconds(p) for p in procs]
    parallel_wall = time.perf_counter() - t0
    threaded = sum(_seconds(_spawn(jobs, steps, batch, config, precision)) for _ in range(jobs))
    return {"parallel": jobs * steps / max(loops), "threaded": jobs * steps / threaded,
            "parallel_wall_s": parallel_wall}


def format_jobs(rows: dict[str, float], jobs: int, steps: int, batch: int,
                config: str | None, precision: str) -> str:
    """The two throughputs and their ratio."""
    size = f"model sizes of {config}" if config else "released size"
    return "\n".join([
        f"{jobs} x {steps} training steps, batch {batch}, {size}, {precision}:",
        f"  {jobs} single-thread processes at once: {rows['parallel']:.2f} steps/s",
        f"  one {jobs}-thread process, in turn:      {rows['threaded']:.2f} steps/s",
        f"  ratio (processes / threads): {rows['parallel'] / rows['threaded']:.2f}x"])
