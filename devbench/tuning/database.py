"""One MetaSchedule tuning database per target, shared by every network compiled for it.

Location: ``$DEVBENCH_CACHE_DIR/tuning/<target-name>/`` (default root ``~/.cache/devbench``),
holding MetaSchedule's JSON database: ``database_workload.json`` (one line per kernel, keyed by
its structural hash) and ``database_tuning_record.json`` (one line per measured schedule).
Kernels are matched structurally, so every network with the same conv shape reuses its records.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from devbench.paths import cache_dir
from devbench.targets import Target

WORKLOADS = "database_workload.json"
RECORDS = "database_tuning_record.json"


def database_dir(target: Target, root: Path | None = None) -> Path:
    """Where ``target``'s tuning database lives (``root`` replaces the ``tuning`` folder)."""
    return Path(root) / target.name if root is not None else cache_dir("tuning") / target.name


def open_database(target: Target, root: Path | None = None, create: bool = True) -> Any | None:
    """The target's ``JSONDatabase``; ``None`` when it does not exist and ``create`` is false."""
    from tvm.s_tir import meta_schedule as ms

    d = database_dir(target, root)
    if not create and not (d / RECORDS).is_file():
        return None
    d.mkdir(parents=True, exist_ok=True)
    return ms.database.JSONDatabase(
        path_workload=str(d / WORKLOADS), path_tuning_record=str(d / RECORDS), allow_missing=True
    )


def database_fingerprint(target: Target, root: Path | None = None) -> str:
    """A short hash of the records file: part of the artifact cache key, so new tuning recompiles."""
    path = database_dir(target, root) / RECORDS
    if not path.is_file():
        return "none"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


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
