"""A hand-written schedule for blocked-layout convs (TOPI ``conv2d_NCHWc`` plus its fused epilogue).

The recipe of TVM's former x86 AutoTVM template, written with TensorIR schedule primitives:

- a tile of ``reg_n`` output pixels x one channel block stays in vector registers while the
  reduction over input channels and the kernel window runs (``ow`` split, ``oc_block`` vectorized,
  ``ow`` inner and ``kw`` unrolled), so each step is one weight vector load, a broadcast and an FMA;
- the rows of the output (with the channel blocks) are the parallel loop;
- the padding is computed per output row, a channel block a vector, and the bias / residual add /
  ReLU epilogue is applied to the tile while it is still in registers.

On this kind of kernel MetaSchedule's generic x86 space needs thousands of trials to approach it.
Its knobs (:data:`VARIANTS`) have few values, so tuning measures them all on the first network of a
database, and on later ones the default plus the variants that won on the most similar convs already
tuned (``devbench/tuning/templates.py``); the result is an ordinary schedule trace that goes into the
MetaSchedule database like any tuned record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONV_BLOCK = "conv2d_NCHWc"


@dataclass(frozen=True)
class Knobs:
    """The template's choices: output pixels per register tile (largest divisor of the width up to
    it) and output channel blocks per tile (largest divisor of the blocks up to it).

    A tile of ``oc_tile`` blocks reuses each broadcast input pixel for ``oc_tile`` FMAs: a step of
    the reduction loads ``pixels + oc_tile`` vectors for ``pixels x oc_tile`` FMAs (17 for 16 at
    16 x 1, 8 at 4 x 4); its accumulators (pixels x ``oc_tile`` vectors) must fit the registers, and
    fewer than about 10 independent FMA chains leave the FMA units waiting on their latency.
    ``oc_tile=None`` (:func:`tile`) takes the tile of at most ``reg_n`` accumulators that has the
    most, and of those the one with the most channel blocks (up to :data:`MAX_BLOCKS`). Against the
    former rule (pixels first, blocks only to fill a row narrower than ``reg_n``), untuned, paired in
    one process (60 blocks of 10 inferences), its time: resnet8 0.87x, resnet20 0.95x, resnet56 0.98x,
    wrn_16_2 0.92x, reduced_wrn 0.93x, pruned_wrn 0.97x, pruned_resnet 0.96x, reduced_resnet 0.98x,
    reduced_densenet 0.93x, pruned_densenet 0.98x, densenet_bc_100 1.00x, wrn_40_4 0.94x: most of it
    on the stride-2 convs, whose strided input loads the taller tile halves (resnet20's 16 -> 32
    channel one took 36 us at 16 x 1, 22 us at 8 x 2). Taking 4 blocks whatever the accumulators
    (a 7-wide row of 4 blocks: 1 x 4) made reduced_wrn 1.14x and reduced_resnet 1.08x slower.
    """

    reg_n: int = 16
    oc_tile: int | None = None


DEFAULT = Knobs()
#: the most output channel blocks :data:`DEFAULT` puts in a tile (4 x 4 accumulators at 16 pixels)
MAX_BLOCKS = 4
#: Measured in isolation, computing the padding in its own parallel loop instead of per row came out
#: ahead on some kernels by under 3 %, and its picks made resnet56 6 % slower in the network (one more
#: thread fork-join per kernel): only the register tile is tuned. Its shape matters by layer: on
#: resnet56's convs here the best of these beat the former default by 1.0-1.6x a kernel (1.20x over the
#: network's kernels), taller tiles (2-4 channel blocks) winning on the 16x16 and 8x8 layers.
VARIANTS = (DEFAULT, Knobs(16, 1), Knobs(8, 1), Knobs(4, 1), Knobs(8, 2), Knobs(16, 2), Knobs(4, 4), Knobs(8, 4))


def divisor(extent: Any, at_most: int) -> int:
    """The largest divisor of a loop's ``extent`` up to ``at_most``: tiles never leave a remainder."""
    extent = int(extent)
    return max(d for d in range(1, min(at_most, extent) + 1) if extent % d == 0)


