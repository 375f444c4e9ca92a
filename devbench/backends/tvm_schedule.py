"""A schedule for kernels the tuning database does not cover, chosen without measuring anything.

TVM's legalized TIR, compiled as is, is a serial scalar loop nest (resnet56: ~90 ms where a tuned
build takes ~1 ms). MetaSchedule's design space for a kernel already encodes the x86 recipe
(multi-level tiling, parallel outer loops, vectorized inner loops); this module takes the first
point of that space with a fixed seed, validates it with MetaSchedule's post-processors, and
uses it unmeasured. It is the untuned baseline: deterministic, cheap (no builds, no runs), and
roughly an order of magnitude faster than the serial lowering.
"""

from __future__ import annotations

from typing import Any

SEED = 42


def schedule_untuned(mod: Any, target: Any) -> Any:
    """Every unscheduled PrimFunc of ``mod`` replaced by a design-space sample of MetaSchedule."""
    from tvm import tirx

    updates = {}
    for gv, func in mod.functions_items():
        if not isinstance(func, tirx.PrimFunc) or func.attrs.get("tirx.is_scheduled", False):
            continue
        scheduled = _first_valid_sample(func, target)
        if scheduled is not None:
            updates[gv] = scheduled
    for gv, func in updates.items():
        mod[gv] = func
    return mod


def _first_valid_sample(func: Any, target: Any) -> Any | None:
    import tvm
    from tvm.s_tir import meta_schedule as ms

    ctx = ms.TuneContext(
        mod=tvm.IRModule({"main": func}),
        target=target,
        space_generator="post-order-apply",
        search_strategy="replay-trace",
        rand_state=SEED,
        num_threads=1,
    )
    postprocs = ctx.space_generator.postprocs
    for sch in ctx.generate_design_space():
        if all(p.apply(sch) for p in postprocs):
            return sch.mod["main"].with_attr("tirx.is_scheduled", True)
    return None
