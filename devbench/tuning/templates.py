"""Seed blocked-layout convs with the conv template's variants, measured on the target.

The template (:mod:`devbench.backends.tvm_conv_template`) has a handful of knob settings; measuring
all of them is a complete search of its space, and costs a few trials per conv where MetaSchedule's
generic space needs thousands to come close.
"""

from __future__ import annotations

from typing import Any

from devbench.tuning.measure import Seeded, measure_schedules


def seed_templates(tasks: list[Any], database: Any, target: Any, builder: Any, runner: Any) -> list[Seeded]:
    """Measure every template variant of each blocked conv among ``tasks``; commit them to ``database``."""
    from tvm_ffi import structural_hash

    from devbench.backends import tvm_conv_template as template

    candidates = []
    for task in tasks:
        func = task.dispatched[0]["main"]
        if not template.applies(func):
            continue
        variants: dict[int, Any] = {}
        for knobs in template.VARIANTS:  # narrow layers make some variants the same schedule
            sch = template.schedule(func, knobs)
            variants.setdefault(structural_hash(sch.mod), sch)
        candidates.append((task, list(variants.values())))
    return measure_schedules(candidates, database, target, builder, runner)
