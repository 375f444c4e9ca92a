"""Seed a new kernel with the tuned schedules of its neighbours in the database.

A network family (pruned, reduced, scaled) is made of the same kernels at other channel counts:
a conv at 8 output channels has the loop nest of the conv at 16, with other extents. MetaSchedule
matches records only by exact structure, so every new width would start from nothing. Here the
best trace of each tuned kernel is replayed onto the new one, its tile sizes refitted to the new
loop extents (inner factors kept where they still divide, so the vector width survives), and the
few that apply are built and measured on the target like any candidate. The fastest becomes the
new kernel's record: it costs a handful of trials instead of a search, and a later ``--retune``
search starts from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from devbench.tuning.database import fastest_records
from devbench.tuning.measure import Seeded, measure_schedules

#: candidates measured per new kernel: the neighbours of closest size, after deduplication
CANDIDATES = 4


def refit_tiles(extent: int, decision: list[int]) -> list[int]:
    """A perfect tiling of ``extent`` shaped like ``decision`` (a tiling of another extent).

    From the innermost factor out, each keeps what still divides the extent left; the outermost
    takes the rest. [1, 2, 2, 4] (16) becomes [1, 1, 2, 4] for 8 and [2, 2, 2, 4] for 32.
    """
    new = [1] * len(decision)
    left = extent
    for i in range(len(decision) - 1, 0, -1):
        new[i] = math.gcd(int(decision[i]), left)
        left //= new[i]
    new[0] = left
    return new


def _refitter(sch: Any) -> Callable[[Any, list[Any], list[Any], Any], Any]:
    """A decision provider for ``Trace.apply_to_schedule`` that refits tile sizes to ``sch``'s loops."""

    def provide(inst: Any, inputs: list[Any], _attrs: list[Any], decision: Any) -> Any:
        if inst.kind.name != "SamplePerfectTile":
            return decision
        extent = int(sch.get(inputs[0]).extent)
        return refit_tiles(extent, [int(d) for d in decision])

    return provide


def _best_traces(database: Any) -> list[tuple[Any, float]]:
    """(trace, flops of its kernel) for the fastest record of every kernel in ``database``."""
    from tvm.s_tir.analysis import estimate_tir_flops

    return [(r.trace, estimate_tir_flops(r.workload.mod)) for r in fastest_records(database)]


def _candidates(mod: Any, sources: list[tuple[Any, float]], postprocs: list[Any]) -> list[Any]:
    """Schedules of ``mod`` replayed from the closest-sized sources that apply, at most CANDIDATES."""
    from tvm import s_tir
    from tvm.s_tir.analysis import estimate_tir_flops
    from tvm_ffi import structural_hash

    flops = max(estimate_tir_flops(mod), 1.0)
    ranked = sorted(sources, key=lambda s: abs(math.log(max(s[1], 1.0) / flops)))
    found, seen = [], set()
    for trace, _ in ranked:
        sch = s_tir.Schedule(mod)
        try:
            trace.apply_to_schedule(sch, remove_postproc=True, decision_provider=_refitter(sch))
            sch.enter_postproc()
            if not all(p.apply(sch) for p in postprocs):
                continue
        except Exception:  # another kernel's trace: its blocks or loops are not in this one
            continue
        h = structural_hash(sch.mod)
        if h not in seen:
            seen.add(h)
            found.append(sch)
        if len(found) == CANDIDATES:
            break
    return found


def transfer(tasks: list[Any], database: Any, target: Any, builder: Any, runner: Any) -> list[Seeded]:
    """Give each of ``tasks`` (MetaSchedule ExtractedTasks with no record) a neighbour's schedule.

    Candidates are built by ``builder`` and timed by ``runner`` (the target's, as in tuning); the
    measured ones are committed to ``database``. Tasks no neighbour's trace applies to are left for
    the search.
    """
    from tvm.s_tir import meta_schedule as ms

    sources = _best_traces(database)
    candidates = []
    for task in tasks if sources else []:
        mod = task.dispatched[0]
        ctx = ms.TuneContext(mod=mod, target=target, space_generator="post-order-apply", num_threads=1)
        schedules = _candidates(mod, sources, ctx.space_generator.postprocs)
        if schedules:
            candidates.append((task, schedules))
    return measure_schedules(candidates, database, target, builder, runner)
