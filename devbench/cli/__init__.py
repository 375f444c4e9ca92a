"""The ``devbench`` command: one module per verb, each turning arguments into one library call.

A verb module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
:class:`~devbench.errors.DevbenchError` becomes a one-line message and exit code 2; any other
exception is a bug and shows its traceback with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from devbench import __version__, interrupts
from devbench.errors import DevbenchError

#: verb name -> module under devbench.cli (only the verb that runs is imported: torch and TVM load
#: in seconds, and `devbench report` should not wait for them)
VERBS = {
    "demo": "demo",
    "models": "models",
    "targets": "targets",
    "compile": "compile",
    "tune": "tune",
    "run": "run",
    "compare": "compare",
    "experiment": "experiment",
    "profile": "profile",
    "report": "report",
    "merge": "merge",
    "plot": "plot",
    "train": "train",
    "prune": "prune",
    "family": "family",
    "reduce": "reduce",
    "register": "register",
    "board": "board",
    "doctor": "doctor",
    "completion": "completion",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (``devbench: error: ...``, as for every other user
    mistake, whatever the verb) and exit code 2, and no option is ever guessed from a prefix
    (``--targets`` must not silently become ``--targets-file``); the verbs' parsers are this class too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"devbench: error: {message} (see {self.prog} --help)\n")


class DefaultsFormatter(argparse.HelpFormatter):
    """Shows an option's default where its help does not already say it (and it has one). A flag (no
    value: ``--retune``, ``--no-seed``) shows none: ``--no-seed``'s default is ``seed=True``, which
    read "(default: True)" as if seeding were off by default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or action.nargs == 0 or "default" in text
                or default in (None, False, [], argparse.SUPPRESS)):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with ``argv``, only the verb it names is imported (all of them for help or a typo)."""
    parser = OneLineParser(
        prog="devbench",
        description="Is a pruned network really faster than one built smaller? Measure it on your boards.",
    )
    parser.add_argument("--version", action="version", version=f"devbench {__version__}")
    _add_output_switches(parser, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=OneLineParser)
    sub.required = True
    chosen = next((a for a in (argv or []) if not a.startswith("-")), None)
    for verb, module_name in VERBS.items():
        if chosen in VERBS and verb != chosen:
            continue
        module = importlib.import_module(f"devbench.cli.{module_name}")
        # argparse %-formats help strings: a literal % (as in "95% CI") must be doubled
        p = sub.add_parser(verb, help=module.HELP.replace("%", "%%"), description=module.HELP,
                           formatter_class=DefaultsFormatter)
        _add_output_switches(p, argparse.SUPPRESS)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _add_output_switches(parser: argparse.ArgumentParser, default: object) -> None:
    """-v / -q / --debug, accepted before and after the verb (``devbench run ... -v`` as well as
    ``devbench -v run ...``); SUPPRESS keeps a verb's parser from overwriting the main one's value."""
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="more output: -v shows other libraries' warnings, -vv their info, -vvv debug")
    parser.add_argument("-q", "--quiet", action="count", default=default,
                        help="less output: no progress bars or notes, only results and errors")
    parser.add_argument("--debug", action="store_true", default=default, help="show tracebacks for errors")


def configure_output(verbose: int, quiet: int) -> None:
    """devbench's own notes at INFO (WARNING with -q); other libraries' loggers at ERROR, one
    level lower per -v, as tvmc does (``40 - 10 * v``); -q also turns progress bars off."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.basicConfig(level=max(logging.DEBUG, logging.ERROR - 10 * verbose), handlers=[handler], force=True)
    logging.getLogger("devbench").setLevel(logging.WARNING if quiet else min(logging.INFO, 40 - 10 * verbose))
    if quiet:  # for progress bars made after this point (verbs also pass progress=False down)
        os.environ["TQDM_DISABLE"] = "1"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    for name in ("verbose", "quiet", "debug"):
        setattr(args, name, getattr(args, name, 0))
    configure_output(args.verbose, args.quiet)
    try:
        # every verb stops alike on Ctrl-C and on SIGTERM (`kill`, a scheduler's time limit), even when
        # started with SIGINT ignored (a shell's background job): the transports then kill their runners
        with interrupts.watch():
            return int(args._module.run(args) or 0)
    except DevbenchError as e:
        if args.debug:
            raise
        print(f"devbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("devbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`devbench models | head`): stop quietly, as cat and ls do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def entry() -> None:
    """The ``devbench`` command: :func:`main`, and after Ctrl-C an exit that skips the interpreter's
    teardown. Every verb has closed its files, boards and workers by the time it returns 130, and
    tearing down torch and TVM takes about a second more (measured: the last line at 0.5-0.9 s
    after the signal, the process gone at 1.6-2.0 s), which a user waiting on Ctrl-C sees."""
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


