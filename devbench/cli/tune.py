"""devbench tune: MetaSchedule-tune a network's kernels into the target's shared tuning database."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from devbench.cli import add_target_arguments, add_text_format_argument, count_up_to, csv_list, non_negative_float

HELP = "tune a network's TVM kernels for a target (reused by every later compile and run)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, type=csv_list,
                   help="registered name(s) or spec JSON file(s), comma-separated: each network reuses "
                        "the kernels of those before it (--trials then counts per network; --format json gives a list)")
    add_target_arguments(p)
    p.add_argument("--trials", type=trial_count,
                   help="measured candidates in all (default: the seeding's few per new conv plus "
                        "32 per kernel left to search)")
    p.add_argument("--time-budget", type=minutes, metavar="MIN",
                   help="stop after this many minutes (for each network)")
    p.add_argument("--trials-per-task", type=trial_count, help="cap per kernel (default: trials / new kernels)")
    p.add_argument("--retune", action="store_true",
                   help="also search kernels the database already has, their template variants measured again "
                        "(adds trials; the best record wins)")
    p.add_argument("--no-seed", dest="seed", action="store_false",
                   help="search every new kernel instead of seeding convs from the conv template and "
                        "other kernels from tuned neighbours")
    p.add_argument("--trust-new-host", action="store_true",
                   help="accept and remember the host key of an SSH board seen for the first time")
    add_text_format_argument(p)


def trial_count(text: str) -> int:
    """argparse type for ``--trials`` and ``--trials-per-task``: a positive count up to the tuner's bound."""
    from devbench.tuning.tune import MAX_TRIALS

    return count_up_to(MAX_TRIALS, "trials")(text)


def minutes(text: str) -> float:
    """argparse type for ``--time-budget``: a limit of 0 minutes would stop tuning before it starts, so like
    every time limit of devbench (a target file's timeouts, ``max_time_s``) it must be more than 0."""
    value = non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of minutes (omit it for no budget)")
    return value


def run(args: argparse.Namespace) -> int:
    from devbench.models import resolve
    from devbench.targets import get_target
    from devbench.tuning import tune_each

    specs = [resolve(name)[0] for name in args.model]  # kernels depend on shapes only, not on weight values
    target = get_target(args.target, args.targets_file, threads=args.threads)
    reports = tune_each(specs, target, args.trials, time_budget_min=args.time_budget,
                        max_trials_per_task=args.trials_per_task, retune=args.retune, seed=args.seed,
                        trust_new_host=args.trust_new_host)
    documents = []
    for name, report in zip(args.model, reports, strict=True):
        if args.format == "json":
            documents.append({"model": name, **asdict(report)})
            continue
        stop = " (time budget reached)" if report.stopped_early else ""
        print(f"tuned {name} for {target.name}: {report.tasks} kernels, {report.reused} reused from the database, "
              f"{report.seeded} seeded and {report.tuned} searched with {report.trials} trials in "
              f"{report.wall_s:.0f} s{stop}; its kernels timed alone sum to ~{report.network_ms:.2f} ms (the network's "
              f"latency is `devbench run`'s to measure); database {report.database}",
              flush=True)
    if args.format == "json":
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2, default=str))
    return 0
