"""devbench plot: latency against parameters or MACs, from the results database, as a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

from devbench.cli import add_db_argument, csv_list, open_store

HELP = "plot median latency (95% CI) against params or MACs into a PNG"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("latency.png"), help="PNG file to write")
    p.add_argument("--x", choices=("params", "macs"), default="params")
    p.add_argument("--model", type=csv_list, default=[])
    p.add_argument("--target", type=csv_list, default=[])
    p.add_argument("--backend", type=csv_list, default=[])
    add_db_argument(p)


def run(args: argparse.Namespace) -> int:
    from devbench.plots import plot_latency  # matplotlib: half a second, paid only by this verb

    store = open_store(args)
    try:
        rows = store.rows(args.model, args.target, args.backend)
    finally:
        store.close()
    print(f"wrote {plot_latency(rows, args.out, args.x)}")
    return 0
