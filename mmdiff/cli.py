"""The ``mmdiff`` command line: one sub-command per job.

    mmdiff data synth [--out DIR] [--seed N]          generate the embedded dataset
    mmdiff data gmm --detections F --positions F --out F [--evidence F]
    mmdiff data observe --positions data_3d_h36m_<name>.npz --out DIR [--seed N] [--fps R]
    mmdiff data stats --positions F [--reference F]   motion statistics, or a comparison
    mmdiff train-lifter --config demo --doc demo_lifter [--resume] [--set k=v ...]
    mmdiff train --config demo --doc demo [--resume] [--set k=v ...]
    mmdiff eval --config demo --doc demo              per-action table (P1, P2 mm) + CSV
    mmdiff predict dets.json --out pose3d.npz [--html view.html]   every person, 3D
    mmdiff bench                                      throughput of models and pipeline
    mmdiff demo                                       the whole job on the embedded data

Runs live under ``<exp>/<doc>/`` (default ``exp/<doc>``). ``--set section.key=value`` overrides
any config field (repeatable), e.g. ``--set optim.lr=3e-4 --set train.epochs=10``.
Distributed training: ``torchrun --nproc_per_node=2 -m mmdiff train --config cpn --doc cpn``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmdiff.engine.cpu import keep_freed_memory, set_threads
from mmdiff.errors import ConfigError, MmdiffError
from mmdiff.wild.framing import FRAMINGS
from mmdiff.wild.keypoints.layouts import LAYOUTS


def _cmd_data_synth(args):
    from mmdiff.data.synthetic import write_dataset
    paths = write_dataset(args.out, seed=args.seed)
    for p in paths.values():
        print(p)


def _cmd_data_gmm(args):
    from mmdiff.data.gmm import write_gmm_file
    print(write_gmm_file(args.detections, args.positions, args.out, num_kernels=args.kernels,
                         seed=args.seed, evidence=args.evidence))


def _cmd_data_observe(args):
    from mmdiff.data.synthetic.observe import observe_file
    paths = observe_file(args.positions, args.out, seed=args.seed, fps=args.fps, name=args.name,
                         cameras_of=args.cameras_of)
    for p in paths.values():
        print(p)


def _cmd_data_stats(args):
    from mmdiff.data.h36m import load_positions_3d
    from mmdiff.data.synthetic.stats import compare_statistics, motion_statistics
    ours = motion_statistics(load_positions_3d(args.positions), fps=args.fps)
    if args.reference is None:
        for key, value in ours.items():
            print(f"{key}: {value}")
        return
    rows = compare_statistics(ours, motion_statistics(load_positions_3d(args.reference),
                                                      fps=args.fps))
    print(f"| statistic | {Path(args.reference).name} | {Path(args.positions).name} | "
          "difference | within 10 % |\n|---|---|---|---|---|")
    for name, ref, val, rel, ok in rows:
        print(f"| {name} | {ref:.3g} | {val:.3g} | {rel * 100:+.1f} % | {'yes' if ok else 'no'} |")
    print(f"{sum(r[-1] for r in rows)} of {len(rows)} within 10 %")


def _config(args):
    from mmdiff.config import load_config, parse_overrides
    overrides = parse_overrides(args.set or [])
    if args.precision:                  # before --set: an explicit --set key wins
        overrides = {"train.precision": args.precision, "eval.precision": args.precision,
                     **overrides}
    return load_config(args.config, overrides or None)


def _with(cfg, changes: dict):
    """``cfg`` with the ``{"section.key": value}`` changes the command line gave (None = not
    given)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return cfg.replace(changes) if changes else cfg


def _run_dir(args, default_doc: str) -> Path:
    return Path(args.exp) / (args.doc or default_doc)


def _cmd_train_lifter(args):
    from mmdiff.train import fit_lifter
    result = fit_lifter(_config(args), _run_dir(args, "lifter"), resume=args.resume,
                        device=args.device, progress=not args.quiet)
    return _report_fit(result)


def _cmd_train(args):
    from mmdiff.train import fit
    cfg = _config(args)
    if args.lifter:
        cfg = cfg.replace({"lifter.checkpoint": args.lifter})
    result = fit(cfg, _run_dir(args, "mmdiff"), resume=args.resume, device=args.device,
                 progress=not args.quiet)
    return _report_fit(result)


