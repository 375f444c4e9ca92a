"""Measure given schedules of kernels on the target and keep them as tuning records.

The seeding steps of tuning (the conv template's variants, a neighbour's refitted schedule) do not
search: they have a few candidate schedules and only need them built and timed the way MetaSchedule
times its own candidates, with the target's builder and runner, and committed to the database.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any

from devbench import interrupts
from devbench.tuning.database import mean_secs


@dataclass
class Seeded:
    """One kernel given measured records without a search: candidates measured, the best time."""

    task_name: str
    trials: int
    best_us: float


def measure_schedules(candidates: list[tuple[Any, list[Any]]], database: Any, target: Any, builder: Any,
                      runner: Any) -> list[Seeded]:
    """Build and time each task's schedules (s_tir Schedules of its kernel); commit those that ran.

    ``candidates`` pairs MetaSchedule ExtractedTasks with their schedules. Everything goes to the
    builder in one batch and to the runner in one batch: each batch starts worker processes that
    import TVM, which costs more than building one small kernel.
    """
    from tvm.s_tir import meta_schedule as ms

    device = "cpu" if target.kind.name == "llvm" else target.kind.name  # what the runner opens
    flat = [(task, sch, ms.arg_info.ArgInfo.from_prim_func(task.dispatched[0]["main"]))
            for task, schedules in candidates for sch in schedules]
    if not flat:
        return []
    built = builder.build([ms.builder.BuilderInput(sch.mod, target) for _, sch, _ in flat])
    interrupts.check()
    ok = [(item, b.artifact_path) for item, b in zip(flat, built, strict=True) if b.error_msg is None]
    futures = runner.run([ms.runner.RunnerInput(path, device, args) for (_, _, args), path in ok])
    tried: dict[str, int] = {}
    best: dict[str, float] = {}
    for ((task, sch, args), path), future in zip(ok, futures, strict=True):
        result = future.result()
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # the builder's temporary folder
        tried[task.task_name] = tried.get(task.task_name, 0) + 1
        if result.error_msg is None and result.run_secs:
            workload = database.commit_workload(task.dispatched[0])
            database.commit_tuning_record(ms.database.TuningRecord(sch.trace, workload, result.run_secs, target, args))
            us = 1e6 * mean_secs(result.run_secs)
            best[task.task_name] = min(best.get(task.task_name, us), us)
    return [Seeded(name, tried[name], us) for name, us in best.items()]
