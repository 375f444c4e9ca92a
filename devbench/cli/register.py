"""``devbench register``: publish a trained run or a prune stage (spec + weights) under a model name."""

from __future__ import annotations

import argparse
from pathlib import Path

from devbench.cli import add_text_format_argument, print_records

HELP = "save a run or prune stage as NAME.json + NAME.pt (in models/specs: the registered model NAME)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="source", type=Path, required=True,
                   help="run directory from `devbench train` or a stage_* directory from `devbench prune`")
    p.add_argument("--name", required=True, help="model name, e.g. pruned_resnet")
    p.add_argument("--to", type=Path, help="folder to write into (default: the registry's models/specs)")
    p.add_argument("--force", action="store_true", help="replace an existing NAME.json / NAME.pt")
    add_text_format_argument(p)


def run(args: argparse.Namespace) -> int:
    from devbench.models import ArchSpec
    from devbench.training.register import register_network
    from devbench.training.rundir import size_metrics

    spec_path, weights_path = register_network(args.source, args.name, args.to, args.force)
    spec = ArchSpec.load(spec_path)
    m = size_metrics(spec)
    err = spec.meta.get("trained", {}).get("test_error")
    if args.format == "json":
        print_records([{"spec": str(spec_path), "weights": str(weights_path), **m, "test_error": err}], "json")
        return 0
    print(f"{spec_path} (+ {weights_path.name}): {m['params']} params, {m['macs']} MACs"
          + (f", test error {err:.4f}" if err is not None else ""))
    return 0
