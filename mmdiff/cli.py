"""The ``mmdiff`` command line: one sub-command per job.

    mmdiff data synth [--out DIR] [--seed N]     generate the embedded dataset
    mmdiff data gmm --detections F --positions F --out F
"""
from __future__ import annotations

import argparse
import sys

from mmdiff.errors import MmdiffError


def _cmd_data_synth(args):
    from mmdiff.data.synthetic import write_dataset
    paths = write_dataset(args.out, seed=args.seed)
    for p in paths.values():
        print(p)


def _cmd_data_gmm(args):
    from mmdiff.data.gmm import write_gmm_file
    print(write_gmm_file(args.detections, args.positions, args.out, num_kernels=args.kernels,
                         seed=args.seed))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmdiff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="make the embedded dataset or GMM files")
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
    gmm.set_defaults(func=_cmd_data_gmm)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except MmdiffError as err:
        print(f"mmdiff: error: {err}", file=sys.stderr)
        return 2
    return 0
