"""devbench run: measure models x targets x backends, check every output, store and print the table."""

from __future__ import annotations

import argparse
import sys

from devbench.bench import MeasureSettings, run_matrix
from devbench.check import DEFAULT_ATOL
from devbench.cli import (
    add_db_argument,
    add_format_argument,
    add_target_arguments,
    csv_list,
    non_negative_float,
    open_store,
    positive_int,
)
from devbench.report import fastest, render, render_records

HELP = "benchmark models on targets and backends; outputs are checked against PyTorch"


def add_measure_arguments(p: argparse.ArgumentParser) -> None:
    """Measurement options, shared with `devbench demo`."""
    p.add_argument("--batch", type=positive_int, default=1)
    p.add_argument("--warmup", type=positive_int, help="untimed runs before timing (default: the target's, or 10)")
    p.add_argument("--repeats", type=positive_int, help="timed runs, at least (default: the target's, or 50)")
    p.add_argument("--min-time", type=non_negative_float, metavar="S",
                   help="keep sampling until at least S seconds were timed (default: the target's, or 1; "
                        "fast networks get more samples, as TFLite's benchmark_model does)")
    p.add_argument("--no-check", action="store_true", help="do not fail on outputs that differ from PyTorch")
    p.add_argument("--atol", type=non_negative_float, default=DEFAULT_ATOL, help="tolerance of the output check")
    p.add_argument("--trust-new-host", action="store_true",
                   help="accept and remember the host key of an SSH board seen for the first time")
    p.add_argument("--resume", action="store_true", help="skip jobs already measured in the database")
    add_db_argument(p)
    add_format_argument(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=csv_list, required=True, help="model name(s) or spec file(s), comma-separated")
    add_target_arguments(p, multiple=True)
    p.add_argument("--backend", type=csv_list, default=["tvm", "onnxruntime", "torch"],
                   help="backend(s), comma-separated (default: tvm,onnxruntime,torch); "
                        "'best' measures every backend the target offers and names the fastest")
    add_measure_arguments(p)


def settings_from(args: argparse.Namespace) -> MeasureSettings:
    return MeasureSettings(batch=args.batch, warmup=args.warmup, repeats=args.repeats, min_time_s=args.min_time,
                           check=not args.no_check, atol=args.atol)


def run_and_print(args: argparse.Namespace, models: list[str], targets: list[str], backends: list[str]) -> int:
    """Run the matrix, print the table, and say why the exit code is not 0."""
    store = open_store(args)
    try:
        rows = run_matrix(models, targets, backends, settings_from(args), store, targets_files=args.targets_file,
                          threads=args.threads, resume=args.resume, trust_new_host=args.trust_new_host)
    finally:
        store.close()
    print(render(rows, args.format))
    if len({r.backend for r in rows}) > 1 and args.format == "markdown":
        print("\nFastest backend per model and target:\n" + render_records(fastest(rows), args.format))
    failed = [r for r in rows if r.status != "ok"]
    for r in failed:
        why = r.error or (f"output differs from PyTorch (max abs err {r.max_abs_err:.3g}, top-1 agreement "
                          f"{r.top1_agreement:.0%}, --atol {args.atol:g} x the largest logit when above 1)")
        print(f"devbench: {r.model} on {r.target} with {r.backend}: {why}", file=sys.stderr)
    print(f"results stored in {store.path}", file=sys.stderr)
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    return run_and_print(args, args.model, args.target, args.backend)
