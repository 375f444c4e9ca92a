"""devbench merge: copy the rows of other results databases into this one (rows already there are skipped)."""

from __future__ import annotations

import argparse
from pathlib import Path

from devbench.cli import add_db_argument, open_store
from devbench.errors import DevbenchError
from devbench.results import ResultStore

HELP = "copy other results databases' rows (a locked run's .unsaved-* file, another machine's) into this one"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="+", type=Path, help="results database(s) to copy rows from")
    add_db_argument(p)


def run(args: argparse.Namespace) -> int:
    sources: list[ResultStore] = []
    try:
        for path in args.source:  # every source opened first: a typo or a foreign file merges nothing
            if not path.is_file():
                raise DevbenchError(f"no results database to merge at {path}")
            sources.append(ResultStore(path))
        store = open_store(args)
        try:
            for source, (added, present) in zip(sources, store.merge(sources), strict=True):
                print(f"{source.path}: {added} row(s) added to {store.path}, {present} already there")
        finally:
            store.close()
    finally:
        for source in sources:
            source.close()
    return 0
