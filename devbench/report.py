"""Rows -> tables a paper can take: markdown (tabulate), CSV or JSON.

Reports read only :class:`~devbench.results.ResultRow` values (from the store or from a run), never
a backend or a board, so any table can be re-rendered later from the database alone.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Any

from tabulate import tabulate

from devbench.compare import Comparison
from devbench.results import ResultRow


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")


def _ci(r: ResultRow, end: str) -> float | None:
    """The row's interval bound; none for an unstable row (its interval would claim too much)."""
    return None if r.unstable else getattr(r, f"ci95_{end}_ms")


def _ci_text(r: ResultRow) -> str | None:
    if r.status != "ok":
        return None
    if r.unstable:
        return "unstable"
    if r.ci95_low_ms is None:
        return f"none ({r.rounds} rounds)"
    return f"{r.ci95_low_ms:.3f}-{r.ci95_high_ms:.3f}"


def _tuning(r: ResultRow) -> str:
    """How a TVM row was scheduled: untuned (and whether by choice), tuned with how many trials, and
    whether its kernels came from tuning other networks or from a database named with --tuning."""
    if r.backend != "tvm":
        return ""
    if not r.tuned:
        return "untuned (--tuning none)" if r.tuning_choice == "none" else "untuned"
    where = [f"via {r.tuned_via}"] if r.tuned_via else []
    if r.tuning_choice not in ("", "default", "none"):
        where.append(f"database {r.tuning_choice}")
    return f"tuned ({r.trials} trials{''.join(', ' + w for w in where)})"


#: (column, how to get it from a row): the markdown table, short enough for a terminal
TABLE_COLUMNS: list[tuple[str, Any]] = [
    ("model", lambda r: r.model),
    ("target", lambda r: r.target + (" (emulated)" if r.emulated else "")),
    ("backend", lambda r: r.backend + (f" (tuned {r.trials}{', via ' + r.tuned_via if r.tuned_via else ''})"
                                       if r.tuned else "")),
    ("median_ms", lambda r: r.median_ms),
    ("ci95_ms", _ci_text),
    ("rounds", lambda r: r.rounds),
    ("p90_ms", lambda r: r.p90_ms),
    ("max_abs_err", lambda r: r.max_abs_err),
    ("check", lambda r: r.output_check),
    ("top1_err", lambda r: r.test_error),
    ("params", lambda r: r.params),
    ("macs_M", lambda r: None if r.macs is None else round(r.macs / 1e6, 3)),
    ("load_s", lambda r: r.load_s),
    ("rss_MB", lambda r: None if r.peak_rss_mb is None else round(r.peak_rss_mb, 1)),
    ("weights", lambda r: r.weights),
    ("status", lambda r: r.status if not r.error else f"{r.status}: {r.error}"),
]

#: CSV and JSON: every number numeric, one column per fact (the first six are a stable prefix)
DATA_COLUMNS: list[tuple[str, Any]] = [
    ("model", lambda r: r.model),
    ("target", lambda r: r.target),
    ("backend", lambda r: r.backend),
    ("median_ms", lambda r: r.median_ms),
    ("p90_ms", lambda r: r.p90_ms),
    ("std_ms", lambda r: r.std_ms),
    ("ci95_low_ms", lambda r: _ci(r, "low")),
    ("ci95_high_ms", lambda r: _ci(r, "high")),
    ("rounds", lambda r: r.rounds),
    ("n", lambda r: r.n_samples),
    ("between_round_cv", lambda r: r.between_round_cv),
    ("unstable", lambda r: r.unstable),
    ("max_abs_err", lambda r: r.max_abs_err),
    ("check", lambda r: r.output_check),
    ("top1_error", lambda r: r.top1_error),
    ("trained_error", lambda r: r.trained_error),
    ("params", lambda r: r.params),
    ("macs", lambda r: r.macs),
    ("arm", lambda r: r.arm),
    ("family", lambda r: r.family),
    ("batch", lambda r: r.batch),
    ("threads", lambda r: r.threads),
    ("weights", lambda r: r.weights),
    ("emulated", lambda r: r.emulated),
    ("tuning", _tuning),
    ("trials", lambda r: r.trials),
    ("tuning_db", lambda r: r.tuning_db),
    ("load_s", lambda r: r.load_s),
    ("first_result_s", lambda r: r.first_result_s),
    ("peak_rss_mb", lambda r: r.peak_rss_mb),
    ("artifact_mb", lambda r: r.artifact_mb),
    ("created", lambda r: _iso(r.created)),
    ("status", lambda r: r.status),
    ("error", lambda r: r.error),
]


