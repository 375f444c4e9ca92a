"""Tune a network's kernels with MetaSchedule into the target's shared database.

Only kernels the database has no record for are tuned: a second member of a network family
(pruned, reduced, scaled) spends trials only on the conv shapes the first did not have. New kernels
are first seeded without a search: blocked convs with the conv template's few variants
(:mod:`.templates`), the others with a tuned neighbour's schedule refitted to the new shape
(:mod:`.transfer`). MetaSchedule searches what is left; ``retune`` measures the template variants
and searches every kernel again.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from devbench import interrupts
from devbench.errors import DevbenchError
from devbench.models.spec import ArchSpec
from devbench.targets import Target
from devbench.tuning.runners import Measurers

#: candidates measured per task per round; a multiple of the usual 64 scaled down for 2-core boards
TRIALS_PER_ITER = 32
#: without ``trials``: one round per kernel left to search after seeding. Those are the small
#: kernels (pools, layout transforms, the classifier): a first round gets them near their best, and
#: a default of thousands of trials took hours on an emulated board for a few percent of a network
DEFAULT_TRIALS_PER_KERNEL = TRIALS_PER_ITER
#: the most trials (in all, or per kernel) one call may ask for: a network's kernels are near their best
#: after a few thousand, and 100 000 already take days on a board (``--trials 99999999999`` is a typo)
MAX_TRIALS = 100_000
#: what a Ctrl-C that could not wait for the batch in flight leaves
KEPT_ON_INTERRUPT = "tuning stopped; the database keeps every batch measured before"

log = logging.getLogger(__name__)


@dataclass
class TuneReport:
    """What one ``tune`` call did."""

    target: str
    database: Path
    tasks: int
    reused: int
    seeded: int
    tuned: int
    trials: int
    wall_s: float
    stopped_early: bool
    network_ms: float = 0.0
    task_names: list[str] = field(default_factory=list)
    best_us: dict[str, float] = field(default_factory=dict)


def _network(network: ArchSpec | torch.nn.Module, input_shape: tuple[int, ...] | None,
             batch: int) -> tuple[torch.nn.Module, torch.Tensor]:
    if isinstance(network, ArchSpec):
        from devbench.models import build_model

        module, shape = build_model(network), network.input_shape
    else:
        if input_shape is None:
            raise DevbenchError("tune: a bare nn.Module needs input_shape (channels, height, width)")
        module, shape = network, input_shape
    return module.eval(), torch.randn(batch, *shape)


def tune(
    network: ArchSpec | torch.nn.Module,
    target: Target,
    trials: int | None = None,
    *,
    time_budget_min: float | None = None,
    database_dir: Path | None = None,
    max_trials_per_task: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    batch: int = 1,
    search_strategy: str = "evolutionary",
    verbose: bool = True,
    retune: bool = False,
    seed: bool = True,
    trust_new_host: bool = False,
    measurers: Measurers | None = None,
) -> TuneReport:
    """Tune ``network`` for ``target`` with at most ``trials`` measured candidates (default: the
    seeding's few per new conv plus :data:`DEFAULT_TRIALS_PER_KERNEL` per kernel left to search).

    ``database_dir`` replaces the root of the per-target databases (default
    ``$DEVBENCH_CACHE_DIR/tuning``). ``max_trials_per_task`` defaults to an even share of
    ``trials`` over the new tasks. The time budget stops tuning after the batch in flight.
    ``retune`` measures the template variants of convs the database already covers again and
    searches every kernel, to add trials to a tuning.
    ``search_strategy`` "replay-trace" skips the cost-model-guided search (fast, for smoke tests).
    ``seed`` first gives new kernels measured schedules without a search: the conv template's
    variants for blocked convs, a tuned neighbour's schedule for the rest; only kernels neither
    covers are searched. ``trust_new_host`` accepts an SSH board's host key on first contact.
    ``measurers``: a builder and runner already started (:func:`tune_each` shares one across a family).

    Ctrl-C and SIGTERM stop at the next batch; one that is not done half a second later is abandoned (its
    candidates were not stored yet) and the process ends with exit code 130.
    """
    from devbench.native_log import native_stderr

    for name, count in (("trials", trials), ("max_trials_per_task", max_trials_per_task)):
        if count is not None and not 0 < count <= MAX_TRIALS:
            raise DevbenchError(f"{name} must be a positive integer of at most {MAX_TRIALS}, got {count}")
    if time_budget_min is not None and not 0 < time_budget_min < math.inf:
        # 0 is no budget to 'if time_budget_min' below, the opposite of what it says
        raise DevbenchError(f"time_budget_min must be a positive number of minutes, got {time_budget_min}")
    check_target(target)
    # the stack: the builder and runner (an SSH board's RPC server), stopped on the way out, after
    # the signal handlers are back; native_stderr: TVM's C++ warnings (`Unknown schedule rule ...`)
    # through logging, shown with -v
    with ExitStack() as stack:
        if measurers is None:
            measurers = stack.enter_context(Measurers(target, trust_new_host))
        with interrupts.watch(), interrupts.deferred(KEPT_ON_INTERRUPT), native_stderr():
            return _tune(network, target, trials, time_budget_min, database_dir, max_trials_per_task, input_shape,
                         batch, search_strategy, verbose, retune, seed, measurers)


def check_target(target: Target) -> None:
    """That tuning for ``target`` can be of use and can run, before the builder and runner start: the
    target offers the tvm backend (nothing else reads a tuning), and a CUDA target measured on this
    machine has its GPU here (without one every candidate fails, after minutes of building them)."""
    if "tvm" not in target.backends:
        raise DevbenchError(f"target {target.name} does not offer the tvm backend (its backends: "
                            f"{', '.join(target.backends)}), and only tvm reads a tuning; add tvm to backends in "
                            f"{target.source or 'its target file'} to tune for it")
    from devbench.transports.local import gpu_missing

    if reason := gpu_missing(target):
        raise DevbenchError(f"target {target.name} tunes on this machine's GPU, but {reason}: run devbench tune "
                            "on the GPU machine, or through a target that reaches it (transport ssh or rpc)")


def _last_exception(text: str) -> str:
    """The last ``SomeError: message`` line of a traceback, with the line after it when the message
    continues there (``RuntimeError: Compilation error:`` then the linker's complaint)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = [i for i, line in enumerate(lines) if re.match(r"\w+(Error|Exception): ", line)]
    if not found:
        return lines[-1] if lines else "no error was reported"
    i = found[-1]
    return " ".join(lines[i:i + 2]) if lines[i].endswith(":") and i + 1 < len(lines) else lines[i]


def tune_each(networks: Sequence[ArchSpec], target: Target, trials: int | None = None,
              **options: Any) -> Iterator[TuneReport]:
    """Tune each of ``networks`` in turn into the target's one database (:func:`tune`'s options, and
    ``trials`` for each), yielding each report as it is done.

    Each network after the first reuses the kernels of those before it, and the builder and runner
    the first started.
    """
    check_target(target)
    with Measurers(target, options.get("trust_new_host", False)) as measurers:
        for network in networks:
            yield tune(network, target, trials, measurers=measurers, **options)


def _tune(network: ArchSpec | torch.nn.Module, target: Target, trials: int | None, time_budget_min: float | None,
          database_dir: Path | None, max_trials_per_task: int | None, input_shape: tuple[int, ...] | None,
          batch: int, search_strategy: str, verbose: bool, retune: bool, seed: bool,
          measurers: Measurers) -> TuneReport:
    from tvm.s_tir import meta_schedule as ms

    from devbench.backends.tvm_backend import prepare, tvm_target
    from devbench.backends.tvm_schedule import import_tensor_intrinsics
    from devbench.tuning.database import add_tuned_for, network_ms, open_database, tuned_workloads
    from devbench.tuning.database import database_dir as db_dir
    from devbench.tuning.progress import Progress
    from devbench.tuning.templates import seed_templates
    from devbench.tuning.transfer import transfer as transfer_schedules

    start = time.monotonic()
    tgt = tvm_target(target)
    module, example = _network(network, input_shape, batch)
    mod, _ = prepare(module, example, tgt)
    interrupts.check()
    database = open_database(target, database_dir)
    all_tasks = ms.relax_integration.extract_tasks(mod, tgt)
    interrupts.check()
    # retune: spend more trials on kernels that already have records (the database keeps the best)
    done = set() if retune else set(tuned_workloads(database, all_tasks))
    new = [t for i, t in enumerate(all_tasks) if i not in done]
    level = logging.INFO if verbose else logging.DEBUG  # devbench's CLI shows INFO, -q hides it
    # only when there is something to measure: they start worker processes that import TVM (seconds),
    # on an SSH board TVM's RPC server (tens of seconds)
    builder, runner = measurers.get() if new else (None, None)
    if new:
        # the seeding's and the search's MetaSchedule contexts import TVM's tensor intrinsics: as a
        # plain import 25-50 s of a first network's tuning here, about 3 s this way
        import_tensor_intrinsics()
    seeded = []
    # a few candidates per kernel: not worth a deadline check. A retune measures the template's
    # variants again too: they are what a database tuned before a template gained a variant lacks,
    # and MetaSchedule's search does not find them; it then searches every kernel as well.
    steps = [("a conv template", seed_templates)] + ([] if retune else [("a tuned neighbour", transfer_schedules)])
    for how, step in steps if seed else []:
        for s in step(new, database, tgt, builder, runner):
            log.log(level, "%s seeded from %s: %.1f us (%d candidates)", s.task_name, how, s.best_us, s.trials)
            seeded.append(s)
        interrupts.check()
        if not retune:  # a retune searches the seeded kernels too
            names = {s.task_name for s in seeded}
            new = [t for t in new if t.task_name not in names]
    report = TuneReport(
        target=target.name, database=db_dir(target, database_dir), tasks=len(all_tasks), reused=len(done),
        seeded=len(seeded), tuned=len(new), trials=sum(s.trials for s in seeded), wall_s=0.0,
        stopped_early=False, task_names=[t.task_name for t in new],
        best_us={s.task_name: s.best_us for s in seeded},
    )
    if trials is None:
        budget = DEFAULT_TRIALS_PER_KERNEL * len(new)
    else:
        budget = trials - report.trials  # the seeding candidates were measured trials too
    first_error = None  # of the search's candidates, for when none ran
    if new and budget > 0:
        per_task = max_trials_per_task or max(1, math.ceil(budget / len(new)))
        deadline = start + 60 * time_budget_min if time_budget_min else None
        # MetaSchedule's own INFO log is long: it goes to files under the database, the terminal
        # gets devbench's one line per batch.
        ms_logger = logging.getLogger("tvm.s_tir.meta_schedule")
        ms_logger.setLevel(logging.WARNING)
        # MetaSchedule re-configures this logger by handler *name* on every tune; an unnamed handler
        # someone else attached (pytest's log capture, a notebook's) makes it fail (AttributeError on the name)
        for handler in [h for h in ms_logger.handlers if h.get_name() is None]:
            ms_logger.removeHandler(handler)
        work_dir = str(report.database / "logs" / time.strftime("%Y%m%d-%H%M%S"))
        contexts, weights = ms.relax_integration.extracted_tasks_to_tune_contexts(
            new, work_dir=work_dir, strategy=search_strategy, num_threads=target.threads or "physical", seed=0)
        searched = {id(t) for t in new}
        progress = Progress([t.task_name for t in new], weights, deadline, verbose=verbose,
                            known_ms=network_ms(database, [t for t in all_tasks if id(t) not in searched]))
        try:
            ms.tune_tasks(
                tasks=contexts, task_weights=weights, work_dir=work_dir,
                max_trials_global=budget, max_trials_per_task=per_task,
                num_trials_per_iter=min(TRIALS_PER_ITER, per_task),
                builder=builder, runner=runner, database=database,
                measure_callbacks=[*ms.measure_callback.MeasureCallback.create("default"), progress],
            )
        except Exception:  # BudgetReached, possibly rewrapped by TVM's FFI on its way out
            interrupts.check()
            if not progress.stopped_early:
                raise
        interrupts.check()
        report.trials += progress.trials
        report.stopped_early = progress.stopped_early
        report.best_us.update({progress.names[i]: us for i, us in progress.best_us.items()})
        first_error = progress.first_error
    if report.trials and not report.best_us:  # every candidate failed: a broken board, not a tuning
        log.debug("the first candidate's error: %s", first_error)
        raise DevbenchError(f"tune: none of the {report.trials} candidates for {report.tasks} kernels ran on "
                            f"{target.name}: {_last_exception(first_error or '')}; -vvv shows the first one's "
                            f"whole error, MetaSchedule's logs are under {report.database / 'logs'}")
    report.network_ms = network_ms(database, all_tasks)
    report.wall_s = time.monotonic() - start
    if isinstance(network, ArchSpec) and (report.seeded or report.tuned or report.reused):
        add_tuned_for(report.database, network.name)
    return report
