"""``mmdiff study``: multi-seed studies that test the paper's claims, stored as small JSON files.

    mmdiff study --list
    mmdiff study pipelines ablations            # resumable; writes ckpts/studies/<name>.json
    mmdiff study pipelines --fast                # the same code on a tiny budget (tests)
    mmdiff study --markdown pipelines            # the table README and the lessons show
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

from mmdiff.study.grid import STUDIES, Arm, Study, get_study
from mmdiff.study.report import load_study, markdown_table, summarise, write_study

STUDY_DIR = Path("ckpts") / "studies"

__all__ = ["STUDIES", "Arm", "Study", "get_study", "load_study", "markdown_table",
           "run_and_store", "main", "STUDY_DIR"]


def _one_seed(name: str, exp: str, fast: bool, seed: int, results_dir) -> int:
    """One worker of ``--jobs``: every arm of one seed, on one thread."""
    from mmdiff.engine.cpu import set_threads
    from mmdiff.study.run import run_study
    set_threads(1)
    prefix = f"[seed {seed}] "
    run_study(get_study(name), Path(exp), fast=fast, seeds=[seed], results_dir=results_dir,
              log=lambda m: print(prefix + m, flush=True))
    return seed


def run_parallel(name: str, exp, fast: bool, seeds, results_dir, jobs: int, log=print) -> None:
    """Run the seeds of study ``name`` as ``jobs`` single-thread processes at once (each seed's
    arms in one process, in order). The data, and a lifter the seeds share, are made first."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    from mmdiff.study.run import dataset_files
    study = get_study(name)
    seeds = list(study.seeds if seeds is None else seeds)
    dataset_files(study, Path(exp) / ("fast" if fast else ""), log)
    if not study.lifter_per_seed:                       # the shared lifter: once, here
        _one_seed(name, str(exp), fast, seeds.pop(0), results_dir)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        for seed in pool.map(_one_seed, [name] * len(seeds), [str(exp)] * len(seeds),
                             [fast] * len(seeds), seeds, [results_dir] * len(seeds)):
            log(f"{name}: seed {seed} done")


def run_and_store(name: str, exp: str | Path = "exp/studies", out: str | Path | None = None,
                  fast: bool = False, seeds=None, log=print, jobs: int = 1) -> Path:
    """Run (or continue) study ``name`` and write its JSON: ``out`` (default ckpts/studies/, or
    ``<exp>/fast/`` for ``fast``, so a smoke test never replaces the stored results). Per-run
    results go to ``<out>/results/`` (``<exp>/fast/results`` for ``fast``). ``jobs``: seeds run
    as that many single-thread processes at once."""
    from mmdiff.study.run import run_study
    study = get_study(name)
    folder = Path(out) if out is not None else (Path(exp) / "fast" if fast else STUDY_DIR)
    results_dir = None if fast else folder / "results"
    t0 = time.perf_counter()
    if jobs > 1:
        run_parallel(name, exp, fast, seeds, results_dir, jobs, log)
    results = run_study(study, Path(exp), fast=fast, seeds=seeds, log=log,
                        results_dir=results_dir)
    command = f"mmdiff study {name}" + (" --fast" if fast else "")
    wall = sum(r["wall_seconds"] for per_seed in results.values() for r in per_seed.values())
    doc = summarise(study, results, command, fast, max(wall, time.perf_counter() - t0))
    return write_study(doc, folder / f"{name}.json")


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
    ap.add_argument("--jobs", type=int, default=1,
                    help="run the seeds as N single-thread processes at once (default 1)")
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
            print(f"### {get_study(name).title}\n\n{markdown_table(load_study(folder / f'{name}.json'))}\n")
        else:
            try:
                path = run_and_store(name, args.exp, args.out, args.fast, seeds, jobs=args.jobs)
            except KeyboardInterrupt as stop:  # the run in progress saved its checkpoint
                print(f"mmdiff study {name}: stopped ({stop or 'interrupted'}); run the same "
                      f"command again to continue", file=sys.stderr)
                return 130
            print(f"{path}\n{markdown_table(load_study(path))}", file=sys.stdout, flush=True)
    return 0
