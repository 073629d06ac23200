""""Why diffusion?" answered from the stored studies, never typed: every number and verdict word
below is computed from ``ckpts/studies/*.json`` with the same Holm family as the study's table.

    print(why_diffusion_answer())          # markdown bullets; README and lessons 02, 06, 07

Three stored documents feed it, each optional (a missing one is named, with the command that
makes it): ``headline`` (lifter with flip TTA, MMDiff, the residual regressor), ``why_diffusion``
(objective x training input) and ``why_diffusion_hypotheses`` (what several hypotheses hold).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mmdiff.study.report import cell, comparisons, load_study

#: the sentences of the 2 x 2: (arm, against, what the difference measures)
TWO_BY_TWO = (
    ("regressor_truth", "mmdiff", "objective, at the paper's input (noised truth): regressor − diffusion"),
    ("regressor_crossfit", "diffusion_crossfit",
     "objective, at the cross-fitted input: regressor − diffusion"),
    ("diffusion_crossfit", "mmdiff", "input, for diffusion: cross-fitted − noised truth"),
    ("regressor_crossfit", "regressor_truth", "input, for the regressor: cross-fitted − noised truth"),
    ("regressor", "regressor_crossfit",
     "input, for the regressor: the lifter's in-sample outputs − cross-fitted"),
)


def tweedie_line(config: str = "demo", t: int = 6) -> str:
    """Why a deterministic DDIM from a small t acts as a regressor (Tweedie's formula), with the
    config's noise level at t computed, not typed."""
    import torch
    from mmdiff.config import load_config
    from mmdiff.diffusion import BetaSchedule
    d = load_config(config).diffusion
    level = float((1 - BetaSchedule.from_config(d).alpha_bar(torch.tensor(t))).sqrt())
    return (f"Why a regressor can match it: with eta = 0, DDIM's first step from t = {t} "
            f"predicts x̂0 = (x_t − sqrt(1 − ᾱ_t) ε̂) / sqrt(ᾱ_t), and the ε-loss makes that x̂0 "
            f"an estimate of E[x_0 | x_t, c] (Tweedie's formula: the minimum-mean-squared-error "
            f"denoiser of Gaussian noise of level sqrt(1 − ᾱ_{t}) = {level:.4f}, a std of "
            f"{level * d.noise_scale[2] * 1000:.0f} mm per 3D coordinate in `{config}.yml`). At "
            f"so little noise the posterior is narrow, so the 2-step refinement is close to a "
            f"regressor trained on Gaussian-corrupted ground truth, one corrected pose per input. "
            f"The `regressor_truth` arm is such a regressor, trained at the one level t = {t} "
            f"and called once, where diffusion trains every level below 12 and takes two steps: "
            f"the objective rows above measure what that difference is worth. What either gains "
            f"over the lifter depends on how much the lifter's real error resembles the training "
            f"noise, which the training-input figures measure.")


def _doc(study_dir: Path, name: str):
    path = study_dir / f"{name}.json"
    return load_study(path) if path.is_file() else None


def _missing(name: str, command: str) -> str:
    return f"- *{name}*: not stored yet (`{command}` makes it)."


def headline_lines(doc: dict) -> list[str]:
    """MMDiff against its lifter with the same flip TTA, and the regressor against MMDiff."""
    fam, n = comparisons(doc), len(doc["seeds"])
    return [f"- **Against its lifter** (same flip TTA, {n} seeds, a lifter per seed): MMDiff ΔP1 "
            f"{cell(fam[('mmdiff', 'p1', 'lifter_tta')])}, ΔP2 "
            f"{cell(fam[('mmdiff', 'p2', 'lifter_tta')])} (mm, Holm-adjusted 95 % interval).",
            f"- **Against a regressor** (the same network and budget, one pass from the lifter's "
            f"output): regressor − MMDiff ΔP1 {cell(fam[('regressor', 'p1', 'mmdiff')])}."]


def two_by_two_lines(doc: dict) -> list[str]:
    """Each side of the 2 x 2 (objective x training input), from the study's own family (a side
    the stored file does not compare is said to be missing)."""
    fam = comparisons(doc)
    out = [f"  - {what}: ΔP1 {cell(fam[(arm, 'p1', against)])}"
           if (arm, "p1", against) in fam else
           f"  - {what}: not compared in the stored file (rerun `mmdiff study why_diffusion`)"
           for arm, against, what in TWO_BY_TWO]
    return [f"- **Objective x training input** ({len(doc['seeds'])} seeds):"] + out


def hypotheses_lines(doc: dict) -> list[str]:
    """What several hypotheses hold: the mean against one deterministic pass, the ORACLE best
    against the regressor, and the spread's calibration, at each start."""
    from mmdiff.study.hypotheses import comparisons as hyp_comparisons
    fam, S, out = hyp_comparisons(doc), doc["hypotheses"], []
    for name, e in doc["rows"].items():
        if e["arm"] != "mmdiff":
            continue
        skill = float(np.mean([e["seeds"][str(s)]["spread_skill"] for s in doc["seeds"]]))
        corr = float(np.mean([e["seeds"][str(s)]["spread_error_corr"] for s in doc["seeds"]]))
        calibrated = (S / (S + 1)) ** 0.5               # spread / error of a calibrated ensemble
        out.append(f"  - start t = {e['start']}: mean of {S} − one deterministic pass ΔP1 "
                   f"{cell(fam[(name, 'mean_vs_deterministic')])}; ORACLE best of {S} − "
                   f"{e['regressor']} {cell(fam[(name, 'oracle_vs_reg')])} (a bound: it looks at "
                   f"the truth); spread / error {skill:.2f} against {calibrated:.2f} when "
                   f"calibrated (the spread is {calibrated / skill:.1f}x too small to be an "
                   f"uncertainty), corr(spread, error) {corr:.2f}.")
    m = doc["inputs"]["mean"]
    out.append(f"  - the training inputs: the lifter's error on its own training poses "
               f"{m['in_sample']:.1f} mm, cross-fitted {m.get('out_of_sample', float('nan')):.1f} "
               f"mm, on the test poses {m['test']:.1f} mm (mean over seeds).")
    return [f"- **What several hypotheses hold** (MMDiff, {len(doc['seeds'])} seeds, {S} "
            f"hypotheses each from its own start noise):"] + out


def why_diffusion_answer(study_dir: str | Path = "ckpts/studies") -> str:
    """The answer as markdown bullets, each number and verdict computed from the stored JSON."""
    study_dir = Path(study_dir)
    lines = []
    doc = _doc(study_dir, "headline")
    lines += headline_lines(doc) if doc else [_missing("headline", "mmdiff study headline")]
    doc = _doc(study_dir, "why_diffusion")
    lines += two_by_two_lines(doc) if doc else [_missing("why_diffusion",
                                                         "mmdiff study why_diffusion")]
    doc = _doc(study_dir, "why_diffusion_hypotheses")
    lines += hypotheses_lines(doc) if doc else [
        _missing("why_diffusion_hypotheses", "mmdiff study why_diffusion --hypotheses")]
    lines.append(f"- {tweedie_line()}")
    return "\n".join(lines)
