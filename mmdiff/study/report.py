"""A study's results as one small JSON file, and the tables README and the lessons print.

JSON layout (``ckpts/studies/<study>.json``)::

    {"study", "title", "question", "data", "config", "overrides", "seeds", "baseline", "command",
     "fast", "wall_seconds", "torch",
     "arms": {name: {"title", "note", "overrides", "eval_overrides", "from_arm", "params",
                     "seeds": {seed: {"p1", "p2", "p2_per_sample", "per_action", ...}},
                     "mean": {"p1", "p2"}, "std": {"p1", "p2"},
                     "diff": {"p1": {"mean", "std", "ci95"}, "p2": {...}}}}}

Millimetres throughout; P2 is the reference protocol's (the per-sample P2 is kept per seed).
``diff`` is paired by seed: arm minus baseline for each seed (same data, same lifter, same
training seed), its mean and the 95 % Student-t interval of that mean (None with one seed).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from mmdiff.engine.atomic import write_atomic
from mmdiff.errors import DataError
from mmdiff.study.grid import Study

#: two-sided 95 % quantiles of Student's t, by degrees of freedom
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}
METRICS = ("p1", "p2")


def t975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (table, conservative
    between entries; 1.96 beyond 30)."""
    if df < 1:
        raise DataError(f"t975: degrees of freedom must be >= 1, found {df}")
    return T975[min(k for k in T975 if k >= df)] if df <= 30 else 1.96


def paired(values: list[float], base: list[float]) -> dict:
    """Mean, std and 95 % interval of the per-seed differences ``values - base``."""
    d = np.asarray(values, dtype=float) - np.asarray(base, dtype=float)
    n = len(d)
    std = float(d.std(ddof=1)) if n > 1 else 0.0
    half = t975(n - 1) * std / math.sqrt(n) if n > 1 else None
    mean = float(d.mean())
    return {"mean": round(mean, 3), "std": round(std, 3),
            "ci95": None if half is None else [round(mean - half, 3), round(mean + half, 3)]}


def summarise(study: Study, results: dict, command: str, fast: bool,
              wall_seconds: float) -> dict:
    """The study's JSON document from {arm: {seed: result}} (see :mod:`mmdiff.study.run`)."""
    seeds = sorted({s for per_seed in results.values() for s in per_seed})
    base = study.arms[0].name
    doc = {"study": study.name, "title": study.title, "question": study.question,
           "data": study.data, "config": study.config, "overrides": study.overrides,
           "seeds": seeds, "baseline": base, "versus": study.versus, "command": command,
           "fast": fast,
           "wall_seconds": round(wall_seconds, 1), "torch": torch.__version__, "arms": {}}
    for arm in study.arms:
        runs = results[arm.name]
        entry = {"title": arm.title, "note": arm.note, "overrides": arm.overrides,
                 "eval_overrides": arm.eval_overrides, "from_arm": arm.from_arm,
                 "params": runs[seeds[0]]["params"],
                 "lifter_params": runs[seeds[0]]["lifter_params"],
                 "seeds": {str(s): runs[s] for s in seeds}}
        for key in ("mean", "std", "diff"):
            entry[key] = {}
        for m in METRICS:
            v = [runs[s][m] for s in seeds]
            entry["mean"][m] = round(float(np.mean(v)), 3)
            entry["std"][m] = round(float(np.std(v, ddof=1)), 3) if len(v) > 1 else 0.0
            entry["diff"][m] = paired(v, [results[base][s][m] for s in seeds])
        doc["arms"][arm.name] = entry
    return doc


def write_study(doc: dict, path: str | Path) -> Path:
    """Write the JSON atomically (stable key order, one file per study)."""
    text = json.dumps(doc, indent=1) + "\n"
    return write_atomic(Path(path), lambda f: f.write(text.encode()))


def load_study(path: str | Path) -> dict:
    """Read a study's JSON (raises DataError naming the file on a missing or malformed one)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable study file ({err})") from None
    missing = [k for k in ("study", "seeds", "baseline", "arms") if k not in doc]
    if missing:
        raise DataError(f"{path}: study file lacks {missing}")
    return doc


def _pm(entry: dict, m: str) -> str:
    return f"{entry['mean'][m]:.2f} ± {entry['std'][m]:.2f}"


def _signed(d: dict) -> str:
    """A :func:`paired` difference as "-2.98 [-4.83, -1.13]" (no interval with one seed)."""
    ci = "" if d["ci95"] is None else f" [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}]"
    return f"{d['mean']:+.2f}{ci}"


def _diff(entry: dict, m: str, baseline: bool) -> str:
    return "(baseline)" if baseline else _signed(entry["diff"][m])


def _versus(doc: dict, name: str, versus: str, m: str) -> str:
    """Arm ``name`` minus arm ``versus``, paired by seed, from the stored per-seed results."""
    if name == versus:
        return "(reference)"
    seeds = [str(s) for s in doc["seeds"]]
    return _signed(paired([doc["arms"][name]["seeds"][s][m] for s in seeds],
                          [doc["arms"][versus]["seeds"][s][m] for s in seeds]))


def markdown_table(doc: dict) -> str:
    """The README / lesson table: per arm P1 and P2 (mean ± std over seeds, mm) and the paired
    difference to the baseline with its 95 % interval."""
    n, versus = len(doc["seeds"]), doc.get("versus")
    head = f"| arm | parameters | P1 mm | P2 mm | ΔP1 vs {doc['baseline']} [95 % CI] | ΔP2 |"
    if versus:
        head += f" ΔP1 vs {versus} [95 % CI] |"
    lines = [head, "|---" * (7 if versus else 6) + "|"]
    for name, e in doc["arms"].items():
        base = name == doc["baseline"]
        params = (f"+{e['params'] / 1e6:.2f} M" if e["params"] else
                  f"{e['lifter_params'] / 1e6:.2f} M (lifter)")
        row = (f"| {e['title']} | {params} | {_pm(e, 'p1')} | {_pm(e, 'p2')} | "
               f"{_diff(e, 'p1', base)} | {_diff(e, 'p2', base)} |")
        if versus:
            row += f" {_versus(doc, name, versus, 'p1')} |"
        lines.append(row)
    fast = " FAST MODE (smoke test, not a result):" if doc.get("fast") else ""
    lines.append(f"\n{fast} {n} seeds ({', '.join(map(str, doc['seeds']))}); "
                 f"`{doc['command']}`; {doc['wall_seconds'] / 60:.0f} min.")
    return "\n".join(lines)
