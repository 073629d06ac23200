"""``mmdiff study``: multi-seed studies that test the paper's claims, stored as small JSON files.

    mmdiff study --list
    mmdiff study pipelines ablations            # resumable; writes ckpts/studies/<name>.json
    mmdiff study pipelines --fast                # the same code on a tiny budget (tests)
    mmdiff study headline --jobs 2               # two seeds at once, one thread each
    mmdiff study headline --executor slurm --partition cpu   # one submitit job per seed
    mmdiff study --markdown pipelines            # the table README and the lessons show
    mmdiff study why_diffusion --hypotheses      # mean / ORACLE best of S, spread calibration
    mmdiff study --readme [--check]               # README's study tables from the JSON files

:mod:`~mmdiff.study.grid` names the studies and their arms, :mod:`~mmdiff.study.run` trains and
evaluates them (runs under ``exp/studies/``, nothing redone), :mod:`~mmdiff.study.report` turns
the results into the JSON document (mean, std, paired difference to the baseline with its 95 %
interval) and its table.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mmdiff.errors import ConfigError
from mmdiff.study.grid import STUDIES, Arm, Study, get_study
from mmdiff.study.report import load_study, markdown_table, summarise, table, write_study

STUDY_DIR = Path("ckpts") / "studies"

__all__ = ["STUDIES", "Arm", "Study", "get_study", "load_study", "markdown_table",
           "run_and_store", "run_pool", "main", "STUDY_DIR"]


def _one_seed(name: str, exp: str, fast: bool, seed: int, results_dir) -> int:
    """One worker of ``--jobs``: every arm of one seed, on one thread."""
    from mmdiff.engine.cpu import set_threads
    from mmdiff.study.run import run_study
    set_threads(1)
    prefix = f"[seed {seed}] "
    run_study(get_study(name), Path(exp), fast=fast, seeds=[seed], results_dir=results_dir,
              log=lambda m: print(prefix + m, flush=True))
    return seed


def run_pool(fn, calls: list[tuple], jobs: int):
    """``fn(*call)`` for each call, ``jobs`` at once in spawned processes; yields the results as
    the calls finish. A call that raises (an interrupted run raises KeyboardInterrupt after
    saving its checkpoint), or Ctrl-C here, cancels the calls not yet started and re-raises once
    the running ones have ended (Ctrl-C reaches them too and they save), so a stopped study
    stops instead of moving on to its next seeds."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"))
    pending, running = list(calls), set()
    try:
        while pending or running:         # submit as workers free up: nothing waits queued
            while pending and len(running) < jobs:
                running.add(pool.submit(fn, *pending.pop(0)))
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def run_parallel(name: str, exp, fast: bool, seeds, results_dir, jobs: int, log=print,
                 executor: str = "processes", partition: str | None = None,
                 timeout_min: int = 600) -> None:
    """Run the seeds of study ``name`` as separate jobs, each seed's arms in one single-thread
    job, in order. ``executor``: "processes" runs ``jobs`` at once on this machine; "slurm"
    submits one job per seed to a SLURM cluster through submitit (``partition``,
    ``timeout_min``), "local" the same through submitit's local executor (what the tests run).
    The data, and a lifter the seeds share, are made first, here."""
    from mmdiff.study.run import dataset_files
    study = get_study(name)
    seeds = list(study.seeds if seeds is None else seeds)
    dataset_files(study, Path(exp) / ("fast" if fast else ""), log)
    if not study.lifter_per_seed and seeds:             # the shared lifter: once, here
        _one_seed(name, str(exp), fast, seeds.pop(0), results_dir)
    args = [[name] * len(seeds), [str(exp)] * len(seeds), [fast] * len(seeds), seeds,
            [results_dir] * len(seeds)]
    if executor == "processes":
        for seed in run_pool(_one_seed, list(zip(*args)), jobs):
            log(f"{name}: seed {seed} done")
        return
    if executor not in ("slurm", "local"):
        raise ConfigError(f"executor: expected processes, slurm or local, found {executor!r}")
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor slurm/local needs submitit: pip install -e '.[cluster]'") \
            from None
    ex = submitit.AutoExecutor(folder=Path(exp) / "submitit", cluster=executor)
    params = {"timeout_min": timeout_min, "cpus_per_task": 1}
    if executor == "slurm" and partition:
        params["slurm_partition"] = partition
    ex.update_parameters(**params)
    submitted = ex.map_array(_one_seed, *args)
    log(f"{name}: {len(submitted)} jobs submitted ({executor}; logs in {Path(exp) / 'submitit'})")
    for job in submitted:
        log(f"{name}: seed {job.result()} done")