def _report_fit(result) -> int:
    """Print the run's outcome (rank 0); the exit status: 130 / 143 when SIGINT / SIGTERM stopped
    it (after its checkpoint was saved), else 0."""
    import torch.distributed as torch_dist
    from mmdiff.engine.runtime import Dist
    from mmdiff.train.runs import exit_code
    code = exit_code(result.stop_signal)
    if torch_dist.is_initialized():  # under torchrun: only rank 0 reports
        rank = torch_dist.get_rank()
        Dist.close()
        if rank:
            return code
    state = "interrupted, resume with --resume" if result.interrupted else "done"
    best = (f"best P1 {result.best_p1:.2f} mm at epoch {result.best_epoch}"
            if result.best_epoch >= 0 else "not validated")
    print(f"{result.run_dir}: {state}; {best}")
    return code


def _cmd_eval(args):
    from mmdiff.evaluate import evaluate
    cfg = _with(_config(args), {"sampler.steps": args.steps, "sampler.span": args.span,
                                "sampler.eta": args.eta, "eval.hypotheses": args.hypotheses,
                                "eval.flip": args.flip, "eval.use_ema": args.ema,
                                "eval.compile": args.compile})
    run = _run_dir(args, "mmdiff")
    denoiser = None if args.lifter_only else (args.ckpt or run / "best.pth")
    errors = evaluate(cfg, args.lifter or cfg.lifter.checkpoint, denoiser, device=args.device,
                      csv=args.csv or run / ("eval_lifter.csv" if args.lifter_only else "eval.csv"),
                      progress=not args.quiet)
    e, s = cfg.eval, cfg.sampler
    if denoiser is None:
        what = f"lifter alone: flip TTA {'on' if e.flip and e.lifter_tta else 'off'}"
    else:
        what = (f"lifter + diffusion ({denoiser}, {'EMA' if e.use_ema else 'raw'} weights): "
                f"DDIM {s.steps} steps of {s.span}, eta {s.eta}, {e.hypotheses} hypotheses, "
                f"flip TTA {'on' if e.flip else 'off'}")
    print(f"{what}; 2D normalised {cfg.data.normalization}, P2 {e.p2} (batches of "
          f"{e.batch_size}), Average over {e.average} actions")
    print(errors.table())


def _cmd_predict(args):
    from mmdiff.checkpoints import load_denoiser, load_lifter
    from mmdiff.engine.runtime import default_device
    from mmdiff.wild import predict_file, report_text, save_prediction, write_html
    cfg = _with(_config(args), {"sampler.steps": args.steps, "eval.hypotheses": args.hypotheses,
                                "eval.flip": args.flip, "eval.use_ema": args.ema,
                                "eval.compile": args.compile})
    device = default_device(args.device)
    lifter = load_lifter(args.lifter or cfg.lifter.checkpoint, device=device)
    denoiser = None if args.lifter_only else load_denoiser(
        args.ckpt, device=device, ema="auto" if cfg.eval.use_ema else False)
    pred = predict_file(args.input, cfg, lifter, denoiser, width=args.width, height=args.height,
                        layout=args.layout, key=args.key, video=args.video, person=args.person,
                        min_score=args.min_score, max_gap=args.max_gap,
                        max_joint_gap=args.max_joint_gap, min_detections=args.min_detections,
                        framing=args.framing, smooth=args.smooth, device=device)
    print("\n".join(pred.notes))
    for i, person in enumerate(pred.people):
        print(f"person {i} (track {person.track}):\n" + "\n".join(f"  {n}" for n in person.notes))
    print(report_text(pred))
    out = save_prediction(pred, args.out, hypotheses=args.keep_hypotheses)
    print(f"{out}: pose_3d {pred.pose_3d.shape} (people, frames, 17 joints, xyz metres, "
          f"root-relative)" + (", hypotheses (people, S, frames, 17, 3)" if args.keep_hypotheses
                               else ""))
    if args.html:
        print(write_html(pred, args.html, title=Path(args.input).name, fps=args.fps))


def _cmd_bench(args):
    from mmdiff.bench import main as bench_main
    return bench_main(args.passthrough)


def _cmd_study(args):
    from mmdiff.study import main as study_main
    return study_main(args.passthrough)


def _cmd_demo(args):
    from mmdiff.demo import DemoInterrupted, run_demo
    try:
        precision = [f"{k}.precision={args.precision}" for k in ("train", "eval")] \
            if args.precision else []
        run_demo(exp=args.exp, out=args.out, config=args.config,
                 overrides=precision + (args.set or []) or None,
                 device=args.device, progress=not args.quiet, fresh=args.fresh,
                 baseline=args.baseline)
    except DemoInterrupted as err:
        from mmdiff.train.runs import exit_code
        print(f"mmdiff demo: {err}", file=sys.stderr)
        return exit_code(err.signal) or 130


