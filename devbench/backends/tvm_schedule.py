"""A schedule for kernels the tuning database does not cover, chosen without measuring anything.

Blocked-layout convs get the hand-written template of :mod:`.tvm_conv_template`, elementwise kernels
on blocked tensors one parallel loop over rows with the channel block as the vector. For the rest:
TVM's legalized TIR, compiled as is, is a serial scalar loop nest (resnet56: ~90 ms where a tuned
build takes ~1 ms). MetaSchedule's design space for a kernel already encodes the x86 recipe
(multi-level tiling, parallel outer loops, vectorized inner loops); this module takes the first
point of that space with a fixed seed, validates it with MetaSchedule's post-processors, and
uses it unmeasured. It is the untuned baseline: deterministic, cheap (no builds, no runs), and
roughly an order of magnitude faster than the serial lowering.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

SEED = 42


def import_tensor_intrinsics() -> None:
    """Import ``tvm.s_tir.tensor_intrin`` (MetaSchedule needs it) in seconds instead of minutes.

    That package parses ~500 TVMScript functions at import; each parse calls ``inspect.stack()``,
    and for every frame of a frozen importlib file ``inspect.getmodule`` scans all of
    ``sys.modules`` (thousands once torch is loaded): 40-110 s here, in every MetaSchedule build
    worker too. Memoizing the lookup for those pseudo-files during the import removes that cost.
    """
    if "tvm.s_tir.tensor_intrin" in sys.modules:
        return
    original = inspect.getmodule
    memo: dict[str, Any] = {}

    def getmodule(obj: Any, _filename: str | None = None) -> Any:
        code = getattr(obj, "f_code", None)
        name = _filename or (code.co_filename if code is not None else None)
        if not name or not name.startswith("<"):
            return original(obj, _filename)
        if name not in memo:
            memo[name] = original(obj, _filename)
        return memo[name]

    inspect.getmodule = getmodule
    try:
        import tvm.s_tir.tensor_intrin  # noqa: F401
    finally:
        inspect.getmodule = original


def schedule_untuned(mod: Any, target: Any) -> Any:
    """Every unscheduled PrimFunc of ``mod`` scheduled without measuring anything.

    On a CPU, blocked-layout convs get the conv template's default knobs and every other kernel a
    design-space sample of MetaSchedule. On a GPU, see :func:`_schedule_for_gpu`.
    """
    from tvm import tirx

    from devbench.backends import tvm_conv_template, tvm_winograd

    if target.kind.name != "llvm":
        return _schedule_for_gpu(mod, target)
    updates = {}
    for gv, func in mod.functions_items():
        if not isinstance(func, tirx.PrimFunc) or func.attrs.get("tirx.is_scheduled", False):
            continue
        if tvm_conv_template.applies(func):
            updates[gv] = tvm_conv_template.schedule(func).mod["main"].with_attr("tirx.is_scheduled", True)
            continue
        if tvm_winograd.applies(func):
            updates[gv] = tvm_winograd.schedule(func).mod["main"].with_attr("tirx.is_scheduled", True)
            continue
        if _is_blocked_elementwise(func, target):
            updates[gv] = _schedule_elementwise(func).with_attr("tirx.is_scheduled", True)
            continue
        scheduled = _first_valid_sample(func, target)
        if scheduled is not None:
            updates[gv] = scheduled
    mod = mod.clone()  # the caller's module stays unscheduled: a second build may bring a tuning to it
    for gv, func in updates.items():
        mod[gv] = func
    return mod


def _schedule_for_gpu(mod: Any, target: Any) -> Any:
    """``mod`` with every kernel given TVM's rule-based GPU schedules (dlight), and checked.

    A kernel left without a thread binding is compiled as host code that reads device memory: the
    board crashes at the first inference (seen on an H100/H200: all 9 convs of resnet8 were so,
    because MetaSchedule's first CUDA sample of a conv fails its GPU checks for most seeds). dlight's
    rules are what TVM applies to untuned GPU kernels, and ``Fallback`` binds any spatial loop nest,
    so a kernel none of them schedules is an error here, not a segfault there.
    """
    from tvm.s_tir import dlight as dl

    from devbench.errors import DevbenchError

    with target:
        mod = dl.ApplyDefaultSchedule(dl.gpu.Matmul(), dl.gpu.GEMV(), dl.gpu.Reduction(), dl.gpu.GeneralReduction(),
                                      dl.gpu.Fallback())(mod)
    left = unscheduled(mod)
    if left:
        raise DevbenchError(f"TVM has no GPU schedule for {len(left)} kernel(s) ({', '.join(left[:3])}) on "
                            f"{target.kind.name}: tune them first (devbench tune) or use another backend")
    return mod


def unscheduled(mod: Any) -> list[str]:
    """The names of ``mod``'s kernels that no schedule has been applied to yet."""
    from tvm import tirx

    return [gv.name_hint for gv, f in mod.functions_items()
            if isinstance(f, tirx.PrimFunc) and not f.attrs.get("tirx.is_scheduled", False)]


def _is_blocked_elementwise(func: Any, target: Any) -> bool:
    """Whether ``func`` is elementwise (or a concat) over an NCHW[x]c tensor on a CPU: a 5-D output
    whose last axis is a channel block (at most two vectors), and no reduction anywhere.

    DenseNet's pre-activation BN + ReLU after each concat is such a kernel; MetaSchedule's first
    sample leaves it a scalar loop nest, slower than the conv it feeds (0.2 ms vs 0.05 ms on
    DenseNet-BC-40's first stage).
    """
    import tvm
    from tvm import s_tir

    from devbench.backends.tvm_layout import channel_block

    if target.kind.name != "llvm":
        return False
    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    blocks = [sch.get(b) for b in sch.get_child_blocks(sch.get_sblock("root"))]
    if not blocks or len(blocks[-1].writes) != 1 or len(region := blocks[-1].writes[0].region) != 5:
        return False
    if not isinstance(region[-1].extent, tvm.tirx.IntImm) or int(region[-1].extent) > 2 * channel_block(target):
        return False
    return all(int(v.iter_type) == 0 for b in blocks for v in b.iter_vars)  # 0: data parallel


def _schedule_elementwise(func: Any) -> Any:
    """``func`` as one loop nest: the rows of the output in parallel, each channel block one vector."""
    import tvm
    from tvm import s_tir

    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    *inner, last = sch.get_child_blocks(sch.get_sblock("root"))
    for block in inner:
        sch.compute_inline(block)
    *outer, lanes = sch.get_loops(last)
    sch.parallel(sch.fuse(*outer))
    sch.vectorize(lanes)
    return sch.mod["main"]


def _first_valid_sample(func: Any, target: Any) -> Any | None:
    import tvm
    from tvm.s_tir import meta_schedule as ms

    import_tensor_intrinsics()
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
