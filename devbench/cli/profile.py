"""devbench profile: where one inference spends its time, block by block, from the runtime's own
profiler; the first model is the baseline the others are divided by."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devbench.bench import MeasureSettings
from devbench.cli import add_format_argument, add_target_arguments, csv_list, positive_int
from devbench.profile import (
    check_plot_path,
    comparison_records,
    long_records,
    op_records,
    plot_profiles,
    profile_models,
    summary_line,
)
from devbench.report import render_records

HELP = "per-block profile: each runtime's own profiler, operators mapped to the spec's stages and blocks"


def one_backend(text: str) -> str:
    """argparse type for ``--backend``: `run` takes a list, but a profile's table compares models
    under one runtime, so a list is refused by name rather than looked up as one unknown backend."""
    if "," in text:
        raise argparse.ArgumentTypeError(f"{text!r}: profile takes one backend; run it once per backend")
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=csv_list, required=True,
                   help="models, comma-separated: the first is the baseline (e.g. pruned_resnet,reduced_resnet)")
    add_target_arguments(p)
    p.add_argument("--backend", type=one_backend, help="one backend (default: the target's first)")
    p.add_argument("--batch", type=positive_int, default=1, help="batch size (default: 1)")
    p.add_argument("--warmup", type=positive_int, help="untimed runs before profiling (default: the target's, or 10)")
    p.add_argument("--repeats", type=positive_int,
                   help="profiled runs; each operator's median over them is reported (default: the target's, or 20)")
    p.add_argument("--by", choices=("block", "stage"), default="block", help="one row per block or per stage")
    p.add_argument("--ops", action="store_true", help="list every operator with the part it was given instead")
    p.add_argument("--plot", type=Path, metavar="FILE", help="also write a bar plot (.png, .svg or .pdf)")
    p.add_argument("--trust-new-host", action="store_true",
                   help="accept and remember the host key of an SSH board seen for the first time")
    add_format_argument(p)
    p.epilog = ("Operators are mapped by the names each runtime keeps (ONNX Runtime: the exported module "
                "paths; torch: the exported graph) or, for TVM's fused kernels, by the order of their convs; "
                "what cannot be attributed is 'other'. Profilers add their own cost: the times explain a "
                "latency, `devbench run` measures it.")


def run(args: argparse.Namespace) -> int:
    if args.plot is not None:
        check_plot_path(args.plot)
    settings = MeasureSettings(batch=args.batch, warmup=args.warmup, repeats=args.repeats)
    profiles = profile_models(args.model, args.target, args.backend, settings, targets_files=args.targets_file,
                              threads=args.threads, trust_new_host=args.trust_new_host)
    if args.ops:
        records = op_records(profiles)
    elif args.format == "markdown":
        records = comparison_records(profiles, args.by)
    else:
        records = long_records(profiles, args.by)
    print(render_records(records, args.format))
    for p in profiles:
        print(summary_line(p), file=sys.stderr)
    if args.plot is not None:
        print(f"plot written to {plot_profiles(profiles, args.plot, args.by)}", file=sys.stderr)
    return 0
