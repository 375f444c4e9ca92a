"""devbench demo: the whole chain on this machine, a few networks on every backend, in one command."""

from __future__ import annotations

import argparse

from devbench.bench import BEST
from devbench.cli import csv_list, thread_count
from devbench.cli.run import add_measure_arguments, run_and_print

HELP = "benchmark a few registered networks on every local backend and print the table"

#: small enough to compile in a minute or two on a laptop, different enough to show the trade-offs
DEMO_MODELS = ["resnet20", "wrn_16_2", "densenet_bc_40"]
DEMO_ROUNDS = 6


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=csv_list, default=DEMO_MODELS, help=f"default: {','.join(DEMO_MODELS)}")
    p.add_argument("--backend", type=csv_list, default=[BEST],
                   help="backend(s), comma-separated (default: every backend of the local target)")
    p.add_argument("--threads", type=thread_count, default=None)
    p.add_argument("--targets-file", action="append", default=[])
    # the fewest rounds that still give every row a 95% interval: a demo, not a paper's figure
    add_measure_arguments(p, rounds=DEMO_ROUNDS)


def run(args: argparse.Namespace) -> int:
    return run_and_print(args, args.model, ["local"], args.backend)
