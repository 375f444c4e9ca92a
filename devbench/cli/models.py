"""devbench models: the registered networks with their exact parameter and MAC counts."""

from __future__ import annotations

import argparse

from devbench.cli import add_format_argument
from devbench.models.listing import model_table
from devbench.report import render_records

HELP = "list registered networks (name, family, params, MACs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("pattern", nargs="?", default=None, help="glob filter, e.g. 'wrn_*' or '*pruned*'")
    add_format_argument(p)


def run(args: argparse.Namespace) -> int:
    print(render_records(model_table(args.pattern), args.format))
    return 0
