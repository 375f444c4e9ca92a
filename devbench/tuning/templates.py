"""Seed blocked-layout convs with the conv template's variants, measured on the target.

The template (:mod:`devbench.backends.tvm_conv_template`) has a handful of knob settings; measuring
all of them is a complete search of its space, and costs a few trials per conv where MetaSchedule's
generic space needs thousands to come close. The first network tuned into a database gets that on
every conv.

A later member of the family brings the same layers at other channel counts, and on those the same
register tiles win. Replayed on the records of resnet56's family with every variant measured here
(``benchmarks/family_tuning.py``), the default plus the winners on the two most similar convs of
earlier members held the best variant on all 24 new convs of the bottleneck members, with 46
distinct schedules instead of 95 measured; the winner on the nearest conv alone missed it by up to
12 %. So once the database holds template-seeded convs, a new conv measures only
:data:`~devbench.backends.tvm_conv_template.DEFAULT` and the winners on its :data:`NEIGHBOURS`
nearest convs. The records stay ordinary MetaSchedule records: a winner is recognised by its
schedule, so nothing is stored beside the database. ``--retune`` searches any kernel further.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from devbench.tuning.database import fastest_records
from devbench.tuning.measure import Seeded, measure_schedules

if TYPE_CHECKING:  # the backends package imports every backend: only when the tuning runs
    from devbench.backends.tvm_conv_template import Knobs

#: template-seeded convs of the database, most similar first, whose winning variants a new conv measures
NEIGHBOURS = 2

#: a conv's loop extents, in the template's loop order: n, oc_chunk, oh, ow, oc_block, ic, kh, kw
Extents = tuple[int, ...]


def _extents(func: Any) -> Extents:
    """The loop extents of the conv block of ``func`` (a PrimFunc the template applies to)."""
    import tvm
    from tvm import s_tir

    from devbench.backends import tvm_conv_template as template

    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    return tuple(int(sch.get(loop).extent) for loop in sch.get_loops(sch.get_sblock(template.CONV_BLOCK)))


def _unlikeness(a: Extents, b: Extents) -> tuple[bool, bool, bool, float]:
    """How far apart two convs are for the template's choice (smaller is nearer), most telling first.

    The output size (the pixels per tile divide the width, the rows are the parallel loop), the
    number of channel blocks (the blocks per tile divide it), the block width (the vector: a
    narrower block needs more pixels to fill the FMA units), then the reduction's length.
    """
    _, oc_a, oh_a, ow_a, block_a, ic_a, kh_a, kw_a = a
    _, oc_b, oh_b, ow_b, block_b, ic_b, kh_b, kw_b = b
    return ((oh_a, ow_a) != (oh_b, ow_b), oc_a != oc_b, block_a != block_b,
            abs(math.log(ic_a * kh_a * kw_a / (ic_b * kh_b * kw_b))))


def _seeded_convs(database: Any) -> list[tuple[Extents, Any]]:
    """(loop extents, fastest record) of every blocked conv with a record in ``database``."""
    from devbench.backends import tvm_conv_template as template

    return [(_extents(r.workload.mod["main"]), r) for r in fastest_records(database)
            if template.applies(r.workload.mod["main"])]


def _winner(record: Any) -> Knobs | None:
    """The template knobs whose schedule ``record`` is (the first in ``VARIANTS`` order of those that
    give it); ``None`` for a schedule of MetaSchedule's own search (``--retune``)."""
    from tvm import s_tir
    from tvm_ffi import structural_hash

    from devbench.backends import tvm_conv_template as template

    sch = s_tir.Schedule(record.workload.mod)
    record.trace.apply_to_schedule(sch, remove_postproc=False)
    target = structural_hash(sch.mod)
    func = record.workload.mod["main"]
    return next((k for k in template.VARIANTS if structural_hash(template.schedule(func, k).mod) == target), None)


class _Neighbours:
    """The template-seeded convs of a database, and their winning knobs, found as they are asked for:
    recognising a winner rebuilds the conv's variants (tens of ms), so only the nearest are."""

    def __init__(self, database: Any) -> None:
        self._convs = _seeded_convs(database)
        self._winners: dict[int, Knobs | None] = {}

    def knobs_for(self, extents: Extents) -> list[Knobs]:
        """DEFAULT and the winners on the :data:`NEIGHBOURS` convs nearest ``extents`` (fewer where
        the nearest agree); every variant where no conv of the database won with one."""
        from devbench.backends import tvm_conv_template as template

        order = sorted(range(len(self._convs)), key=lambda i: _unlikeness(extents, self._convs[i][0]))
        knobs, found = [template.DEFAULT], 0
        for i in order:
            if i not in self._winners:
                self._winners[i] = _winner(self._convs[i][1])
            if self._winners[i] is None:
                continue
            found += 1
            if self._winners[i] not in knobs:
                knobs.append(self._winners[i])
            if found == NEIGHBOURS:
                break
        return knobs if found else list(template.VARIANTS)


def seed_templates(tasks: list[Any], database: Any, target: Any, builder: Any, runner: Any) -> list[Seeded]:
    """Measure template variants of each blocked conv among ``tasks``; commit them to ``database``.

    A direct conv: every variant where the database has no template-seeded conv yet (the first
    network of a family), else those of :meth:`_Neighbours.knobs_for`. A Winograd conv: its few
    variants (:data:`~devbench.backends.tvm_winograd.VARIANTS`), always; MetaSchedule's generic
    space does not find its three loop nests' recipe.
    """
    from tvm_ffi import structural_hash

    from devbench.backends import tvm_conv_template as template
    from devbench.backends import tvm_winograd as winograd

    def distinct(schedules: list[Any]) -> list[Any]:  # small layers make some variants the same schedule
        by_hash: dict[int, Any] = {}
        for sch in schedules:
            by_hash.setdefault(structural_hash(sch.mod), sch)
        return list(by_hash.values())

    candidates, neighbours = [], None
    for task in tasks:
        func = task.dispatched[0]["main"]
        if winograd.applies(func):
            candidates.append((task, distinct([winograd.schedule(func, k) for k in winograd.VARIANTS])))
        elif template.applies(func):
            neighbours = neighbours or _Neighbours(database)  # reads the database: only for a direct conv
            knobs = neighbours.knobs_for(_extents(func))
            candidates.append((task, distinct([template.schedule(func, k) for k in knobs])))
    return measure_schedules(candidates, database, target, builder, runner)
