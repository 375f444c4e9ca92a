"""Measure given schedules of one kernel on the target and keep them as tuning records.

The seeding steps of tuning (the conv template's variants, a neighbour's refitted schedule) do not
search: they have a few candidate schedules and only need them built and timed the way MetaSchedule
times its own candidates, with the target's builder and runner, and committed to the database.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any


@dataclass
class Seeded:
    """One kernel given measured records without a search: candidates measured, the best time."""

    task_name: str
    trials: int
    best_us: float


def measure_schedules(task: Any, schedules: list[Any], database: Any, target: Any, builder: Any,
                      runner: Any) -> Seeded | None:
    """Build and time ``schedules`` (s_tir Schedules of ``task``'s kernel); commit those that ran."""
    from tvm.s_tir import meta_schedule as ms

    mod = task.dispatched[0]
    device = "cpu" if target.kind.name == "llvm" else target.kind.name  # what the runner opens
    args_info = ms.arg_info.ArgInfo.from_prim_func(mod["main"])
    built = builder.build([ms.builder.BuilderInput(s.mod, target) for s in schedules])
    ok = [(s, b.artifact_path) for s, b in zip(schedules, built, strict=True) if b.error_msg is None]
    futures = runner.run([ms.runner.RunnerInput(path, device, args_info) for _, path in ok])
    workload = database.commit_workload(mod)
    times = []
    for (sch, path), future in zip(ok, futures, strict=True):
        result = future.result()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # the builder's temporary folder
        if result.error_msg is None and result.run_secs:
            database.commit_tuning_record(ms.database.TuningRecord(sch.trace, workload, result.run_secs, target,
                                                                   args_info))
            times.append(mean_secs(result.run_secs))
    return Seeded(task.task_name, len(ok), 1e6 * min(times)) if times else None


def mean_secs(run_secs: list[Any]) -> float:
    """The mean of a record's or result's ``run_secs`` (TVM float objects)."""
    return sum(float(s) for s in run_secs) / len(run_secs)