def tile(width: int, blocks: int, knobs: Knobs) -> tuple[int, int]:
    """The register tile ``knobs`` give a conv whose rows are ``width`` pixels of ``blocks`` output
    channel blocks: (pixels, channel blocks), each dividing its loop."""
    if knobs.oc_tile is not None:
        return divisor(width, knobs.reg_n), divisor(blocks, knobs.oc_tile)
    tiles = [(divisor(width, max(1, knobs.reg_n // b)), b) for b in range(1, MAX_BLOCKS + 1) if blocks % b == 0]
    return max(tiles, key=lambda t: (t[0] * t[1], t[1]))


def has_block(func: Any, name: str) -> bool:
    """Whether the PrimFunc ``func`` has a block called ``name``: which kind of kernel it is."""
    import tvm
    from tvm import s_tir

    try:
        s_tir.Schedule(tvm.IRModule({"main": func})).get_sblock(name)
    except Exception:  # no such block: another kind of kernel
        return False
    return True


def applies(func: Any) -> bool:
    """Whether ``func`` is a blocked-layout conv (with or without a fused epilogue)."""
    return has_block(func, CONV_BLOCK)


def fused_epilogue(sch: Any, last_stage: str) -> tuple[Any | None, list[str]]:
    """The blocks FuseOps appended after the block ``last_stage`` (bias, residual add, ReLU), all
    but the last inlined into their consumers: (that last one or ``None``, the names of all blocks)."""
    blocks = list(sch.get_child_blocks(sch.get_sblock("root")))
    names = [sch.get(b).name_hint for b in blocks]
    epilogue = blocks[names.index(last_stage) + 1:]
    for block in epilogue[:-1]:
        sch.compute_inline(block)
    return (epilogue[-1] if epilogue else None), names


def schedule(func: Any, knobs: Knobs = DEFAULT) -> Any:
    """The s_tir ``Schedule`` of ``func`` (a PrimFunc for which :func:`applies`) with ``knobs``."""
    import tvm
    from tvm import s_tir

    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    conv = sch.get_sblock(CONV_BLOCK)
    epilogue, names = fused_epilogue(sch, CONV_BLOCK)

    n, oc_chunk, oh, ow, oc_block, ic, kh, kw = sch.get_loops(conv)
    pixels, oc_tile = tile(int(sch.get(ow).extent), int(sch.get(oc_chunk).extent), knobs)
    ow_outer, ow_inner = sch.split(ow, [None, pixels])
    oc_outer, oc_inner = sch.split(oc_chunk, [None, oc_tile])
    sch.reorder(n, oc_outer, oh, ow_outer, ic, kh, kw, oc_inner, ow_inner, oc_block)
    rows = sch.fuse(n, oc_outer, oh)
    if epilogue is not None:
        sch.reverse_compute_at(epilogue, ow_outer)
        sch.vectorize(sch.get_loops(epilogue)[-1])
    sch.parallel(rows)
    sch.unroll(oc_inner)
    sch.unroll(ow_inner)
    sch.unroll(kw)
    sch.vectorize(oc_block)
    if "data_pad" in names:
        # left to LLVM, the padded rows of a stride-2 conv were copied a float at a time. Vectorized,
        # alone on Zen 4: resnet20's 16 -> 32 channel conv took 12.6 us instead of 21.6, its 32 -> 64
        # one 11.7 instead of 16.0, pruned_wrn's 14-block stride-2 one 28 instead of 53; untuned
        # networks, paired in one process: resnet8 1.13-1.15x as fast, pruned_wrn 1.13x, wrn_16_2
        # 1.07x, the DenseNet pair 1.05x, resnet20 1.04x, resnet56 1.02x, DenseNet-BC-100 1.00x
        pad = sch.get_sblock("data_pad")
        sch.compute_at(pad, rows)
        sch.vectorize(sch.get_loops(pad)[-1])
    sch.decompose_reduction(conv, ic)
    return sch
