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
from pathlib import Path

import numpy as np
import torch

from mmdiff.engine.atomic import write_atomic
from mmdiff.errors import DataError
from mmdiff.study.grid import Study
from mmdiff.study.stats import Comparison, cell, compare, holm

METRICS = ("p1", "p2")


def paired(values: list[float], base: list[float]) -> dict:
    """Mean, std, 95 % interval and p-value of the per-seed differences ``values - base``,
    unrounded (exact Student-t quantiles, :mod:`mmdiff.study.stats`); no interval with one seed."""
    d = np.asarray(values, dtype=float) - np.asarray(base, dtype=float)
    if len(d) < 2:
        return {"mean": float(d.mean()), "std": 0.0, "ci95": None, "p": None}
    c = compare("diff", values, base)
    return {"mean": c.mean, "std": c.sd, "ci95": list(c.ci95), "p": c.p}


def summarise(study: Study, results: dict, command: str, fast: bool,
              wall_seconds: float) -> dict:
    """The study's JSON document from {arm: {seed: result}} (see :mod:`mmdiff.study.run`)."""
    seeds = sorted({s for per_seed in results.values() for s in per_seed})
    base = study.arms[0].name
    doc = {"study": study.name, "title": study.title, "question": study.question,
           "data": study.data, "config": study.config, "overrides": study.overrides,
           "seeds": seeds, "baseline": base, "versus": study.versus, "command": command,
           "fast": fast, "lifter_per_seed": study.lifter_per_seed,
           "contrasts": [list(c) for c in study.contrasts],
           "validation": list(study.validation), "evaluate_on": study.evaluate_on,
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
            entry["mean"][m] = float(np.mean(v))
            entry["std"][m] = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
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
    need = ("study", "seeds", "rows") if "of" in doc else ("study", "seeds", "baseline", "arms")
    missing = [k for k in need if k not in doc]
    if missing:
        raise DataError(f"{path}: study file lacks {missing}")
    return doc


def _pm(entry: dict, m: str) -> str:
    return f"{entry['mean'][m]:.2f} ± {entry['std'][m]:.2f}"


def comparisons(doc: dict) -> dict[tuple[str, str, str], Comparison]:
    """The family of one study table, Holm-adjusted together: for every arm but the baseline
    its ΔP1 and ΔP2 against the baseline, for every arm but ``versus`` its ΔP1 against
    ``versus``, and ΔP1, ΔP2 of each of the study's ``contrasts`` (arm, against). Keys:
    (arm, metric, against)."""
    seeds = [str(s) for s in doc["seeds"]]
    arms, base, versus = doc["arms"], doc["baseline"], doc.get("versus")
    keys = [(a, m, base) for a in arms if a != base for m in METRICS]
    if versus:
        keys += [(a, "p1", versus) for a in arms if a != versus]
    keys += [(a, m, b) for a, b in doc.get("contrasts", ()) for m in METRICS]
    found = [compare(f"{a} {m} vs {b}", [arms[a]["seeds"][s][m] for s in seeds],
                     [arms[b]["seeds"][s][m] for s in seeds]) for a, m, b in keys]
    return dict(zip(keys, holm(found)))


def markdown_table(doc: dict) -> str:
    """The README / lesson table: per arm P1 and P2 (mean ± std over seeds, mm) and its paired
    differences, each with its Holm-adjusted interval and the verdict computed from it
    (:mod:`mmdiff.study.stats`); the minimum detectable ΔP1 at 80 % power below."""
    n, versus, base = len(doc["seeds"]), doc.get("versus"), doc["baseline"]
    family = comparisons(doc) if n > 1 else {}
    head = (f"| arm | parameters | P1 mm | P2 mm | ΔP1 vs {base} | ΔP2 vs {base} |"
            + (f" ΔP1 vs {versus} |" if versus else ""))
    lines = [head, "|---" * (7 if versus else 6) + "|"]
    for name, e in doc["arms"].items():
        params = (f"+{e['params'] / 1e6:.2f} M" if e["params"] else
                  f"{e['lifter_params'] / 1e6:.2f} M (lifter)")
        diffs = ["(baseline)" if name == base else cell(family[(name, m, base)]) if family
                 else "" for m in METRICS]
        if versus:
            diffs.append("(reference)" if name == versus else
                         cell(family[(name, "p1", versus)]) if family else "")
        lines.append(f"| {e['title']} | {params} | {_pm(e, 'p1')} | {_pm(e, 'p2')} | "
                     + " | ".join(diffs) + " |")
    if family and doc.get("contrasts"):
        lines += ["", "| contrast | ΔP1 | ΔP2 |", "|---|---|---|"]
        lines += [f"| {a} − {b} | {cell(family[(a, 'p1', b)])} | {cell(family[(a, 'p2', b)])} |"
                  for a, b in doc["contrasts"]]
    fast = " FAST MODE (smoke test, not a result):" if doc.get("fast") else ""
    split = (f" Held out of training: {', '.join(doc['validation'])} (validation); evaluated on "
             f"the {doc.get('evaluate_on', 'test')} subjects." if doc.get("validation") else "")
    lifters = " Each seed trains its own lifter." if doc.get("lifter_per_seed") else \
        " One lifter for all seeds (its variance is not in the intervals)."
    mde = [c.mde for (a, m, b), c in family.items() if m == "p1" and b == base]
    power = (f" Smallest ΔP1 vs {base} these seeds detect with 80 % power: "
             f"{min(mde):.2f}-{max(mde):.2f} mm." if mde else "")
    lines.append(f"\n{fast} {n} seeds ({', '.join(map(str, doc['seeds']))}); intervals 95 %, "
                 f"Holm-adjusted over the {len(family)} differences of this table; verdict: "
                 f"holds (excludes 0), equivalent within ±1 mm (inside it), else inconclusive."
                 f"{lifters}{split}{power} `{doc['command']}`; {doc['wall_seconds'] / 60:.0f} min.")
    return "\n".join(lines)


def table(doc: dict) -> str:
    """The table of any stored document: a study's, or an analysis of one (``"of"``: the
    hypotheses analysis, :mod:`mmdiff.study.hypotheses`)."""
    if "of" in doc:
        from mmdiff.study import hypotheses
        return hypotheses.markdown_table(doc)
    return markdown_table(doc)
