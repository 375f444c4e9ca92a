"""The results database: one SQLite row per measured job, appended as soon as it is measured.

Rows are never updated, so a crash or a failing board later in a command loses nothing already
measured; ``--resume`` skips job ids that already have a successful row. WAL mode lets several
board workers append while a report reads.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from devbench.errors import DevbenchError


@dataclass
class ResultRow:
    """One measured (or failed) job with everything needed to judge and reproduce it."""

    job_id: str
    model: str
    target: str
    backend: str
    batch: int
    threads: int
    status: str  # "ok", "check_failed" or "error"
    median_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    iqr_ms: float | None = None
    ci95_low_ms: float | None = None
    ci95_high_ms: float | None = None
    n_samples: int = 0
    warmup: int = 0
    max_abs_err: float | None = None
    top1_agreement: float | None = None
    output_check: str = "off"  # "pass", "FAIL" or "off"
    params: int | None = None
    macs: int | None = None
    weights: str = "random"  # "trained" (a weights file) or "random" (architecture only)
    tuned: bool = False
    trials: int = 0
    emulated: bool = False
    artifact_key: str = ""
    first_result_s: float | None = None
    error: str = ""
    created: float = field(default_factory=time.time)
    samples_ms: list[float] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


JSON_COLUMNS = ("samples_ms", "environment", "meta")
_SQL_TYPES = {int: "INTEGER", float: "REAL", bool: "INTEGER", str: "TEXT"}


def _column_type(f: Any) -> str:
    for py, sql in _SQL_TYPES.items():
        if f.type in (py, py.__name__) or str(f.type).startswith(py.__name__):
            return sql
    return "TEXT"


COLUMNS = [f.name for f in fields(ResultRow)]


class ResultStore:
    """Append-only SQLite store of :class:`ResultRow`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            cols = ", ".join(f"{f.name} {_column_type(f)}" for f in fields(ResultRow))
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS results (id INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
            self.conn.execute("CREATE INDEX IF NOT EXISTS results_job ON results (job_id)")
            self.conn.commit()
        except sqlite3.DatabaseError as e:
            raise DevbenchError(f"cannot open results database {self.path}: {e}") from None

    def add(self, row: ResultRow) -> None:
        d = asdict(row)
        for c in JSON_COLUMNS:
            d[c] = json.dumps(d[c], default=str)
        marks = ", ".join("?" for _ in COLUMNS)
        with self.conn:
            self.conn.execute(f"INSERT INTO results ({', '.join(COLUMNS)}) VALUES ({marks})", [d[c] for c in COLUMNS])

    def done_job_ids(self) -> set[str]:
        """Job ids with a successful row: what ``--resume`` skips."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT job_id FROM results WHERE status = 'ok'")}

    def rows(
        self,
        models: Iterable[str] = (),
        targets: Iterable[str] = (),
        backends: Iterable[str] = (),
        latest_only: bool = True,
    ) -> list[ResultRow]:
        """Rows matching the filters, oldest first; ``latest_only`` keeps the newest row per
        (model, target, backend, batch, threads) so a report shows each measurement once."""
        where, args = [], []
        for col, values in (("model", models), ("target", targets), ("backend", backends)):
            values = list(values)
            if values:
                where.append(f"{col} IN ({', '.join('?' for _ in values)})")
                args += values
        sql = f"SELECT {', '.join(COLUMNS)} FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        out = []
        for rec in self.conn.execute(sql, args):
            d = dict(zip(COLUMNS, rec, strict=True))
            for c in JSON_COLUMNS:
                d[c] = json.loads(d[c]) if d[c] else ([] if c == "samples_ms" else {})
            for c in ("tuned", "emulated"):
                d[c] = bool(d[c])
            out.append(ResultRow(**d))
        if latest_only:
            latest: dict[tuple, ResultRow] = {}
            for r in out:
                latest[(r.model, r.target, r.backend, r.batch, r.threads)] = r
            out = sorted(latest.values(), key=lambda r: r.created)
        return out

    def close(self) -> None:
        self.conn.close()
