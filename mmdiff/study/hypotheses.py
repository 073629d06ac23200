"""What diffusion gives that a regressor cannot: several answers, their best, their spread.

A regressor gives one pose per input. A diffusion refiner draws a hypothesis per starting noise,
so it can give S of them. This analysis asks, seed by seed on a study's trained models, whether
that is worth anything here::

    doc = hypotheses_study(get_study("why_diffusion"), Path("exp/studies"))
    print(markdown_table(doc))

For each diffusion arm of the study (MMDiff from noised truth; from cross-fitted lifter outputs)
and each start timestep (``STARTS``: the paper's t = 6, 2 of 12 steps, and t = 11, the noisiest
the demo trains), S hypotheses per test pose, flip TTA as every arm, give (millimetres):

    p1_single     P1 of one hypothesis drawn from its own start noise (not the paper's
                  deterministic pass: that is the study's own result of the arm, shown beside)
    p1_mean       P1 of the mean of the S hypotheses (``eval.hypotheses: S``)
    p1_oracle     ORACLE: P1 of the hypothesis closest to the truth, per pose. It looks at the
                  answer: a bound on what the hypotheses hold, not a result of the method
    spread        RMS over joints and axes of the std over the S hypotheses (ddof 1)
    spread_skill  spread / RMS error of the mean: 1 when the spread is as large as the error
                  (a calibrated ensemble of S draws has sqrt(S / (S + 1)), about 0.94 for S = 8)
    spread_error_corr  within-joint correlation of spread and |error| (x, y, z averaged): does a
                  larger spread mark a larger error?

Each diffusion arm is paired by seed with the regressor trained from the same input
(``REGRESSOR_OF``): its single answer's P1 against the hypotheses' mean and against the oracle.
Beside them, per seed, what each training input looks like (:func:`input_errors`): the lifter's
error on its own training poses, the cross-fitted lifters' on theirs, the lifter's on the test
poses. The comparisons of one document are Holm-adjusted together and given the verdict of
:mod:`mmdiff.study.stats`. Per-seed results are small committed files
(``<results>/<study>_hypotheses/<arm>-t<start>/seed<s>.json``), so the analysis continues where
it stopped.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from mmdiff.metrics import oracle_best_of_n, spread_calibration
from mmdiff.data.dataset import load_split
from mmdiff.diffusion import BetaSchedule, DDIMSampler
from mmdiff.engine.atomic import write_atomic
from mmdiff.errors import ConfigError
from mmdiff.evaluate import action_errors
from mmdiff.pipeline import DiffusionRefiner, Pipeline
from mmdiff.study.grid import Study
from mmdiff.study.stats import Comparison, cell, compare, holm

#: the start timesteps compared: the paper's (DDIM 2 of 12 visits 6, 0) and the noisiest the demo
#: trains (train_t_max 12: t < 12)
STARTS = (6, 11)
#: hypotheses per pose
HYPOTHESES = 8
#: each diffusion arm and the regressor trained from the same input
REGRESSOR_OF = {"mmdiff": "regressor_truth", "diffusion_crossfit": "regressor_crossfit"}
METRICS = ("p1_single", "p1_mean", "p1_oracle", "spread", "spread_skill", "spread_error_corr")


def hypothesis_metrics(hyps: np.ndarray, samples, cfg) -> dict[str, float]:
    """The metrics of the module docstring for hypotheses (S, N, 17, 3) root-relative metres of
    ``samples`` (their pose_3d (N, 17, 3) and actions); P1 as the evaluation table averages it."""
    if hyps.ndim != 4 or hyps.shape[0] < 2 or hyps.shape[1:] != samples.pose_3d.shape:
        raise ConfigError(f"hypothesis_metrics: expected hypotheses (S >= 2, N, 17, 3) for "
                          f"{samples.pose_3d.shape[0]} poses, found {hyps.shape}")
    target = np.asarray(samples.pose_3d, dtype=np.float32)

    def p1(pred):
        return float(action_errors(pred, samples, cfg).average()[0])

    oracle = oracle_best_of_n(torch.as_tensor(hyps), torch.as_tensor(target)).pose.numpy()
    mean = hyps.mean(axis=0)
    centred = lambda p: p - p[..., :1, :]                                 # noqa: E731
    spread = hyps.std(axis=0, ddof=1)[:, 1:]                              # (N, 16, 3) m
    error = (centred(mean) - centred(target))[:, 1:]                      # (N, 16, 3) m
    rms_spread, rms_error = float(np.sqrt((spread ** 2).mean())), float(np.sqrt((error ** 2).mean()))
    calib = spread_calibration(hyps, target)
    return {"p1_single": p1(hyps[0]), "p1_mean": p1(mean), "p1_oracle": p1(oracle),
            "spread": rms_spread * 1000, "spread_skill": rms_spread / rms_error,
            "spread_error_corr": float(np.nanmean(calib.within_joint))}


def sample_hypotheses(cfg, lifter, denoiser, samples, start: int,
                      hypotheses: int = HYPOTHESES, device=None) -> np.ndarray:
    """S hypotheses (S, N, 17, 3) metres of the config's pipeline started at ``start`` (DDIM
    visiting ``cfg.sampler.steps`` timesteps from there down to 0): the config's pipeline
    (:meth:`Pipeline.from_config`: flip TTA, precision, batches, seed) with that sampler; on
    ``device`` (default: the lifter's)."""
    schedule = BetaSchedule.from_config(cfg.diffusion)
    sampler = DDIMSampler.starting_at(schedule, start, min(cfg.sampler.steps, start + 1),
                                      eta=cfg.sampler.eta)
    pipe = dataclasses.replace(
        Pipeline.from_config(cfg, lifter, denoiser), hypotheses=hypotheses,
        refiner=DiffusionRefiner(denoiser, sampler, tuple(cfg.diffusion.noise_scale)))
    return pipe.sample(samples.pose_2d, device=device)


def input_errors(lifter, folds: dict, train, test) -> dict[str, float]:
    """What each training input looks like next to what the refiner sees at test, as the
    lifter's MPJPE (mm, no flip, plain mean over poses; the input, not a result):
    ``in_sample`` the lifter on its own training poses (what ``train.input: lifter`` trains
    from), ``out_of_sample`` each training subject lifted by the lifter trained without it
    (``crossfit``; ``folds`` {subject: lifter}), ``test`` the lifter on the test poses.
    train, test: PoseSamples."""
    from mmdiff.metrics import mpjpe
    from mmdiff.pipeline import lift_uvxyz

    def err(net, samples) -> float:
        with torch.no_grad():
            pred = lift_uvxyz(net.eval(), torch.as_tensor(samples.pose_2d))[..., 2:]
        return float(mpjpe(pred, torch.as_tensor(samples.pose_3d))) * 1000

    out = {"in_sample": err(lifter, train), "test": err(lifter, test)}
    if folds:
        rows = {s: np.flatnonzero(train.subject == s) for s in folds}
        per = {s: (err(net, train.select(rows[s])), len(rows[s])) for s, net in folds.items()}
        out["out_of_sample"] = sum(e * n for e, n in per.values()) / sum(n for _, n in per.values())
    return out


def run_hypotheses(study: Study, root: Path, fast: bool = False, seeds=None, log=print,
                   results_dir: Path | None = None, starts=STARTS,
                   hypotheses: int = HYPOTHESES) -> dict:
    """Every (diffusion arm, start, seed): {"<arm>-t<start>": {seed: metrics}}, resumable, and
    the study's own results ({arm: {seed: result}}, trained and evaluated first if missing)."""
    from mmdiff.checkpoints import load_lifter
    from mmdiff.study.run import (arm_models, dataset_files, fold_lifters, run_config, run_key,
                                  run_study)
    arms = [a for a in REGRESSOR_OF if a in {x.name for x in study.arms}]
    if not arms or not study.lifter_per_seed or \
            any(REGRESSOR_OF[a] not in {x.name for x in study.arms} for a in arms):
        raise ConfigError(f"study {study.name!r}: the hypotheses analysis needs a diffusion arm "
                          f"and its regressor ({REGRESSOR_OF}), a lifter per seed; arms: "
                          f"{[a.name for a in study.arms]}")
    study_results = run_study(study, root, fast=fast, seeds=seeds, log=log,
                              results_dir=results_dir)
    root = Path(root) / ("fast" if fast else "")
    results_dir = Path(results_dir) if results_dir is not None else root / "results"
    files = dataset_files(study, root, log)
    folder, out = results_dir / f"{study.name}_hypotheses", {}
    for seed in tuple(study.seeds if seeds is None else seeds):
        path = folder / "inputs" / f"seed{seed}.json"
        if not path.is_file():
            base = run_config(study, files, seed, fast)
            lifter = load_lifter(root / "runs" / run_key(base, "lifter", seeded=True) /
                                 "best.pth", device="cpu")
            folds, _ = fold_lifters(base, root, log)
            _write(path, input_errors(lifter, folds, load_split(base.data, "train"),
                                      load_split(base.data, "test")))
        out.setdefault("inputs", {})[seed] = json.loads(path.read_text())
        for arm in arms:
            paths = {t: folder / f"{arm}-t{t}" / f"seed{seed}.json" for t in starts}
            pending = [t for t, p in paths.items() if not p.is_file()]
            if pending:
                cfg, lifter, denoiser, _ = arm_models(study, study.arm(arm), seed, files, root,
                                                      fast, log)
                samples = load_split(cfg.data, "test")
            for t in pending:
                t0 = time.perf_counter()
                hyps = sample_hypotheses(cfg, lifter, denoiser, samples, t, hypotheses)
                result = {**hypothesis_metrics(hyps, samples, cfg), "start": t,
                          "hypotheses": hypotheses,
                          "wall_seconds": round(time.perf_counter() - t0, 1)}
                _write(paths[t], result)
                log(f"{study.name} hypotheses: {arm} t={t} seed {seed}: mean "
                    f"{result['p1_mean']:.2f}, oracle {result['p1_oracle']:.2f} mm")
            for t, p in paths.items():
                out.setdefault(f"{arm}-t{t}", {})[seed] = json.loads(p.read_text())
    return {"hypotheses": out, "study": study_results}


def _write(path: Path, result: dict) -> None:
    """One small result file, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: f.write(json.dumps(result).encode()))


def summarise_hypotheses(study: Study, found: dict, command: str, fast: bool) -> dict:
    """The JSON document: per row (arm, start) the metrics' mean and std over seeds, and the
    regressor's P1 per seed (the comparisons are made from them, :func:`comparisons`)."""
    rows, study_results = dict(found["hypotheses"]), found["study"]
    inputs = rows.pop("inputs")
    seeds = sorted({s for per_seed in rows.values() for s in per_seed})
    doc = {"study": f"{study.name}_hypotheses", "of": study.name, "command": command,
           "fast": fast, "seeds": seeds, "starts": sorted({r[seeds[0]]["start"]
                                                           for r in rows.values()}),
           "hypotheses": next(iter(rows.values()))[seeds[0]]["hypotheses"],
           "regressor_of": REGRESSOR_OF, "validation": list(study.validation),
           "inputs": {"seeds": {str(s): inputs[s] for s in seeds},
                      "mean": {k: float(np.mean([inputs[s][k] for s in seeds]))
                               for k in inputs[seeds[0]]}},
           "rows": {}}
    for name, per_seed in rows.items():
        arm = name.rsplit("-t", 1)[0]
        reg = REGRESSOR_OF[arm]
        entry = {"arm": arm, "start": per_seed[seeds[0]]["start"], "regressor": reg,
                 "regressor_p1": [study_results[reg][s]["p1"] for s in seeds],
                 "deterministic_p1": [study_results[arm][s]["p1"] for s in seeds],
                 "mean": {m: float(np.mean([per_seed[s][m] for s in seeds])) for m in METRICS},
                 "std": {m: float(np.std([per_seed[s][m] for s in seeds], ddof=1))
                         if len(seeds) > 1 else 0.0 for m in METRICS},
                 "seeds": {str(s): per_seed[s] for s in seeds}}
        doc["rows"][name] = entry
    return doc


def comparisons(doc: dict) -> dict[tuple[str, str], Comparison]:
    """The document's family, Holm-adjusted together. Keys (row, what): what is "mean_vs_reg",
    "oracle_vs_reg" (P1 minus the regressor's) or "mean_vs_deterministic" (the mean of S minus
    the study's own result of the arm: one pass from the lifted pose, no start noise)."""
    seeds = [str(s) for s in doc["seeds"]]
    keys, found = [], []
    for name, e in doc["rows"].items():
        reg = e["regressor_p1"]
        col = {m: [e["seeds"][s][m] for s in seeds] for m in ("p1_mean", "p1_oracle")}
        for what, a, b in (("mean_vs_reg", col["p1_mean"], reg),
                           ("oracle_vs_reg", col["p1_oracle"], reg),
                           ("mean_vs_deterministic", col["p1_mean"], e["deterministic_p1"])):
            keys.append((name, what))
            found.append(compare(f"{name} {what}", a, b))
    return dict(zip(keys, holm(found)))


def markdown_table(doc: dict) -> str:
    """One row per (diffusion arm, start): P1 (mm, mean ± std over seeds) of the arm's
    deterministic pass (the study's result), of one hypothesis with start noise, of the mean of S
    and of the ORACLE best of S; the mean and the oracle against the same-input regressor's
    single answer and the mean against the deterministic pass (Holm-adjusted intervals and their
    verdicts); the spread and its calibration."""
    family = comparisons(doc) if len(doc["seeds"]) > 1 else {}
    S = doc["hypotheses"]
    lines = [f"| arm, start | regressor P1 | deterministic P1 | one hypothesis P1 | mean of {S} P1 "
             f"| ORACLE best of {S} P1 | mean − regressor | ORACLE − regressor | "
             f"mean − deterministic | spread mm | spread / error | corr(spread, error) |",
             "|---" * 12 + "|"]

    def pm(values) -> str:
        v = np.asarray(values, dtype=float)
        return f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.2f}"

    for name, e in doc["rows"].items():
        col = {m: [e["seeds"][str(s)][m] for s in doc["seeds"]] for m in METRICS}
        c = (lambda w: cell(family[(name, w)]) if family else "")        # noqa: E731
        lines.append(
            f"| {e['arm']}, t = {e['start']} | {pm(e['regressor_p1'])} ({e['regressor']}) | "
            f"{pm(e['deterministic_p1'])} | {pm(col['p1_single'])} | {pm(col['p1_mean'])} | "
            f"{pm(col['p1_oracle'])} | {c('mean_vs_reg')} | {c('oracle_vs_reg')} | "
            f"{c('mean_vs_deterministic')} | {pm(col['spread'])} | {pm(col['spread_skill'])} | "
            f"{pm(col['spread_error_corr'])} |")
    lines.append("")
    mean = doc["inputs"]["mean"]
    lines.append("What each training input looks like (the lifter's MPJPE, mm, mean over seeds, "
                 "no flip): on its own training poses (what `regressor` trains from) "
                 f"{mean['in_sample']:.1f}; out of sample, cross-fitted (what `*_crossfit` trains "
                 f"from) {mean.get('out_of_sample', float('nan')):.1f}; on the test poses (what "
                 f"every arm refines) {mean['test']:.1f}.")
    lines.append("")
    lines.append(f"{len(doc['seeds'])} seeds, a lifter per seed, {S} hypotheses per pose (each "
                 f"from its own start noise), flip TTA; intervals Holm-adjusted over the "
                 f"{len(family)} comparisons; a calibrated spread / error is "
                 f"{(S / (S + 1)) ** 0.5:.2f}; ORACLE picks the hypothesis closest to the truth (a "
                 f"bound, not a method). `{doc['command']}`"
                 + (" (FAST: a smoke budget)" if doc["fast"] else ""))
    return "\n".join(lines)
