"""devbench run: measure models x targets x backends in rounds, check every output, store and print the table."""

from __future__ import annotations

import argparse
import sys

from devbench.bench import DEFAULT_MEASURE, Interrupted, MeasureSettings, NotStored, run_matrix
from devbench.check import DEFAULT_ATOL
from devbench.cli import (
    add_db_argument,
    add_format_argument,
    add_target_arguments,
    add_tuning_argument,
    count_up_to,
    csv_list,
    non_negative_float,
    open_store,
)
from devbench.report import fastest, render, render_records
from devbench.results import ResultRow

HELP = "benchmark models on targets and backends in rounds; outputs are checked against PyTorch"


def add_measure_arguments(p: argparse.ArgumentParser, rounds: int | None = None) -> None:
    """Measurement options, shared by every verb that measures (run, compare, demo); ``rounds``
    replaces the target's default (the demo's few)."""
    d = DEFAULT_MEASURE
    rounds_default = f"{rounds}" if rounds else f"the target's, or {d['rounds']}"
    p.add_argument("--batch", type=count_up_to(4096, "batch"), default=1, help="batch size (default: 1)")
    p.add_argument("--rounds", type=count_up_to(1000, "rounds"), default=rounds,
                   help=f"rounds: each measures every job once in a fresh runner process, the jobs of a board in "
                        f"a new random order every round; the headline is the median of the round medians and "
                        f"its 95%% interval comes from the spread between rounds, which needs 6 or more "
                        f"(default: {rounds_default})")
    p.add_argument("--warmup", type=count_up_to(100_000, "warm-up runs"),
                   help=f"untimed runs before timing, per round (default: the target's, or {d['warmup']})")
    p.add_argument("--repeats", type=count_up_to(1_000_000, "repeats"),
                   help=f"timed runs per round, at least (default: the target's, or {d['repeats']})")
    p.add_argument("--min-time", type=non_negative_float, metavar="S",
                   help=f"keep sampling until at least S seconds were timed in each round (default: the "
                        f"target's, or {d['min_time_s']}; fast networks get more samples, as TFLite's "
                        f"benchmark_model does)")
    p.add_argument("--max-time", type=non_negative_float, metavar="S",
                   help=f"stop a round's sampling after S seconds even short of --repeats (default: the "
                        f"target's, or {d['max_time_s']})")
    p.add_argument("--accuracy", action="store_true",
                   help="also evaluate each deployed artifact on its dataset's full test set on the board "
                        "(trained networks only) and report its top-1 error")
    p.add_argument("--data-dir", help="where CIFAR-10/100 live for --accuracy (Fashion-MNIST: Debian's package)")
    p.add_argument("--no-check", action="store_true", help="do not fail on outputs that differ from PyTorch")
    p.add_argument("--atol", type=non_negative_float, default=DEFAULT_ATOL,
                   help=f"tolerance of the output check (default: {DEFAULT_ATOL:g})")
    p.add_argument("--trust-new-host", action="store_true",
                   help="accept and remember the host key of an SSH board seen for the first time")
    add_tuning_argument(p)
    add_db_argument(p)
    add_format_argument(p)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=csv_list, required=True, help="model name(s) or spec file(s), comma-separated")
    add_target_arguments(p, multiple=True)
    p.add_argument("--backend", type=csv_list, default=["best"],
                   help="backend(s), comma-separated (default: every backend the target offers, and the "
                        "fastest named)")
    p.add_argument("--resume", action="store_true", help="skip jobs already measured in the database")
    add_measure_arguments(p)


def settings_from(args: argparse.Namespace) -> MeasureSettings:
    return MeasureSettings(batch=args.batch, warmup=args.warmup, repeats=args.repeats, min_time_s=args.min_time,
                           max_time_s=args.max_time, rounds=args.rounds, check=not args.no_check, atol=args.atol,
                           accuracy=args.accuracy, data_dir=args.data_dir, tuning=args.tuning)


def explain(rows: list[ResultRow], atol: float) -> None:
    """One line on stderr per row that failed or cannot be trusted, saying why."""
    for r in rows:
        if r.status != "ok":
            why = r.error or (f"output differs from PyTorch (max abs err {r.max_abs_err:.3g}, top-1 agreement "
                              f"{r.top1_agreement:.0%}, --atol {atol:g} x the largest logit when above 1)")
            print(f"devbench: {r.model} on {r.target} with {r.backend}: {why}", file=sys.stderr)
        elif r.unstable:
            print(f"devbench: {r.model} on {r.target} with {r.backend} is unstable: {r.unstable}", file=sys.stderr)


def run_and_print(args: argparse.Namespace, models: list[str], targets: list[str], backends: list[str]) -> int:
    """Run the matrix, print the table, and say why the exit code is not 0. When the database
    refused rows, the table is printed all the same, before the error line that says where they went."""
    store = open_store(args)
    interrupted, not_stored = False, None
    try:
        rows = run_matrix(models, targets, backends, settings_from(args), store, targets_files=args.targets_file,
                          threads=args.threads, resume=getattr(args, "resume", False),
                          trust_new_host=args.trust_new_host, progress=not args.quiet)
    except Interrupted as e:  # print what finished; the rest is for --resume
        rows, interrupted = e.rows, True
    except NotStored as e:
        rows, not_stored = e.rows, e
    finally:
        store.close()
    print(render(rows, args.format))
    if len({r.backend for r in rows}) > 1 and args.format == "markdown":
        print("\nFastest backend per model and target:\n" + render_records(fastest(rows), args.format))
    explain(rows, args.atol)
    if not_stored is not None:
        raise not_stored
    print(f"results stored in {store.path}", file=sys.stderr)
    return exit_code(rows, interrupted)


def exit_code(rows: list[ResultRow], interrupted: bool) -> int:
    """130 after Ctrl-C (as a shell reports SIGINT), 1 when a row failed, else 0."""
    if interrupted:
        print("devbench: interrupted: the rows above are stored; --resume measures the rest", file=sys.stderr)
        return 130
    return 1 if any(r.status != "ok" for r in rows) else 0


def run(args: argparse.Namespace) -> int:
    return run_and_print(args, args.model, args.target, args.backend)
