"""``devbench family``: scale one pruned network's width profile to several size budgets."""

from __future__ import annotations

import argparse
from pathlib import Path

from devbench.cli import add_text_format_argument, csv_list, non_negative_float, print_records

HELP = "prune once, get a family: pruned spec -> specs at the given params/MACs budgets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="pruned", required=True, help="pruned spec: name, .json, or a prune stage dir")
    p.add_argument("--budgets", type=csv_list, required=True, help="comma-separated, e.g. 300k,0.5M,1M")
    p.add_argument("--by", choices=("params", "macs"), default="params")
    p.add_argument("--rule", default="linear", help="width-profile fit: linear (per-stage line) or profile")
    p.add_argument("--tolerance", type=non_negative_float, default=0.02, help="allowed relative miss of each budget")
    p.add_argument("--out", type=Path, default=Path("."), help="folder for the member specs")
    add_text_format_argument(p, table=True)


def run(args: argparse.Namespace) -> int:
    from devbench.models import get_spec
    from devbench.training.family import family, format_count, parse_count

    pruned = get_spec(args.pruned)
    budgets = [parse_count(b) for b in args.budgets]
    members = family(pruned, budgets, by=args.by, rule=args.rule, tolerance=args.tolerance)
    records = []
    for budget, spec in zip(budgets, members, strict=True):
        path = spec.save(args.out / f"{spec.name}.json")
        records.append({"name": spec.name, "path": str(path), "by": args.by, "budget": budget,
                        "widths": spec.widths})
        if args.format == "text":
            print(f"{path}: {args.by} budget {format_count(budget)}, inner widths {spec.widths}")
    if args.format != "text":
        print_records(records, args.format)
    return 0
