"""One MetaSchedule tuning database per target, shared by every network compiled for it.

Location: ``$DEVBENCH_CACHE_DIR/tuning/<target-name>/`` (default root ``~/.cache/devbench``),
holding MetaSchedule's JSON database: ``database_workload.json`` (one line per kernel, keyed by
its structural hash) and ``database_tuning_record.json`` (one line per measured schedule).
Kernels are matched structurally, so every network with the same conv shape reuses its records.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from devbench.errors import DevbenchError
from devbench.paths import cache_dir
from devbench.targets import Target

log = logging.getLogger(__name__)

WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"
#: the networks ``devbench tune`` tuned into a database, one name per line: a row whose kernels came from
#: tuning *other* networks says which
TUNED_FOR = "tuned_networks.txt"
#: ``--tuning`` besides a database folder's path: no database, or the target's own
TUNING_CHOICES = ("none", "default")


def database_dir(target: Target, root: Path | None = None) -> Path:
    """Where ``target``'s tuning database lives (``root`` replaces the ``tuning`` folder)."""
    return Path(root) / target.name if root is not None else cache_dir("tuning") / target.name


def tuning_dir(target: Target, tuning: str = "default") -> Path | None:
    """The database folder a compile with ``--tuning`` reads: none for ``none`` (untuned by choice),
    the target's own for ``default``, else the folder named, which must hold a database."""
    if tuning == "none":
        return None
    if tuning == "default":
        return database_dir(target)
    d = Path(tuning).expanduser()
    if not (d / RECORDS).is_file():
        raise DevbenchError(f"--tuning {tuning}: no tuning database there (no {RECORDS}); give none, default or "
                            f"a folder `devbench tune` wrote, e.g. {cache_dir('tuning') / target.name}")
    return d


def open_database(target: Target, root: Path | None = None, create: bool = True) -> Any | None:
    """The target's ``JSONDatabase``; ``None`` when it does not exist and ``create`` is false."""
    return open_database_at(database_dir(target, root), create)


def open_database_at(d: Path, create: bool = True) -> Any | None:
    """The ``JSONDatabase`` in folder ``d``; ``None`` when it does not exist and ``create`` is false."""
    from tvm.s_tir import meta_schedule as ms

    if not create and not (d / RECORDS).is_file():
        return None
    d.mkdir(parents=True, exist_ok=True)
    for name in (WORKLOADS, RECORDS):
        _drop_torn_line(d / name)
    return ms.database.JSONDatabase(
        path_workload=str(d / WORKLOADS), path_tuning_record=str(d / RECORDS), allow_missing=True
    )


def _drop_torn_line(path: Path) -> None:
    """Cut ``path`` back to its last whole line. A process ended while MetaSchedule appended a line
    (Ctrl-C's watchdog during tuning, a power cut) leaves the line's start, and TVM then refuses the
    whole database ("Unexpected token"). A record's workload line is written before the record, so a
    torn workload line has no record that refers to it."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        whole = f.read().rfind(b"\n") + 1
        f.truncate(whole)
    log.warning("%s ended in a line cut short (tuning stopped while writing it); dropped it", path)


def database_fingerprint(target: Target, root: Path | None = None) -> str:
    """A short hash of the records file: part of the artifact cache key, so new tuning recompiles."""
    return fingerprint_at(database_dir(target, root))


def fingerprint_at(d: Path | None) -> str:
    """:func:`database_fingerprint` of the database in folder ``d`` (``none`` without one)."""
    path = None if d is None else d / RECORDS
    if path is None or not path.is_file():
        return "none"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def tuned_for(d: Path) -> list[str]:
    """The networks tuned into the database in ``d``, in the order they were first tuned."""
    path = d / TUNED_FOR
    return path.read_text().split() if path.is_file() else []


def add_tuned_for(d: Path, name: str) -> None:
    """Record that ``name`` was tuned into the database in ``d`` (once)."""
    if name and name not in tuned_for(d):
        with open(d / TUNED_FOR, "a") as f:
            f.write(name + "\n")


def tuned_workloads(database: Any, tasks: list[Any]) -> list[int]:
    """Indexes of ``tasks`` (MetaSchedule ExtractedTasks) that already have a valid record."""
    found = []
    for i, task in enumerate(tasks):
        mod = task.dispatched[0]
        if database.has_workload(mod) and database.get_top_k(database.commit_workload(mod), 1):
            found.append(i)
    return found


def records_for(database: Any, mod: Any, target: Any) -> int:
    """How many measured trials stand behind the kernels of ``mod`` (a fused TIR-level Relax module)."""
    from tvm.s_tir import meta_schedule as ms

    total = 0
    for task in ms.relax_integration.extract_tasks(mod, target):
        wl_mod = task.dispatched[0]
        if database.has_workload(wl_mod):
            total += len(database.get_top_k(database.commit_workload(wl_mod), 1 << 30))
    return total


def network_ms(database: Any, tasks: list[Any]) -> float:
    """The network's latency as the database sees it: each kernel's best record x its calls, in ms.

    Kernels without a record count as zero, so this is a lower bound until every kernel is tuned.
    """
    total = 0.0
    for task in tasks:
        mod = task.dispatched[0]
        if not database.has_workload(mod):
            continue
        top = database.get_top_k(database.commit_workload(mod), 1)
        if top and top[0].run_secs:
            total += 1e3 * mean_secs(top[0].run_secs) * task.weight
    return total


def mean_secs(run_secs: list[Any]) -> float:
    """The mean of a record's or a runner result's ``run_secs`` (TVM float objects)."""
    return sum(float(s) for s in run_secs) / len(run_secs)


def fastest_records(database: Any) -> list[Any]:
    """The fastest measured record of every kernel (workload) in ``database``: what a seeding step
    learns from, one record a kernel however often it was tuned."""
    from tvm_ffi import structural_hash

    best: dict[int, tuple[Any, float]] = {}
    for record in database.get_all_tuning_records():
        if not record.run_secs:
            continue
        key = structural_hash(record.workload.mod)
        secs = mean_secs(record.run_secs)
        if key not in best or secs < best[key][1]:
            best[key] = (record, secs)
    return [record for record, _ in best.values()]
