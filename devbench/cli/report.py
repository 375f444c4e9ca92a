"""devbench report: render stored results as markdown, CSV or JSON, filtered by model/target/backend."""

from __future__ import annotations

import argparse

from devbench.cli import add_db_argument, add_format_argument, csv_list, open_store
from devbench.report import render_report

HELP = "render stored results (markdown, CSV, JSON)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=csv_list, default=[], help="only these models")
    p.add_argument("--target", type=csv_list, default=[], help="only these targets")
    p.add_argument("--backend", type=csv_list, default=[], help="only these backends")
    p.add_argument("--all", action="store_true", help="every stored row, not only the newest per configuration")
    p.add_argument("--full", action="store_true", help="with --format json: every field, samples and environment")
    add_db_argument(p)
    add_format_argument(p)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        rows = store.rows(args.model, args.target, args.backend, latest_only=not args.all)
    finally:
        store.close()
    print(render_report(rows, args.format, full=args.full))
    return 0
