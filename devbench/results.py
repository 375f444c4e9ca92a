"""The results database: one SQLite row per measured job, appended as soon as its rounds are done.

Rows are never updated, so a crash or a failing board later in a command loses nothing already
measured; ``--resume`` skips job ids that already have a successful row. WAL mode lets several
board workers append while a report reads. The schema is versioned (``PRAGMA user_version``): a
database made by an older devbench gains the new columns when it is next written, and keeps its rows.

Opening a store only reads. A reader (``report``, ``plot``) never creates a file or a folder, never
migrates, and a mistyped ``--db`` is one line instead of an empty new database; the file is created
and migrated by the first write, or by :meth:`ResultStore.prepare`, which a run calls before it
measures. A SQLite file devbench did not make (another tool's tables, a ``results`` table without
devbench's columns) is refused untouched, for writing as for reading: adding fifty columns to a
user's own table would corrupt their data and still not give devbench a table it can read.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, field, fields
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
    #: rounds (fresh runner processes) the row's samples come from, and each round's median
    rounds: int = 0
    round_medians_ms: list[float] = field(default_factory=list)
    between_round_cv: float | None = None
    #: why the row cannot be trusted (rounds disagree, other load...); empty when it can
    unstable: str = ""
    max_abs_err: float | None = None
    top1_agreement: float | None = None
    output_check: str = "off"  # "pass", "FAIL" or "off"
    params: int | None = None
    macs: int | None = None
    weights: str = "random"  # "trained" (a weights file) or "random" (architecture only)
    #: the spec's provenance: base, pruned, reduced, scratch or family; and its family
    arm: str = ""
    family: str = ""
    #: top-1 error of the deployed artifact on the full test set, measured on the board (--accuracy)
    top1_error: float | None = None
    #: the test error the spec's training recorded (not measured on the board)
    trained_error: float | None = None
    tuned: bool = False
    trials: int = 0
    #: fingerprint of the tuning database the TVM artifact was built with ("" for other backends)
    tuning_db: str = ""
    #: the --tuning asked for ("none", "default" or a database folder; "" for backends that do not tune)
    tuning_choice: str = ""
    #: the networks whose tuning gave this row's kernels their schedules, when not this network itself
    tuned_via: str = ""
    emulated: bool = False
    artifact_key: str = ""
    artifact_mb: float | None = None
    #: loading the artifact, the first inference (seconds, medians over rounds), the runner's peak RSS
    load_s: float | None = None
    first_result_s: float | None = None
    peak_rss_mb: float | None = None
    error: str = ""
    created: float = field(default_factory=time.time)
    samples_ms: list[float] = field(default_factory=list)
    #: per round: what the runner saw besides its own work (other processes' CPU, steal, frequency...)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def test_error(self) -> float | None:
        """The deployed artifact's measured error when there is one, else the error training recorded."""
        return self.top1_error if self.top1_error is not None else self.trained_error

    @property
    def config(self) -> tuple[str, str, str, int, int]:
        """What a report shows once: the newest good row per (model, target, backend, batch, threads)."""
        return (self.model, self.target, self.backend, self.batch, self.threads)


JSON_COLUMNS = ("samples_ms", "round_medians_ms", "conditions", "environment", "meta")
#: bumped when a column is added; opening an older database adds the missing columns
SCHEMA_VERSION = 3
#: the columns every devbench database has had since the first release (whose user_version was 0):
#: a ``results`` table without them was made by something else
FIRST_COLUMNS = frozenset({"id", "job_id", "model", "target", "backend", "batch", "threads", "status", "created"})
#: how long opening or writing waits for another process's hold on the database
BUSY_TIMEOUT_S = 30.0
_SQL_TYPES = {int: "INTEGER", float: "REAL", bool: "INTEGER", str: "TEXT"}


def _column_type(f: Any) -> str:
    for py, sql in _SQL_TYPES.items():
        if f.type in (py, py.__name__) or str(f.type).startswith(py.__name__):
            return sql
    return "TEXT"


COLUMNS = [f.name for f in fields(ResultRow)]


