"""``devbench reduce``: the base network made smaller by depth, width or bottleneck to match a spec's size."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from devbench.cli import add_text_format_argument, non_negative_float

HELP = "reduced network (depth, width or bottleneck) matching another network's params or MACs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--like", required=True, help="spec whose size to match (name, .json or run/stage dir)")
    p.add_argument("--by", choices=("depth", "width", "bottleneck"), default="bottleneck")
    p.add_argument("--base", help="network to reduce (default: the base the --like spec was pruned from)")
    p.add_argument("--match", choices=("params", "macs"), default="params")
    p.add_argument("--tolerance", type=non_negative_float, default=0.05,
                   help="allowed relative miss of the target size")
    p.add_argument("--name", default="", help="name of the reduced spec")
    p.add_argument("--out", type=Path, help="spec file to write (default: <name>.json)")
    add_text_format_argument(p)


def run(args: argparse.Namespace) -> int:
    from devbench.models import get_spec
    from devbench.training.reduce import base_of, measure, reduce

    like = get_spec(args.like)
    base = get_spec(args.base) if args.base else base_of(like)
    target = measure(like, args.match)
    spec = reduce(base, target, by=args.by, match=args.match, tolerance=args.tolerance, name=args.name)
    path = spec.save(args.out or Path(f"{spec.name}.json"))
    size = measure(spec, args.match)
    if args.format == "json":
        print(json.dumps({"name": spec.name, "path": str(path), "by": args.by, "match": args.match, "size": size,
                          "target": target, "widths": spec.widths}, indent=2, default=str))
    else:
        print(f"{path}: {size} {args.match} (target {target}), inner widths {spec.widths}")
    return 0
