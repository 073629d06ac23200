"""Running a study: data, one lifter per seed, one training run per (arm, seed), evaluation.

Training lives under ``exp/studies/`` (git-ignored); results are small committed files::

    exp/studies/data/realmotion/    2D made for ../shared/realmotion by `mmdiff data observe`
    exp/studies/runs/<key>/         one training run (run folder of mmdiff.train), key = a hash of
                                    its resolved config: identical runs of two studies are one run
    ckpts/studies/results/<study>/<arm>/seed<s>.json   the evaluation of one (arm, seed), with
                                    the commit of the code that made it

A finished run (its ``best.pth`` and a done marker) and a finished evaluation (its JSON) are
never redone, so an interrupted study continues where it stopped; ``--fast`` runs the same code
on a tiny budget in its own folder.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from mmdiff.checkpoints import load_denoiser, load_lifter
from mmdiff.config import RENAMED, Config, load_config
from mmdiff.data.dataset import load_split
from mmdiff.engine.atomic import write_atomic
from mmdiff.errors import ConfigError, DataError
from mmdiff.evaluate import evaluate_models
from mmdiff.study.grid import Arm, Study
from mmdiff.train import fit, fit_lifter

SHARED_REALMOTION = Path(__file__).resolve().parents[3] / "shared" / "realmotion" / \
    "data_3d_h36m_realmotion.npz"
EMBEDDED = {"path_3d": "data/synthetic/data_3d_h36m_synth.npz",
            "path_2d": "data/synthetic/data_2d_h36m_synth_det_gmm.npz",
            "gt_gmm": "data/synthetic/data_2d_h36m_synth_gt_gmm.npz"}
#: every study run: no validation during training, so the weights kept are the last epoch's
#: (choosing the epoch on the test subjects, as the demo and the reference do, would let the test
#: set select the model)
STUDY_BASE = {"train.validate_every": 0}
#: the --fast budget: one short epoch each, few test poses (the same code, in about a minute)
FAST = {"train.epochs": 1, "lifter_train.epochs": 1, "data.train_stride": 200,
        "data.test_stride": 400, "train.batch_size": 128, "lifter_train.batch_size": 128}


def dataset_files(study: Study, root: Path, log) -> dict[str, str]:
    """{path_3d, path_2d, gt_gmm} of the study's data; real motion's 2D is made on first use."""
    if study.data == "embedded":
        from mmdiff.demo import ensure_data
        ensure_data(load_config("demo"))
        return dict(EMBEDDED)
    if study.data != "realmotion":
        raise ConfigError(f"study {study.name}: unknown data {study.data!r}")
    if not SHARED_REALMOTION.is_file():
        raise DataError(f"study {study.name} needs {SHARED_REALMOTION} (../shared beside the "
                        f"checkout); nothing of it is stored in the repository")
    from mmdiff.data.synthetic.observe import observation_files, observe_file
    out, files = root / "data" / "realmotion", observation_files("realmotion")
    if not all((out / f).is_file() for f in files.values()):
        log(f"making 2D for real motion in {out} (mmdiff data observe) ...")
        observe_file(SHARED_REALMOTION, out, seed=0, fps=12.5, name="realmotion")
    return {"path_3d": str(SHARED_REALMOTION), "path_2d": str(out / files["det_gmm"]),
            "gt_gmm": str(out / files["gt_gmm"])}


def held_out(study: Study) -> dict:
    """Config changes for a study with validation subjects: they leave training, and a study
    that evaluates on them tests on them."""
    if not study.validation:
        return {}
    train = [s for s in load_config(study.config).data.train_subjects if s not in study.validation]
    over = {"data.train_subjects": train}
    if study.evaluate_on == "validation":
        over["data.test_subjects"] = list(study.validation)
    elif study.evaluate_on != "test":
        raise ConfigError(f"study {study.name}: evaluate_on must be 'test' or 'validation', found "
                          f"{study.evaluate_on!r}")
    return over


def run_config(study: Study, files: dict, seed: int, fast: bool, arm: Arm | None = None) -> Config:
    """The resolved config of one run: the study's config, its data and budget, the seed, the
    arm's training overrides (placeholders like ``{gt_gmm}`` filled with the data's files)."""
    over = {"data.path_3d": files["path_3d"], "data.path_2d": files["path_2d"],
            **STUDY_BASE, **held_out(study), **study.overrides, **(FAST if fast else {}),
            "train.seed": int(seed)}
    if arm is not None:
        over.update({k: v.format(**files) if isinstance(v, str) else v
                     for k, v in arm.overrides.items()})
    return load_config(study.config, over)


#: config fields added after studies were first run: left out of a run's key while at their
#: default, so a new field never renames (and retrains) the runs made before it existed
LATER_FIELDS = {("train", "precision"): "fp32", ("train", "input"): "auto"}


def run_key(cfg: Config, what: str, seeded: bool = False) -> str:
    """A short hash of everything that shapes a training run (``what``: lifter or denoiser);
    ``seeded``: a lifter of its own seed (``train.seed`` in the key)."""
    d = cfg.to_dict()
    for old, new in RENAMED.items():            # hashed under the names the runs were made with
        (section, name), (new_section, new_name) = old.split("."), new.split(".")
        if section == new_section and new_name in d[section]:
            d[section][name] = d[section].pop(new_name)
    for (section, name), default in LATER_FIELDS.items():
        if d[section].get(name) == default:
            d[section] = {k: v for k, v in d[section].items() if k != name}
    keep = {"lifter": ("data", "lifter", "lifter_train"),
            "denoiser": ("data", "lifter", "lifter_train", "model", "diffusion", "train",
                         "optim")}[what]
    extra = {"seed": d["train"]["seed"]} if seeded else {}
    text = json.dumps({k: d[k] for k in keep} | {"what": what} | extra, sort_keys=True)
    return f"{what}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _train(fit_fn, cfg: Config, run: Path, log, **kw) -> Path:
    """Train (or resume, or reuse) one run; returns its best checkpoint."""
    done = run / "done"
    if done.is_file():
        return run / "best.pth"
    resume = (run / "ckpt.pth").is_file()
    log(f"  {'resuming' if resume else 'training'} {run.name}")
    result = fit_fn(cfg, run, resume=resume, progress=False, **kw)
    if result.interrupted:
        raise KeyboardInterrupt(f"{run}: interrupted and saved; run the study again to continue")
    done.write_text(json.dumps({"seconds": sum(r["seconds"] for r in result.history)}))
    return run / "best.pth"


def train_seconds(run: Path) -> float:
    """Training wall time of a finished run (sum over its epochs), s."""
    return float(json.loads((run / "done").read_text())["seconds"])


def fold_lifters(base: Config, root: Path, log) -> tuple[dict, float]:
    """Cross-fitting (``train.input: crossfit``): for each training subject, a lifter trained
    on the others with the run's seed, so its outputs on that subject are out-of-sample as at
    test time. Returns ({subject: lifter}, their training seconds)."""
    subjects, lifters, seconds = list(base.data.train_subjects), {}, 0.0
    for s in subjects:
        cfg = base.replace({"data.train_subjects": [x for x in subjects if x != s]})
        run = root / "runs" / run_key(cfg, "lifter", seeded=True)
        lifters[s] = load_lifter(_train(fit_lifter, cfg, run, log), device="cpu")
        seconds += train_seconds(run)
    return lifters, seconds


def arm_models(study: Study, arm: Arm, seed: int, files: dict, root: Path, fast: bool,
               log) -> tuple[Config, object, object, float]:
    """Train (or reuse) what the arm needs: (its evaluation config, the lifter, the denoiser or
    None for a lifter arm, the training seconds of everything it used)."""
    # one lifter per study, trained with its first seed (the lifter's run key holds no seed), or
    # with lifter_per_seed one per seed
    base = run_config(study, files, seed if study.lifter_per_seed else study.seeds[0], fast)
    lifter_run = root / "runs" / run_key(base, "lifter", seeded=study.lifter_per_seed)
    lifter_ckpt = _train(fit_lifter, base, lifter_run, log)
    source = study.arm(arm.from_arm) if arm.from_arm else arm
    cfg = run_config(study, files, seed, fast, source)
    cfg = cfg.replace({"lifter.checkpoint": str(lifter_ckpt), **arm.eval_overrides})
    seconds = train_seconds(lifter_run)
    lifter = load_lifter(lifter_ckpt, device="cpu")
    denoiser = None
    if arm.lifter:                       # the refinement's start, unless the arm adds flip TTA
        cfg = cfg.replace({"eval.flip": False, **arm.eval_overrides})
    else:
        folds = {}
        if cfg.train.input == "crossfit":
            folds, fold_seconds = fold_lifters(base, root, log)
            seconds += fold_seconds
        run = root / "runs" / run_key(cfg, "denoiser")
        denoiser = load_denoiser(_train(fit, cfg, run, log, fold_lifters=folds or None),
                                 device="cpu", ema=cfg.eval.use_ema)
        seconds += train_seconds(run)
    return cfg, lifter, denoiser, seconds


def evaluate_arm(study: Study, arm: Arm, seed: int, files: dict, root: Path, fast: bool,
                 log) -> dict:
    """Train what the arm needs (lifter, denoiser) and evaluate it; the result as a dict:
    per-action P1, P2 (reference) and per-sample P2 in mm, averages, parameters, seconds."""
    cfg, lifter, denoiser, seconds = arm_models(study, arm, seed, files, root, fast, log)
    errors = evaluate_models(cfg, lifter, denoiser, load_split(cfg.data, "test"), device="cpu")
    p1, p2 = errors.average()
    return {"p1": p1, "p2": p2, "p2_per_sample": errors.average(p2="per_sample")[1],
            "per_action": {r[0]: [round(v, 3) for v in r[1:4]] for r in errors.rows()},
            "params": denoiser.num_params(trainable_only=True) if denoiser is not None else 0,
            "lifter_params": lifter.num_params(), "train_seconds": round(seconds, 1)}


def code_version() -> str:
    """The git commit of the code that made a result ('unknown' outside a git checkout)."""
    import subprocess
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_study(study: Study, root: Path, fast: bool = False, seeds=None, log=print,
              results_dir: Path | None = None) -> dict:
    """Every (arm, seed) of ``study``, resumable: {arm: {seed: result}} (see evaluate_arm).
    Each result is a small JSON file, ``<results_dir>/<study>/<arm>/seed<s>.json`` (default
    ``<root>/results``; ``mmdiff study`` keeps them in ckpts/studies/results/, committed, so a
    study continues on another machine)."""
    root = Path(root) / ("fast" if fast else "")
    results_dir = Path(results_dir) if results_dir is not None else root / "results"
    files = dataset_files(study, root, log)
    seeds = tuple(study.seeds if seeds is None else seeds)
    results: dict = {}
    version = code_version()
    for seed in seeds:
        for arm in study.arms:
            path = results_dir / study.name / arm.name / f"seed{seed}.json"
            if not path.is_file():
                t0 = time.perf_counter()
                log(f"{study.name}: {arm.name}, seed {seed}")
                result = evaluate_arm(study, arm, seed, files, root, fast, log)
                result["wall_seconds"] = round(time.perf_counter() - t0, 1)
                result["commit"] = version
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(path, lambda f, r=result: f.write(json.dumps(r).encode()))
                log(f"  P1 {result['p1']:.2f} mm, P2 {result['p2']:.2f} mm")
            results.setdefault(arm.name, {})[seed] = json.loads(path.read_text())
    return results