def _common(p: argparse.ArgumentParser, default_config: str = "demo") -> None:
    p.add_argument("--config", default=default_config,
                   help="YAML file or packaged config name: demo, cpn, gt (default %(default)s)")
    p.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override a config field (repeatable)")
    p.add_argument("--exp", default="exp", help="folder of all runs (default %(default)s)")
    p.add_argument("--doc", default=None, help="name of this run: files go to <exp>/<doc>/")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if present)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--precision", default=None, choices=["fp32", "bf16", "fp16"],
                   help="train.precision and eval.precision: fp32 (default, exact), bf16 "
                        "(autocast, fp32 weights and loss), fp16 (CUDA); --resume keeps the run's")


def _eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steps", type=int, default=None, help="DDIM steps (config: sampler.steps)")
    p.add_argument("--hypotheses", type=int, default=None, help="hypotheses averaged per pose")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="flip test-time augmentation")
    p.add_argument("--lifter", default=None, help="lifter checkpoint (config: lifter.checkpoint)")
    p.add_argument("--lifter-only", action="store_true", help="evaluate the lifter alone")
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                   help="use the denoiser's EMA weights (config: eval.use_ema; the reference "
                        "evaluates the raw weights)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the denoiser (config: eval.compile): the first pass "
                        "compiles for about a minute, the rest run faster")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmdiff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="CPU threads for torch (default: one per core); give each of "
                             "several processes sharing a machine its share")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="make the embedded dataset, GMM files or simulated 2D")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    synth = data_sub.add_parser("synth", help="generate the embedded dataset")
    synth.add_argument("--out", default="data/synthetic", help="output folder")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=_cmd_data_synth)
    gmm = data_sub.add_parser("gmm", help="fit DiffPose-layout GMM files from 2D detections")
    gmm.add_argument("--detections", required=True, help="plain 2D file (positions_2d)")
    gmm.add_argument("--positions", required=True, help="matching data_3d_h36m-style file")
    gmm.add_argument("--out", required=True, help="output *_gmm.npz")
    gmm.add_argument("--kernels", type=int, default=None, help="mixture kernels per joint")
    gmm.add_argument("--seed", type=int, default=0)
    gmm.add_argument("--evidence", default=None,
                     help="the detector's per-frame heatmaps (keys heatmaps, boxes) or confidences "
                          "(key confidences): kernels fitted per frame (data/README.md)")
    gmm.set_defaults(func=_cmd_data_gmm)
    obs = data_sub.add_parser("observe", help="simulated 2D (detections, GMMs) for a 3D file")
    obs.add_argument("--positions", required=True, help="data_3d_h36m-format 3D file")
    obs.add_argument("--out", required=True, help="output folder")
    obs.add_argument("--seed", type=int, default=0)
    obs.add_argument("--fps", type=float, default=50.0,
                     help="frame rate of the 3D file (Human3.6M's is 50; the embedded data 12.5)")
    obs.add_argument("--name", default=None,
                     help="dataset name in the output file names (default: from --positions)")
    obs.add_argument("--cameras-of", default=None, metavar="SUBJECT",
                     help="use this Human3.6M subject's cameras for every subject")
    obs.set_defaults(func=_cmd_data_observe)
    stats = data_sub.add_parser("stats", help="motion statistics of a 3D file (or a comparison)")
    stats.add_argument("--positions", required=True, help="data_3d_h36m-format 3D file")
    stats.add_argument("--reference", default=None, help="a 3D file to compare with")
    stats.add_argument("--fps", type=float, default=50.0,
                       help="frame rate of both files (Human3.6M 50; the embedded data 12.5)")
    stats.set_defaults(func=_cmd_data_stats)

    p = sub.add_parser("train-lifter", help="train the GraFormer lifter (MPJPE loss)")
    _common(p)
    p.add_argument("--resume", action="store_true", help="continue <exp>/<doc>/ckpt.pth")
    p.set_defaults(func=_cmd_train_lifter)

    p = sub.add_parser("train", help="train the diffusion denoiser")
    _common(p)
    p.add_argument("--resume", action="store_true", help="continue <exp>/<doc>/ckpt.pth")
    p.add_argument("--lifter", default=None, help="lifter checkpoint for validation")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="per-action P1/P2 table of a trained pipeline")
    _common(p)
    _eval_options(p)
    p.add_argument("--ckpt", default=None, help="denoiser checkpoint (default <exp>/<doc>/best.pth)")
    p.add_argument("--span", type=int, default=None,
                   help="the leading timesteps the DDIM steps are spread over "
                        "(config: sampler.span)")
    p.add_argument("--eta", type=float, default=None,
                   help="DDIM eta, 0 = deterministic (config: sampler.eta)")
    p.add_argument("--csv", default=None, help="CSV output (default <exp>/<doc>/eval.csv)")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("predict", help="3D poses from a video's 2D keypoints (detector files)")
    p.add_argument("input", help="keypoints: AlphaPose / COCO results, MMPose, OpenPose (file or "
                                 "folder), MediaPipe JSON; .npz/.npy (F, J, 2|3); VideoPose3D npz")
    p.add_argument("--width", type=int, default=None,
                   help="image width in pixels (needed by --framing image unless the file gives it)")
    p.add_argument("--height", type=int, default=None, help="image height in pixels")
    p.add_argument("--layout", default="auto", choices=["auto", *LAYOUTS],
                   help="joint layout of the input (auto: from the file's names or point count)")
    p.add_argument("--key", default=None, help="array name inside an .npz")
    p.add_argument("--video", default=None, help="video inside a VideoPose3D custom npz")
    p.add_argument("--person", type=int, default=None,
                   help="lift only this track id (default: every person)")
    p.add_argument("--min-detections", type=int, default=5,
                   help="tracks with fewer detections are not lifted (passing false detections)")
    p.add_argument("--framing", default="h36m", choices=FRAMINGS,
                   help="h36m: each person scaled and centred as Human3.6M frames its subjects "
                        "(no image size needed); image: divide by the frame width (VideoPose3D)")
    p.add_argument("--smooth", type=float, default=1.0,
                   help="Gaussian smoothing of the 2D over time, sigma in frames (0: none)")
    p.add_argument("--min-score", type=float, default=0.3,
                   help="joints below this confidence are interpolated over time")
    p.add_argument("--max-gap", type=int, default=5,
                   help="longest run of frames without a detection to fill (longer: not lifted)")
    p.add_argument("--max-joint-gap", type=int, default=12,
                   help="longest run of low-confidence frames of a joint to interpolate")
    p.add_argument("--keep-hypotheses", action="store_true",
                   help="also store every hypothesis (S, F, 17, 3) in the npz")
    p.add_argument("--ckpt", default="ckpts/demo/mmdiff.pth", help="denoiser checkpoint")
    p.add_argument("--out", default="pose3d.npz",
                   help="output npz (pose_3d: (people, frames, 17, 3) metres)")
    p.add_argument("--html", default=None, help="also write an animated 3D + 2D view")
    p.add_argument("--fps", type=float, default=25.0, help="play speed of the HTML view")
    _common(p)
    _eval_options(p)
    p.set_defaults(func=_cmd_predict, lifter_default="ckpts/demo/lifter.pth")

    p = sub.add_parser("bench", help="poses/s of the models and the pipeline", add_help=False)
    p.add_argument("passthrough", nargs=argparse.REMAINDER, help="passed to mmdiff.bench")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("study", help="multi-seed studies of the paper's claims (JSON results)",
                       add_help=False)
    p.add_argument("passthrough", nargs=argparse.REMAINDER, help="passed to mmdiff.study")
    p.set_defaults(func=_cmd_study)

    p = sub.add_parser("demo", help="embedded data -> train lifter and denoiser -> tables")
    _common(p)
    p.add_argument("--out", default="exp/demo",
                   help="where the weights-only results go (default %(default)s; the shipped "
                        "weights are refreshed only with --out ckpts/demo)")
    p.add_argument("--fresh", action="store_true", help="retrain even if exp/demo_* hold runs")
    p.add_argument("--baseline", action="store_true",
                   help="also train the DiffPose denoiser and print its table (about 2x longer)")
    p.set_defaults(func=_cmd_demo)
    return parser


#: sub-commands whose options their own module parses (mmdiff.bench, mmdiff.study)
PASSTHROUGH = ("bench", "study")


def _split_passthrough(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``[--threads N] bench|study <options>`` -> (the part up to the sub-command, its options);
    any other command line -> (argv, None). argparse alone would claim those options."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] == "--threads" else 1
    if i < len(argv) and argv[i] in PASSTHROUGH:
        return argv[:i + 1], argv[i + 1:]
    return argv, None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    top, rest = _split_passthrough(argv)
    args = build_parser().parse_args(top)
    if rest is not None:                      # mmdiff.bench / mmdiff.study parse their own
        args.passthrough = rest
    try:
        set_threads(args.threads)
    except ConfigError as err:                # set_threads owns the check
        print(f"mmdiff: error: --threads: {err}", file=sys.stderr)
        return 2
    keep_freed_memory()                       # see mmdiff/engine/cpu.py: fewer page faults, ~20 %
    if getattr(args, "lifter_default", None) and args.lifter is None and args.config == "demo":
        args.lifter = args.lifter_default
    try:
        code = args.func(args)
    except MmdiffError as err:
        print(f"mmdiff: error: {err}", file=sys.stderr)
        return 2
    return int(code or 0)
