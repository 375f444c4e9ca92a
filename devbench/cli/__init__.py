"""The ``devbench`` command: one module per verb, each turning arguments into one library call.

A verb module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
:class:`~devbench.errors.DevbenchError` becomes a one-line message and exit code 2; any other
exception is a bug and shows its traceback with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from devbench import __version__
from devbench.errors import DevbenchError

#: verb name -> module under devbench.cli (imported only when that verb runs, so `--help` is fast)
VERBS = {
    "demo": "demo",
    "models": "models",
    "targets": "targets",
    "compile": "compile",
    "run": "run",
    "report": "report",
    "plot": "plot",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"devbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb, module_name in VERBS.items():
        module = importlib.import_module(f"devbench.cli.{module_name}")
        p = sub.add_parser(verb, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except DevbenchError as e:
        if args.debug:
            raise
        print(f"devbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("devbench: interrupted", file=sys.stderr)
        return 130


def positive_int(text: str) -> int:
    """argparse type for counts (threads, batch, repeats): a one-line error for anything else."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def csv_list(text: str) -> list[str]:
    """argparse type for ``a,b,c`` lists."""
    return [item.strip() for item in text.split(",") if item.strip()]


def add_format_argument(parser: argparse.ArgumentParser, default: str = "markdown") -> None:
    parser.add_argument("--format", choices=("markdown", "csv", "json"), default=default, help="output format")