def run_and_store(name: str, exp: str | Path = "exp/studies", out: str | Path | None = None,
                  fast: bool = False, seeds=None, log=print, jobs: int = 1,
                  executor: str = "processes", **cluster) -> Path:
    """Run (or continue) study ``name`` and write its JSON: ``out`` (default ckpts/studies/, or
    ``<exp>/fast/`` for ``fast``, so a smoke test never replaces the stored results). Per-run
    results go to ``<out>/results/`` (``<exp>/fast/results`` for ``fast``). ``jobs``: seeds run
    as that many single-thread processes at once."""
    from mmdiff.study.run import run_study
    study = get_study(name)
    folder = Path(out) if out is not None else (Path(exp) / "fast" if fast else STUDY_DIR)
    results_dir = None if fast else folder / "results"
    t0 = time.perf_counter()
    if jobs > 1 or executor != "processes":
        run_parallel(name, exp, fast, seeds, results_dir, jobs, log, executor, **cluster)
    results = run_study(study, Path(exp), fast=fast, seeds=seeds, log=log,
                        results_dir=results_dir)
    command = f"mmdiff study {name}" + (" --fast" if fast else "")
    wall = sum(r["wall_seconds"] for per_seed in results.values() for r in per_seed.values())
    doc = summarise(study, results, command, fast, max(wall, time.perf_counter() - t0))
    return write_study(doc, folder / f"{name}.json")


def run_hypotheses_and_store(name: str, exp: str | Path = "exp/studies",
                             out: str | Path | None = None, fast: bool = False, seeds=None,
                             log=print) -> Path:
    """Run (or continue) the hypotheses analysis of study ``name`` (its runs trained first if
    missing) and write ``<out>/<name>_hypotheses.json`` (folders as :func:`run_and_store`)."""
    from mmdiff.study.hypotheses import run_hypotheses, summarise_hypotheses
    study = get_study(name)
    folder = Path(out) if out is not None else (Path(exp) / "fast" if fast else STUDY_DIR)
    results_dir = None if fast else folder / "results"
    found = run_hypotheses(study, Path(exp), fast=fast, seeds=seeds, log=log,
                           results_dir=results_dir)
    command = f"mmdiff study {name} --hypotheses" + (" --fast" if fast else "")
    doc = summarise_hypotheses(study, found, command, fast)
    return write_study(doc, folder / f"{name}_hypotheses.json")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="mmdiff study", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help=f"studies to run: {', '.join(STUDIES)}")
    ap.add_argument("--list", action="store_true", help="list the studies and their arms")
    ap.add_argument("--fast", action="store_true", help="tiny budget, results under <exp>/fast")
    ap.add_argument("--seeds", default=None, help="comma-separated seeds (default: the study's)")
    ap.add_argument("--exp", default="exp/studies", help="runs and results (default %(default)s)")
    ap.add_argument("--out", default=None, help="folder of the JSON files (default "
                    "ckpts/studies, or <exp>/fast with --fast)")
    ap.add_argument("--markdown", action="store_true",
                    help="print the stored tables of the named studies instead of running them")
    ap.add_argument("--readme", action="store_true",
                    help="rewrite README.md's study tables from the stored files (--check: "
                         "only say which differ, exit 1 if any)")
    ap.add_argument("--check", action="store_true", help="with --readme: compare only")
    ap.add_argument("--hypotheses", action="store_true",
                    help="the hypotheses analysis of the named studies (mean and ORACLE best of "
                         "S, spread calibration, against the same-input regressor): "
                         "ckpts/studies/<name>_hypotheses.json (mmdiff.study.hypotheses)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="run the seeds as N single-thread processes at once (default 1)")
    ap.add_argument("--executor", default="processes", choices=["processes", "slurm", "local"],
                    help="processes: --jobs on this machine; slurm: one submitit job per seed "
                         "on a SLURM cluster; local: submitit's local executor")
    ap.add_argument("--partition", default=None, help="SLURM partition (--executor slurm)")
    ap.add_argument("--timeout-min", type=int, default=600, help="per-job time limit (submitit)")
    args = ap.parse_args(argv)
    if args.readme:
        from mmdiff.study.readme import sync_readme
        stale = sync_readme("README.md", args.out or STUDY_DIR, check=args.check)
        print(("differ from their files: " if args.check else "rewritten: ") +
              (", ".join(stale) or "none"))
        return 1 if (args.check and stale) else 0
    if args.list or not args.names:
        for study in STUDIES.values():
            print(f"{study.name:15s} {study.title} [{study.data}; seeds {list(study.seeds)}]")
            for arm in study.arms:
                print(f"    {arm.name:16s} {arm.title}")
        return 0
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    for name in args.names:
        if args.markdown:
            folder = Path(args.out) if args.out else STUDY_DIR
            stem = f"{name}_hypotheses" if args.hypotheses else name
            print(f"### {get_study(name).title}\n\n{table(load_study(folder / f'{stem}.json'))}\n")
        elif args.hypotheses:
            path = run_hypotheses_and_store(name, args.exp, args.out, args.fast, seeds)
            print(f"{path}\n{table(load_study(path))}", flush=True)
        else:
            try:
                path = run_and_store(name, args.exp, args.out, args.fast, seeds, jobs=args.jobs,
                                     executor=args.executor, partition=args.partition,
                                     timeout_min=args.timeout_min)
            except KeyboardInterrupt as stop:  # the run in progress saved its checkpoint
                print(f"mmdiff study {name}: stopped ({stop or 'interrupted'}); run the same "
                      f"command again to continue", file=sys.stderr)
                return 130
            print(f"{path}\n{markdown_table(load_study(path))}", file=sys.stdout, flush=True)
    return 0
