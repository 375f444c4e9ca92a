"""devbench compile: compile a network for a target into the artifact cache (and say where)."""

from __future__ import annotations

import argparse

from devbench.bench import compile_artifacts
from devbench.cli import (
    add_target_arguments,
    add_text_format_argument,
    add_tuning_argument,
    csv_list,
    positive_int,
    print_records,
)

HELP = "compile a network for a target (cached by content hash)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="registered name or spec JSON file")
    add_target_arguments(p)
    p.add_argument("--backend", type=csv_list, default=["tvm"], help="backend(s), comma-separated (default tvm)")
    p.add_argument("--batch", type=positive_int, default=1)
    add_tuning_argument(p)
    add_text_format_argument(p, table=True)


def run(args: argparse.Namespace) -> int:
    records = []
    for backend, artifact, cached in compile_artifacts(args.model, args.target, args.backend, args.batch,
                                                       args.targets_file, tuning=args.tuning):
        state = "cached" if cached else "compiled"
        records.append({"model": args.model, "target": args.target, "backend": backend, "state": state,
                        "path": str(artifact.path)})
        if args.format == "text":
            print(f"{state}: {args.model} for {args.target} with {backend} -> {artifact.path}")
    if args.format != "text":
        print_records(records, args.format)
    return 0