def _columns(fmt: str) -> list[tuple[str, Any]]:
    return TABLE_COLUMNS if fmt == "markdown" else DATA_COLUMNS


def table_rows(rows: Sequence[ResultRow], fmt: str = "markdown") -> list[dict[str, Any]]:
    return [{name: get(r) for name, get in _columns(fmt)} for r in rows]


def _fmt(value: Any) -> Any:
    """A markdown cell: our number formatting, and text that cannot end the cell or the row (a
    ``|`` in a model's name or an error message would shift every column after it)."""
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:.3f}"
    if isinstance(value, str):
        return value.replace("\n", " ").replace("|", "\\|")
    return "" if value is None else value


def render_records(records: Sequence[dict[str, Any]], fmt: str = "markdown",
                   columns: Sequence[str] = ()) -> str:
    """Render plain records (one dict per row, same keys) as markdown, CSV or JSON. ``columns``
    names the CSV header when there are no records: a program reading it still finds its columns."""
    if fmt == "json":
        return json.dumps(list(records), indent=2, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        header = list(records[0]) if records else list(columns)
        if header:
            writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
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


def full_record(r: ResultRow) -> dict[str, Any]:
    """Every field of a row (samples and environment included), the fields it shares with the
    plain JSON written the same way: the time in ISO 8601, no interval for an unstable row."""
    return asdict(r) | {"created": _iso(r.created), "ci95_low_ms": _ci(r, "low"), "ci95_high_ms": _ci(r, "high")}


def render(rows: Sequence[ResultRow], fmt: str = "markdown", full: bool = False) -> str:
    """Render result rows; ``full`` JSON includes every field, samples and environment included."""
    if fmt == "json" and full:
        return json.dumps([full_record(r) for r in rows], indent=2, default=str)
    return render_records(table_rows(rows, fmt), fmt, [name for name, _ in _columns(fmt)])


def render_report(rows: Sequence[ResultRow], fmt: str = "markdown", full: bool = False) -> str:
    """``devbench report``: in markdown, the measurements first and the configurations that have
    only failed attempts apart below them, so an error never sits among (or instead of) results."""
    if fmt != "markdown":
        return render(rows, fmt, full)
    good = [r for r in rows if r.status != "error"]
    failed = [r for r in rows if r.status == "error"]
    text = render(good, fmt)
    if failed:
        lines = [f"- {r.model} on {r.target} with {r.backend}: {r.error}" for r in failed]
        text += "\n\nNot measured (latest attempt failed, no good row stored):\n" + "\n".join(lines)
    return text


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


def render_comparisons(comparisons: Sequence[Comparison], fmt: str = "markdown") -> str:
    """``devbench compare``'s answer: JSON and CSV with every field, markdown as a sentence per pair."""
    records = [c.as_dict() for c in comparisons]
    if fmt != "markdown":
        return render_records(records, fmt, [f.name for f in fields(Comparison)])
    table = [{
        "model": c.model, "baseline": c.baseline, "target": c.target + (" (emulated)" if c.emulated else ""),
        "backend": c.backend, "ratio": c.ratio,
        "ratio_ci95": None if c.ratio_ci_low is None else f"{c.ratio_ci_low:.3f}-{c.ratio_ci_high:.3f}",
        "rounds": c.rounds, "verdict": c.verdict, "ms": c.median_ms, "baseline_ms": c.baseline_median_ms,
        "params": c.params, "macs_M": None if c.macs is None else round(c.macs / 1e6, 3),
        "test_err": c.test_error, "baseline_test_err": c.baseline_test_error,
    } for c in comparisons]
    lines = [render_records(table, fmt), ""]
    for c in comparisons:
        lines.append(f"{c.model} vs {c.baseline} on {c.target} with {c.backend}: {sentence(c)}")
    return "\n".join(lines)


def sentence(c: Comparison) -> str:
    """hyperfine's way: "0.82x the latency (0.80-0.84, 10 rounds): faster"."""
    if c.verdict == "error":
        return f"error: {c.why}"
    ci = "no interval" if c.ratio_ci_low is None else f"95% CI {c.ratio_ci_low:.3f}-{c.ratio_ci_high:.3f}"
    text = f"{c.ratio:.3f}x the baseline's latency ({ci}, {c.rounds} rounds): {c.verdict}"
    return text + (f" ({c.why})" if c.why else "")
