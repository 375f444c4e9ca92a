"""devbench targets: every known board, built-in and user-defined."""

from __future__ import annotations

import argparse

from devbench.cli import add_format_argument
from devbench.report import render_records
from devbench.targets import target_table

HELP = "list known targets (built-in, user directory, --targets-file)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--targets-file", action="append", default=[], metavar="FILE", help="extra target TOML file")
    add_format_argument(p)


def run(args: argparse.Namespace) -> int:
    print(render_records(target_table(args.targets_file), args.format))
    return 0
