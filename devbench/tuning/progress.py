"""Tuning progress, one line per measured batch: tasks done, best latency so far, time left.

It is also where a time budget is enforced: once the deadline passes, the callback raises
:class:`BudgetReached` after the batch it was handed is in the database (the database callback runs
first), and ``tune`` catches it; after Ctrl-C it raises the same, and ``tune`` then raises
KeyboardInterrupt. Terminating MetaSchedule's tasks instead is not safe: during its
first round-robin pass the task scheduler picks tasks without checking them and aborts.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms

from devbench import interrupts
from devbench.tuning.database import mean_secs

log = logging.getLogger(__name__)


class BudgetReached(Exception):
    """Raised from the measure callback to stop MetaSchedule once the time budget is spent."""


@derived_object
class Progress(ms.measure_callback.PyMeasureCallback):
    """Measure callback that logs progress (INFO, or DEBUG when not ``verbose``) and enforces the deadline."""

    def __init__(self, names: list[str], weights: list[float], deadline: float | None,
                 verbose: bool = True, known_ms: float = 0.0) -> None:
        self.names = names
        self.weights = weights
        self.known_ms = known_ms  # the network's kernels not searched here (reused, seeded), already timed
        self.deadline = deadline
        self.level = logging.INFO if verbose else logging.DEBUG
        self.start = time.monotonic()
        self.best_us: dict[int, float] = {}
        self.trials = 0
        self.stopped_early = False
        self.first_error: str | None = None  # the first candidate that failed, for when none ran

    def apply(self, task_scheduler: Any, task_id: int, measure_candidates: Any, builder_results: Any,
              runner_results: Any) -> None:
        now = time.monotonic()
        if runner_results:  # none: a task whose search space is exhausted, nothing new to say
            self._report(task_scheduler, task_id, runner_results, now)
        if interrupts.requested():  # Ctrl-C: out of MetaSchedule the same way; tune raises KeyboardInterrupt
            raise BudgetReached("interrupted")
        if self.deadline is not None and now >= self.deadline:
            self.stopped_early = True
            raise BudgetReached(f"time budget reached after {self.trials} trials")

    def _report(self, task_scheduler: Any, task_id: int, runner_results: Any, now: float) -> None:
        self.trials += len(runner_results)
        for r in runner_results:
            if r.run_secs:
                us = 1e6 * mean_secs(r.run_secs)
                self.best_us[task_id] = min(self.best_us.get(task_id, float("inf")), us)
            elif self.first_error is None:
                self.first_error = r.error_msg
        tasks = task_scheduler.tasks_
        done = sum(1 for t in tasks if t.is_terminated)
        # Network estimate: sum over tasks of best kernel time x how often the network calls it.
        est_ms = self.known_ms + sum(self.best_us.get(i, 0.0) * w for i, w in enumerate(self.weights)) / 1e3
        left = f", {max(0.0, self.deadline - now) / 60:.1f} min left" if self.deadline else ""
        log.log(self.level, "%d trials, tasks done %d/%d, %s best %.1f us, network ~%.2f ms (%d/%d tasks measured), "
                "%.0f s%s", self.trials, done, len(tasks), self.names[task_id], self.best_us.get(task_id, float("nan")),
                est_ms, len(self.best_us), len(tasks), now - self.start, left)