def positive_int(text: str) -> int:
    """argparse type for counts (threads, batch, repeats): a one-line error for anything else."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def count_up_to(limit: int, what: str) -> Callable[[str], int]:
    """argparse type for a positive count with an upper bound: ``--repeats 1000000000`` or
    ``--threads 10000`` would hang a board for hours, not measure it."""

    def parse(text: str) -> int:
        value = positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"{text!r} {what} is more than devbench allows (at most {limit})")
        return value

    return parse


def thread_count(text: str) -> int:
    """argparse type for ``--threads``: no board has more cores than the targets' bound."""
    from devbench.targets import MAX_THREADS

    return count_up_to(MAX_THREADS, "threads")(text)


def non_negative_float(text: str) -> float:
    """argparse type for durations and tolerances: finite (``inf`` would never end, ``nan`` compares false)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite non-negative number")
    return value


def csv_list(text: str) -> list[str]:
    """argparse type for ``a,b,c`` lists; an empty one (``--model ,``) would silently do nothing."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing (a comma-separated list is expected)")
    return items


def add_format_argument(parser: argparse.ArgumentParser, default: str = "markdown") -> None:
    parser.add_argument("--format", choices=("markdown", "csv", "json"), default=default, help="output format")


def add_text_format_argument(parser: argparse.ArgumentParser, table: bool = False) -> None:
    """--format for a verb whose result is sentences: text (for people), json (one document on stdout),
    and csv too where the result is a list of records (``table``)."""
    parser.add_argument("--format", choices=("text", "csv", "json") if table else ("text", "json"), default="text",
                        help="output format: text for people, json one document for programs"
                             + (", csv one row per item" if table else ""))


def print_records(records: list[dict[str, Any]], fmt: str) -> None:
    """Print records as JSON or CSV (``--format``); text output is the verb's own."""
    from devbench.report import render_records

    print(render_records(records, fmt).rstrip("\n"))


def add_target_arguments(parser: argparse.ArgumentParser, multiple: bool = False) -> None:
    """--target (one, or a comma list), --targets-file and --threads, shared by the verbs that reach boards."""
    if multiple:
        parser.add_argument("--target", type=csv_list, default=["local"], help="target name(s), comma-separated")
    else:
        parser.add_argument("--target", default="local", help="target name (see `devbench targets`)")
    parser.add_argument("--targets-file", action="append", default=[], metavar="FILE",
                        help="extra target TOML file (repeatable)")
    parser.add_argument("--threads", type=thread_count, help="threads on the board (default: the target's)")


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    from devbench.paths import default_db_path

    parser.add_argument("--db", type=Path, default=None,
                        help=f"results database (default $DEVBENCH_DB or {default_db_path()})")


def add_tuning_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tuning", default="default", metavar="none|default|PATH",
                        help="TVM's schedules: none (untuned, whatever was tuned), default (the target's tuning "
                             "database, shared by every network tuned for it) or PATH (another database folder); "
                             "the row records which, its trials and whether they came from tuning other networks")


def open_store(args: argparse.Namespace):
    """The results store named by ``--db`` (or the default path)."""
    from devbench.paths import default_db_path
    from devbench.results import ResultStore

    return ResultStore(args.db or default_db_path())
