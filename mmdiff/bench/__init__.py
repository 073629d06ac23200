"""Benchmarks: figures printed by a script, never checked by timed unit tests.

    mmdiff bench                                     # CPU, and CUDA when present; batch 1024
    mmdiff bench --device cpu --batch 256 --repeats 5
    mmdiff bench --device cpu --reference ~/src/monoMotionDiff   # side by side with the reference
    mmdiff bench --kernels                            # each speed kernel against its plain form
    mmdiff bench --device cpu --precision bf16 --reference DIR   # reference fp32, kit fp32, bf16
    mmdiff bench --ablate [--precision fp32]          # the bf16 step, one fast layer kind plain
    mmdiff bench --profile --config demo --precision bf16   # a training step, op by op
    mmdiff bench --jobs 2 --config demo               # 2 one-thread processes vs one 2-thread
    mmdiff bench --write                              # the figures also to benchmarks/RESULTS.md

Default report (:mod:`~mmdiff.bench.throughput`; models at the released size, random weights;
speed does not depend on the values):

    lifter forward     GraFormer, (B, 17, 2) -> (B, 17, 3), no grad
    denoiser forward   MMDiff denoiser eps(x_t, pose_2d, t) as the pipeline calls it, no grad
    training step      denoiser forward + loss + backward + grad clip + Adam step
    predict, no flip   Pipeline.paper(..., flip=False): lifter + 2 DDIM steps
    predict, flip      the same with flip test-time augmentation (the paper's setting)

Each figure is the best of ``--repeats`` timed runs after one warm-up run (best-of is the least
sensitive to other processes sharing the CPU). The peak memory of one training step is printed
per device: on CUDA ``torch.cuda.max_memory_allocated``; on the CPU the growth of the process's
peak resident set (VmHWM, reset through /proc/self/clear_refs where Linux allows it).

``--precision bf16`` (or fp16 on CUDA) adds a column: the same rows in that precision
(:mod:`mmdiff.engine.precision`), run in turn with the fp32 ones, and their ratio to fp32.

``--reference DIR`` (:mod:`~mmdiff.bench.reference`) prints only the side-by-side table: the
reference's own speed depends on what ran before it in the process, so it starts from a fresh
one. ``--kernels`` (:mod:`~mmdiff.bench.kernels`) prints the kernel table and the allocator's
page faults. ``--ablate`` (:mod:`~mmdiff.bench.ablate`) times the training step (bf16 unless
``--precision`` says otherwise) of the fast model against the same model with one kind of fast
layer left plain (:func:`mmdiff.models.accelerate` with that kind left out), kind by kind.
``--profile`` (:mod:`~mmdiff.bench.profile`) shows where a training step's time goes, by op and by
group (matrix products, elementwise, normalisation, optimiser).

``--write [PATH]`` (:mod:`~mmdiff.bench.results`) appends what was printed to a markdown results
file (default ``benchmarks/RESULTS.md``) under a heading with the command line, the date, the
torch version, the threads and the machine. Figures are kept there, not in docstrings.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

from mmdiff.bench import results
from mmdiff.engine.cpu import keep_freed_memory, set_threads
from mmdiff.engine.precision import check_precision
from mmdiff.errors import MmdiffError


def _devices(arg: str, ap: argparse.ArgumentParser) -> list[torch.device]:
    if arg == "all":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    device = torch.device(arg)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available on this machine")
    return [device]


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mmdiff bench", description="poses/s of the models and "
                                 "of the full predict pipeline, and training-step peak memory")
    ap.add_argument("--batch", type=int, default=None,
                    help="poses per call (default 1024, or the config's train.batch_size)")
    ap.add_argument("--config", default=None,
                    help="time the model sizes of this config (a name such as demo, or a YAML "
                         "file) instead of the released size")
    ap.add_argument("--no-peak", action="store_true",
                    help="skip measuring the GEMM peak (and the FLOP/s and %% of peak columns)")
    ap.add_argument("--device", default="all",
                    help="cpu, cuda, cuda:N, or all (CPU and, when present, CUDA; default)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (best is kept)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = default)")
    ap.add_argument("--kind", default="mmdiff", choices=["mmdiff", "diffpose"],
                    help="denoiser to time (default mmdiff)")
    ap.add_argument("--reference", metavar="DIR", default=None,
                    help="instead, time the kit side by side with the reference implementation, "
                         "imported from a checkout of jjkislele/monoMotionDiff at DIR (needs "
                         "einops and scipy)")
    ap.add_argument("--precision", default=None, choices=["fp32", "bf16", "fp16"],
                    help="also time the kit in this precision, beside fp32 (bf16: autocast, "
                         "fp32 weights; fp16: CUDA only; see mmdiff.engine.precision)")
    ap.add_argument("--compile", action="store_true",
                    help="with --reference: one more column, the kit's denoiser compiled for "
                         "inference (torch.compile) in the last precision; compiling takes "
                         "about a minute per precision and batch shape")
    ap.add_argument("--kernels", action="store_true",
                    help="instead, time each speed kernel against the plain PyTorch it replaces "
                         "(CPU, released size; --repeats runs each, median)")
    ap.add_argument("--ablate", action="store_true",
                    help="instead, time the training step (CPU, released size, --batch; bf16 "
                         "unless --precision) against the same step with one kind of fast layer "
                         "left plain, kind by kind (--repeats runs each, median)")
    ap.add_argument("--jobs", type=int, default=0, metavar="N",
                    help="instead, N single-thread training processes at once (as `mmdiff study "
                         "--jobs N` runs seeds) against one N-thread process doing the same "
                         "steps in turn (--config's size or the released one, --batch, "
                         "--precision; 60 steps each)")
    ap.add_argument("--profile", action="store_true",
                    help="instead, where one training step's time goes, op by op and by group "
                         "(torch.profiler; CPU; the released size or --config's, --batch, each "
                         "precision of --precision)")
    ap.add_argument("--write", metavar="PATH", nargs="?", default=None,
                    const=str(results.DEFAULT_PATH),
                    help="also append what is printed, with the command line, date, torch "
                         f"version, threads and machine, to this markdown file (default "
                         f"{results.DEFAULT_PATH})")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.batch is None:
        args.batch = _config(args).train.batch_size if args.config else 1024
    if args.batch < 1 or args.repeats < 1 or args.threads < 0 or args.jobs < 0:
        ap.error("--batch and --repeats must be positive and --threads, --jobs >= 0")
    set_threads(args.threads)
    keep_freed_memory()                       # as the CLI does (see mmdiff/engine/cpu.py)
    try:
        if args.write is None:
            return _run(args, ap)
        with results.recorded_stdout() as printed:
            code = _run(args, ap)
        path = results.append(args.write, sys.argv[1:] if argv is None else list(argv),
                              printed.getvalue())
        print(f"figures appended to {path}")
        return code
    except MmdiffError as err:
        ap.error(str(err))


def _config(args):
    from mmdiff.config import load_config
    return load_config(args.config) if args.config else None


def _run(args, ap) -> int:
    from mmdiff.bench import ablate, kernels, reference, roofline, throughput
    if args.ablate:
        print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads, median of "
              f"{args.repeats}")
        precision = args.precision or "bf16"
        print(ablate.format_ablation(ablate.ablation_rows(args.batch, args.repeats, precision),
                                     args.batch, precision), flush=True)
        return 0
    if args.profile:
        return _profile(args)
    if args.jobs:
        from mmdiff.bench import jobs
        precision = args.precision or "fp32"
        rows = jobs.jobs_rows(args.jobs, 60, args.batch, args.config, precision)
        print(f"torch {torch.__version__}, CPU, {os.cpu_count()} cores")
        print(jobs.format_jobs(rows, args.jobs, 60, args.batch, args.config, precision),
              flush=True)
        return 0
    if args.kernels:
        print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads, median of "
              f"{args.repeats}")
        print(kernels.format_kernels(kernels.kernel_rows(args.repeats), kernels.allocator_rows()),
              flush=True)
        return 0
    if args.compile and args.reference is None:
        ap.error("--compile is a column of the side-by-side table: give --reference DIR")
    if args.reference is not None:
        reference.load_reference(args.reference)        # fail now, before any timing
    precisions = ("fp32",) if args.precision in (None, "fp32") else ("fp32", args.precision)
    cfg = _config(args)
    sizes = f"model sizes of {args.config}" if cfg is not None else "released size"
    for device in _devices(args.device, ap):
        for p in precisions:
            check_precision(p, device, "--precision")
        gemm = None if args.no_peak else {p: roofline.gemm_peak(p, device) for p in precisions}
        from mmdiff.models import DenoiserConfig
        hid = (cfg.model if cfg is not None else DenoiserConfig()).hid_dim
        shape = (args.batch * 34, hid, hid)                     # poses x the 34 graph nodes
        model_gemm = None if args.no_peak else {
            p: roofline.gemm_peak(p, device, shape) for p in precisions}
        if args.reference is not None:      # the side-by-side table only, from a fresh process
            lifter, denoiser = throughput.released_models(device, args.kind, cfg)
            from mmdiff.bench.timing import make_inputs
            inputs = make_inputs(args.batch, device)
            rows, diffs = reference.reference_rows(args.reference, lifter, denoiser, *inputs,
                                                   args.repeats, precisions,
                                                   compiled=args.compile)
            table = reference.format_reference(rows, diffs, gemm, reference.row_flops(
                lifter, denoiser, *inputs) if gemm else None)
            print(f"device {device} ({_device_name(device)}), batch {args.batch}, {sizes}, torch "
                  f"{torch.__version__}\n{table}", flush=True)
        else:
            rows, peaks = throughput.bench_device(device, args.batch, args.repeats, args.kind,
                                                  precisions, cfg)
            print(throughput.format_report(device, args.batch, rows, peaks, gemm, sizes,
                                           model_gemm, shape), flush=True)
    return 0


def _profile(args) -> int:
    """``--profile``: the training step of the chosen size, per precision, op by op."""
    from mmdiff.bench import profile, roofline, throughput
    from mmdiff.bench.timing import make_inputs, training_step_fn
    device = torch.device("cpu")
    cfg = _config(args)
    _, denoiser = throughput.released_models(device, args.kind, cfg)
    inputs = make_inputs(args.batch, device)
    sizes = f"model sizes of {args.config}" if cfg is not None else "released size"
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads, {sizes}")
    flops = None
    for p in ("fp32",) if args.precision in (None, "fp32") else ("fp32", args.precision):
        step = training_step_fn(denoiser, *inputs, p)
        flops = flops or roofline.count_flops(step)
        rows = profile.step_profile(step, steps=args.repeats)
        print(profile.format_profile(rows, args.batch, p, flops_per_step=flops), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
