"""A hand-written schedule for blocked-layout convs (TOPI ``conv2d_NCHWc`` plus its fused epilogue).

The recipe of TVM's former x86 AutoTVM template, written with TensorIR schedule primitives:

- a tile of ``reg_n`` output pixels x one channel block stays in vector registers while the
  reduction over input channels and the kernel window runs (``ow`` split, ``oc_block`` vectorized,
  ``ow`` inner and ``kw`` unrolled), so each step is one weight vector load, a broadcast and an FMA;
- the rows of the output (with the channel blocks) are the parallel loop;
- the padding is computed per output row, and the bias / residual add / ReLU epilogue is applied
  to the tile while it is still in registers.

On this kind of kernel MetaSchedule's generic x86 space needs thousands of trials to approach it.
Its knob (:data:`VARIANTS`) has few values, so tuning measures them all; the result is an ordinary
schedule trace that goes into the MetaSchedule database like any tuned record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONV_BLOCK = "conv2d_NCHWc"


@dataclass(frozen=True)
class Knobs:
    """The template's one choice: output pixels per register tile (largest divisor of the width up to it)."""

    reg_n: int = 16


DEFAULT = Knobs()
#: Measured in isolation, computing the padding in its own parallel loop instead of per row came out
#: ahead on some kernels by under 3 %, and its picks made resnet56 6 % slower in the network (one more
#: thread fork-join per kernel): only the register tile is tuned.
VARIANTS = (Knobs(16), Knobs(8), Knobs(4))


def applies(func: Any) -> bool:
    """Whether ``func`` is a blocked-layout conv (with or without a fused epilogue)."""
    import tvm
    from tvm import s_tir

    try:
        s_tir.Schedule(tvm.IRModule({"main": func})).get_sblock(CONV_BLOCK)
    except Exception:  # no such block: another kind of kernel
        return False
    return True


def schedule(func: Any, knobs: Knobs = DEFAULT) -> Any:
    """The s_tir ``Schedule`` of ``func`` (a PrimFunc for which :func:`applies`) with ``knobs``."""
    import tvm
    from tvm import s_tir

    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    conv = sch.get_sblock(CONV_BLOCK)
    blocks = list(sch.get_child_blocks(sch.get_sblock("root")))
    names = [sch.get(b).name_hint for b in blocks]
    epilogue = blocks[names.index(CONV_BLOCK) + 1:]
    for block in epilogue[:-1]:
        sch.compute_inline(block)

    n, oc_chunk, oh, ow, oc_block, ic, kh, kw = sch.get_loops(conv)
    width = int(sch.get(ow).extent)
    reg_n = max(d for d in range(1, min(knobs.reg_n, width) + 1) if width % d == 0)  # 28 wide, 16 -> 14
    ow_outer, ow_inner = sch.split(ow, [None, reg_n])
    sch.reorder(n, oc_chunk, oh, ow_outer, ic, kh, kw, ow_inner, oc_block)
    rows = sch.fuse(n, oc_chunk, oh)
    if epilogue:
        sch.reverse_compute_at(epilogue[-1], ow_outer)
        sch.vectorize(sch.get_loops(epilogue[-1])[-1])
    sch.parallel(rows)
    sch.unroll(ow_inner)
    sch.unroll(kw)
    sch.vectorize(oc_block)
    if "data_pad" in names:
        sch.compute_at(sch.get_sblock("data_pad"), rows)
    sch.decompose_reduction(conv, ic)
    return sch
