"""devbench merge: copy the rows of other results databases into this one (rows already there are skipped)."""

from __future__ import annotations

import argparse
from pathlib import Path

from devbench.cli import add_db_argument, open_store
from devbench.results import ResultStore

HELP = "copy other results databases' rows (a locked run's .unsaved-* file, another machine's) into this one"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="+", type=Path, help="results database(s) to copy rows from")
    add_db_argument(p)


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        for path in args.source:
            source = ResultStore(path)
            try:
                added, present = store.merge(source)
            finally:
                source.close()
            print(f"{path}: {added} row(s) added to {store.path}, {present} already there")
    finally:
        store.close()
    return 0
