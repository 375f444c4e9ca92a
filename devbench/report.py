"""Rows -> tables a paper can take: markdown (tabulate), CSV or JSON.

Reports read only :class:`~devbench.results.ResultRow` values (from the store or from a run), never
a backend or a board, so any table can be re-rendered later from the database alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from tabulate import tabulate

from devbench.results import ResultRow

FORMATS = ("markdown", "csv", "json")

#: (column, how to get it from a row); the first columns are the CLI contract (model ... max_abs_err)
TABLE_COLUMNS: list[tuple[str, Any]] = [
    ("model", lambda r: r.model),
    ("target", lambda r: r.target + (" (emulated)" if r.emulated else "")),
    ("backend", lambda r: r.backend + (f" (tuned {r.trials})" if r.tuned else "")),
    ("median_ms", lambda r: r.median_ms),
    ("p90_ms", lambda r: r.p90_ms),
    ("std_ms", lambda r: r.std_ms),
    ("ci95_ms", lambda r: None if r.ci95_low_ms is None else f"{r.ci95_low_ms:.3f}-{r.ci95_high_ms:.3f}"),
    ("n", lambda r: r.n_samples),
    ("max_abs_err", lambda r: r.max_abs_err),
    ("check", lambda r: r.output_check),
    ("params", lambda r: r.params),
    ("macs_M", lambda r: None if r.macs is None else round(r.macs / 1e6, 3)),
    ("batch", lambda r: r.batch),
    ("threads", lambda r: r.threads),
    ("weights", lambda r: r.weights),
    ("status", lambda r: r.status if not r.error else f"{r.status}: {r.error}"),
]


def table_rows(rows: Sequence[ResultRow]) -> list[dict[str, Any]]:
    return [{name: get(r) for name, get in TABLE_COLUMNS} for r in rows]


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:.3f}"
    return "" if value is None else value


def render_records(records: Sequence[dict[str, Any]], fmt: str = "markdown") -> str:
    """Render plain records (one dict per row, same keys) as markdown, CSV or JSON."""
    if fmt == "json":
        return json.dumps(list(records), indent=2, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        if records:
            writer = csv.DictWriter(buf, fieldnames=list(records[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)
        return buf.getvalue()
    if not records:
        return "(no results)"
    keys = list(records[0])
    numeric = [any(isinstance(r[k], int | float) and not isinstance(r[k], bool) for r in records) for k in keys]
    # Our own number formatting, kept as written (tabulate would re-parse "1.250" as 1.25).
    return tabulate([[_fmt(v) for v in r.values()] for r in records], headers=keys, tablefmt="github",
                    disable_numparse=True, colalign=["right" if n else "left" for n in numeric])


def render(rows: Sequence[ResultRow], fmt: str = "markdown", full: bool = False) -> str:
    """Render result rows; ``full`` JSON includes every field, samples and environment included."""
    if fmt == "json" and full:
        return json.dumps([asdict(r) for r in rows], indent=2, default=str)
    return render_records(table_rows(rows), fmt)


def fastest(rows: Sequence[ResultRow]) -> list[dict[str, Any]]:
    """Per (model, target): the backend with the lowest median among checked rows, and its lead
    over the runner-up, so ``--backend best`` answers "which stack do I ship"."""
    groups: dict[tuple[str, str], list[ResultRow]] = {}
    for r in rows:
        if r.status == "ok" and r.median_ms is not None:
            groups.setdefault((r.model, r.target), []).append(r)
    out = []
    for (model, target), items in groups.items():
        items.sort(key=lambda r: r.median_ms)
        best = items[0]
        runner_up = items[1] if len(items) > 1 else None
        out.append({
            "model": model,
            "target": target,
            "fastest": best.backend + (" (tuned)" if best.tuned else ""),
            "median_ms": best.median_ms,
            "runner_up": runner_up.backend if runner_up else "",
            "speedup_vs_runner_up": round(runner_up.median_ms / best.median_ms, 2) if runner_up else None,
        })
    return out
