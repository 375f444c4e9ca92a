"""devbench plot: the paper's figures from the results database (see :mod:`devbench.plots`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from devbench.cli import add_db_argument, add_text_format_argument, csv_list, open_store, print_records

HELP = "plot median latency (95% CI) against params or MACs; with known errors, error figures too"

DESCRIPTION = """\
Median latency (log scale, bars: 95% CI) against parameters or MACs, one panel per target and
backend (TVM tuned and untuned apart, emulated boards after real ones). Colour is the network
family, marker the arm (base, pruned, scratch, reduced, family); points are never joined; a hollow
marker is an unstable row (no interval drawn). Only 'ok' rows are plotted. The format follows
--out's suffix (.png, .svg, .pdf). When any row has a top-1 error (measured on the board with
--accuracy, else recorded by training), two more files are written beside --out:
STEM-error-vs-X.SUFFIX (error against params or MACs, one point per model) and
STEM-error-vs-latency.SUFFIX (error against latency with the Pareto front, per target and backend).
Prints each path written."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = DESCRIPTION
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--out", type=Path, default=Path("latency.png"),
                   help="file to write, .png, .svg or .pdf, in an existing directory (default: latency.png)")
    p.add_argument("--x", choices=("params", "macs"), default="params", help="x axis (default: params)")
    p.add_argument("--model", type=csv_list, default=[], help="only these models, comma-separated")
    p.add_argument("--target", type=csv_list, default=[], help="only these targets, comma-separated")
    p.add_argument("--backend", type=csv_list, default=[], help="only these backends, comma-separated")
    add_db_argument(p)
    add_text_format_argument(p, table=True)


def run(args: argparse.Namespace) -> int:
    from devbench.plots import check_output, write_figures  # matplotlib: half a second, paid only by this verb

    out = check_output(args.out)  # before the database is opened: a wrong --out creates nothing
    store = open_store(args)
    try:
        rows = store.rows(args.model, args.target, args.backend)
    finally:
        store.close()
    written = write_figures(rows, out, args.x)
    if args.format != "text":
        print_records([{"path": str(p)} for p in written], args.format)
        return 0
    for path in written:
        print(f"wrote {path}")
    return 0