class ResultStore:
    """Append-only SQLite store of :class:`ResultRow`; opening reads, the first write creates (see the module)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.conn: sqlite3.Connection | None = None
        self._prepared = False
        if str(path) == ":memory:":
            self.prepare()
        elif self.path.exists():  # a file that is not there stays not there until something is written
            self._open()

    def _open(self) -> None:
        try:
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            self._recognise()  # before WAL mode rewrites the file's header
        except (sqlite3.DatabaseError, OSError, DevbenchError) as e:
            self.close()
            self.conn = None
            if isinstance(e, DevbenchError):
                raise
            raise DevbenchError(f"cannot open results database {self.path}: {e}") from None

    def prepare(self) -> None:
        """Make the database ready for :meth:`add`: create it (and its folder), WAL mode, the table
        and any columns an older devbench lacked. A run calls this before measuring, so a database
        that cannot be written is one line at the start, not after minutes of measuring."""
        if self._prepared:
            return
        if self.conn is None:
            try:
                if str(self.path) != ":memory:":
                    self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise DevbenchError(f"cannot open results database {self.path}: {e}") from None
            self._open()  # another process may have made it since this store was opened
        try:
            self._wal()
            self._migrate()
        except (sqlite3.DatabaseError, OSError) as e:
            raise DevbenchError(f"cannot open results database {self.path}: {e}") from None
        self._prepared = True

    def _wal(self) -> None:
        """Put the file in WAL mode (once: the mode stays in the file). Switching takes the file to
        itself, and while another process opens the same new database (two runs started together:
        16 of 30 pairs here) SQLite says "database is locked" at once instead of waiting as it does
        for writes; so wait here, as long as for a write."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _recognise(self) -> None:
        """Refuse, untouched, a database from a newer devbench (rather than misread it) and one
        devbench did not make (rather than alter it). An empty file is a new database."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise DevbenchError(f"results database {self.path} was written by a newer devbench "
                                f"(schema {version}, this one reads up to {SCHEMA_VERSION})")
        tables = sorted(r[0] for r in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"))
        if not tables and version == 0:
            return
        if not FIRST_COLUMNS <= self._columns():
            raise DevbenchError(f"{self.path} is not a devbench results database (its tables: "
                                f"{', '.join(tables) or 'none'}; a results table needs the columns "
                                f"{', '.join(sorted(FIRST_COLUMNS))}); devbench leaves it as it is: "
                                f"give --db a new file")

    def _columns(self) -> set[str]:
        """The columns of the results table; none when the database has no such table yet."""
        return {r[1] for r in self.conn.execute("PRAGMA table_info(results)")}

    def _migrate(self) -> None:
        """Create the table, or add the columns a newer devbench introduced. A database that is up
        to date is not written: runs sharing it contend only for their rows."""
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION and set(COLUMNS) <= self._columns():
            return
        cols = ", ".join(f"{f.name} {_column_type(f)}" for f in fields(ResultRow))
        with self.conn:
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS results (id INTEGER PRIMARY KEY AUTOINCREMENT, {cols})")
            have = self._columns()
            for f in fields(ResultRow):
                if f.name not in have:
                    self.conn.execute(f"ALTER TABLE results ADD COLUMN {f.name} {_column_type(f)}")
            self.conn.execute("CREATE INDEX IF NOT EXISTS results_job ON results (job_id)")
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def add(self, row: ResultRow) -> None:
        self.add_all([row])

    def add_all(self, rows: Iterable[ResultRow]) -> None:
        """Append ``rows`` in one transaction: all of them are stored or, on any failure, none."""
        self.prepare()
        marks = ", ".join("?" for _ in COLUMNS)
        values = []
        for row in rows:
            d = asdict(row)
            for c in JSON_COLUMNS:
                d[c] = json.dumps(d[c], default=str)
            values.append([d[c] for c in COLUMNS])
        try:
            with self.conn:
                self.conn.executemany(f"INSERT INTO results ({', '.join(COLUMNS)}) VALUES ({marks})", values)
        except sqlite3.DatabaseError as e:
            raise DevbenchError(f"cannot write to results database {self.path}: {e}") from None

    def merge(self, sources: Iterable[ResultStore]) -> list[tuple[int, int]]:
        """Copy every row of ``sources`` that this database does not hold yet (a row is its job and
        the moment it was measured), all in one transaction: the rows a locked database refused
        (:func:`save_aside`), other machines' results. Merging twice adds nothing the second time.
        Returns (rows added, rows already here) per source."""
        sources = list(sources)
        for source in sources:
            if source.path.resolve() == self.path.resolve():
                raise DevbenchError(f"{source.path} is the database being merged into")
        seen = set()
        if self.conn is not None and self._readable_columns():  # the keys alone: no row's samples parsed
            seen = set(self._read("SELECT job_id, created FROM results", []))
        new, counts = [], []
        for source in sources:
            incoming = source.rows(latest_only=False)
            fresh = [r for r in incoming if (r.job_id, r.created) not in seen]
            seen.update((r.job_id, r.created) for r in fresh)
            new += fresh
            counts.append((len(fresh), len(incoming) - len(fresh)))
        if new:
            self.add_all(new)
        return counts

    def _readable_columns(self) -> set[str]:
        """The results table's columns, for a read: none when the database has no table yet (it
        holds no rows); a database that is not there is a mistake to read from (a mistyped --db)."""
        if self.conn is None:
            raise DevbenchError(f"no results database at {self.path} (nothing was stored there; "
                                f"`devbench run --db {self.path}` creates it)")
        try:
            return self._columns()
        except sqlite3.DatabaseError as e:
            raise DevbenchError(f"cannot read results database {self.path}: {e}") from None

    def _read(self, sql: str, args: list[Any]) -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise DevbenchError(f"cannot read results database {self.path}: {e}") from None

    def done_job_ids(self) -> set[str]:
        """Job ids with a successful row: what ``--resume`` skips."""
        if not self._readable_columns():
            return set()
        return {r[0] for r in self._read("SELECT DISTINCT job_id FROM results WHERE status = 'ok'", [])}

    def rows(
        self,
        models: Iterable[str] = (),
        targets: Iterable[str] = (),
        backends: Iterable[str] = (),
        latest_only: bool = True,
        job_ids: Iterable[str] | None = None,
    ) -> list[ResultRow]:
        """Rows matching the filters, oldest first. ``latest_only`` keeps one row per configuration
        (:attr:`ResultRow.config`): the newest ``ok`` one, else the newest attempt, so a failed
        rerun never hides a good measurement. An empty ``models``, ``targets`` or ``backends`` does
        not filter (``report`` without ``--model``); ``job_ids`` is None for any job and an empty
        collection for none, since ``--resume`` asks for the rows of the jobs it skips, and a
        database without them must give no rows, not every row."""
        if job_ids is not None:
            job_ids = list(job_ids)
            if not job_ids:
                return []
        where, args = [], []
        for col, values in (("model", models), ("target", targets), ("backend", backends), ("job_id", job_ids or ())):
            values = list(values)
            if values:
                where.append(f"{col} IN ({', '.join('?' for _ in values)})")
                args += values
        # an older database is read as it is (a reader never migrates): the columns it lacks get defaults
        have = self._readable_columns()
        if not have:
            return []
        columns = [c for c in COLUMNS if c in have]
        sql = f"SELECT {', '.join(columns)} FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        out = []
        for rec in self._read(sql, args):
            d = dict.fromkeys(COLUMNS) | dict(zip(columns, rec, strict=True))
            for f in fields(ResultRow):
                if d[f.name] is None and f.default_factory is not MISSING:  # a column added after the row
                    d[f.name] = f.default_factory()
                elif d[f.name] is None and f.default is not None and f.default is not MISSING:
                    d[f.name] = f.default
            for c in JSON_COLUMNS:
                if isinstance(d[c], str):
                    d[c] = json.loads(d[c]) if d[c] else ([] if c in ("samples_ms", "round_medians_ms") else {})
            for c in ("tuned", "emulated"):
                d[c] = bool(d[c])
            out.append(ResultRow(**d))
        if latest_only:
            latest: dict[tuple, ResultRow] = {}
            for r in out:
                if r.status == "ok" or latest.get(r.config, r).status != "ok":
                    latest[r.config] = r
            out = sorted(latest.values(), key=lambda r: r.created)
        return out

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def save_aside(rows: Iterable[ResultRow], beside: Path) -> Path:
    """Store rows their own database refused (locked by another program, a full disk) in a new
    results database next to it, so nothing measured is lost. It is an ordinary devbench database:
    ``report``, ``plot`` and ``run --resume`` take it as ``--db`` as it is."""
    stem, suffix = f"{beside.stem}.unsaved-{time.strftime('%Y%m%d-%H%M%S')}", beside.suffix or ".sqlite"
    path, n = beside.with_name(stem + suffix), 1
    while path.exists():  # two saves in one second never share (or append to) a file
        path, n = beside.with_name(f"{stem}-{n}{suffix}"), n + 1
    store = ResultStore(path)
    try:
        store.add_all(rows)
    finally:
        store.close()
    return path
