"""Winograd F(4x4, 3x3) convs in the blocked layout, where they beat the direct conv template.

A 3x3 stride-1 conv computed on 4x4 output tiles takes 36 multiplies per tile and channel pair
instead of 144 (the weights transformed once, at compile time, in numpy), at the cost of transforming
each 6x6 input tile and each output tile, and of transformed weights 4x the size of the direct
conv's. The transforms cost a few operations per element, the products one per element *and
channel*, and each transformed weight is used once per tile: the trade pays on wide layers with many
tiles, and the more so the fewer FMAs a core issues per cycle beside its loads and adds.
:func:`suits` draws the boundary (:class:`Boundary`) from timings in the network, not of one kernel
alone (where the weights stay in cache; in isolation MetaSchedule's runner even ranked every
Winograd kernel of resnet56 slower than the direct conv that the network's timing showed it
beating), with 2 threads, in one process alternating the two builds (median of 40-60 blocks of 10
inferences):

- Intel Xeon (AVX-512, two 512-bit FMA units a core): wrn_16_2 with Winograd on its 32-channel
  32x32 convs 1.06x as fast, on its 64-channel 16x16 ones 1.10x, on both 1.15x; adding its
  128-channel 8x8 convs (4 tiles each, 2.4 MB of transformed weights each) 1.04x, and resnet56's
  64-channel 8x8 ones made it 0.90x. Alone, the kernels ranged from 0.6x (32 channels, 8x8) to 1.8x
  (64 channels, 32x32).
- AMD Zen 4 (``znver4``, which splits AVX-512 over 256-bit units: one 512-bit FMA a cycle, 117 fp32
  GFLOP/s a core measured): against the Intel boundary, Winograd on every conv of 32 channels or
  more made resnet56 1.34x as fast (its 32-channel 16x16 convs alone 1.08x, its 64-channel 8x8
  ones alone 1.06x), resnet20 1.29x, resnet8 1.16x, resnet56_b0.5 1.11x, wrn_16_2 1.23x, wrn_10_2
  1.14x, wrn_40_4 1.21x, and wrn_16_4 and wrn_16_8, where it adds only their 256- and 512-channel
  8x8 convs (9 and 38 MB of transformed weights each), 1.20x and 1.30x; DenseNet-BC-100 and the
  Fashion-MNIST pairs have no conv the two boundaries disagree on. Down to 16 channels it added
  nothing on resnet56 (1.01x) and made pruned_wrn 0.95x while the transforms went point by point;
  tile by tile (:func:`tile_major`), against the former kernel and boundary, 16 channels at 32x32
  made resnet20 1.20x and resnet56 1.21x as fast (a 16-channel kernel in 0.65x the direct conv's time),
  resnet8 1.13x, wrn_16_2 1.12x, DenseNet-BC-100 1.13x, wrn_16_4 1.03x, wrn_40_4 1.02x, the
  Fashion-MNIST pairs 1.00x (none of their convs changed); 16 channels down to 16x16 made
  resnet56_b0.5 1.10x but pruned_wrn's 28x28 convs 0.96x, so :data:`ONE_FMA_UNIT` stops at 32x32.

The kernel is one PrimFunc of three parallel loops in the NCHW[x]c layout the network already has:
each row of input tiles transformed where its padded rows were just computed; per Winograd point,
the tiles x input channels by input channels x output channels product, a register tile of tiles by
one output channel block; and each row of output tiles transformed back with the conv's fused
epilogue (bias, residual add, ReLU) still in registers. The register tile's height and the layout
of the transformed buffers are the knobs tuning measures (:data:`VARIANTS`). F(4x4, 3x3)'s outputs
differ from an exact conv's by a few millionths of the largest output (float32 rounding in the
transforms); F(2x2, 3x3) came 5-8x closer, and was slower on every layer tried.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

#: output pixels per tile side, and the input tile side it needs
TILE = 4
ALPHA = TILE + 2
#: the kernel's stages, by block name: padded input, transformed input (two passes), product,
#: transformed output (two passes)
PAD, ROWS_IN, INPUT, PRODUCT, ROWS_OUT, OUTPUT = (f"winograd_{s}" for s in ("pad", "rows_in", "input", "product",
                                                                            "rows_out", "output"))

@dataclass(frozen=True)
class Boundary:
    """The narrowest layers Winograd pays on (see the module's measurements): a conv takes it with
    at least ``wide`` channels (the fewer of in and out) and ``wide_pixels`` output pixels, or at
    least ``narrow`` channels and ``narrow_pixels`` pixels."""

    wide: int
    wide_pixels: int
    narrow: int
    narrow_pixels: int

    def takes(self, channels: int, pixels: int) -> bool:
        return ((channels >= self.wide and pixels >= self.wide_pixels)
                or (channels >= self.narrow and pixels >= self.narrow_pixels))


#: cores with two 512-bit FMA units (Intel Xeon), and every core not measured otherwise
TWO_FMA_UNITS = Boundary(wide=48, wide_pixels=256, narrow=32, narrow_pixels=1024)
#: cores that issue one 512-bit FMA a cycle: every conv of 32 channels or more, down to 8x8 outputs
#: (the smallest measured), and of 16 channels at 32x32
ONE_FMA_UNIT = Boundary(wide=32, wide_pixels=64, narrow=16, narrow_pixels=1024)
#: the LLVM CPU names (``mcpu``) of the cores measured with :data:`ONE_FMA_UNIT`'s boundary
ONE_FMA_UNIT_CPUS = frozenset({"znver4"})
#: measured where channel blocks are 16 floats (AVX-512); with narrower vectors the transforms
#: weigh more against the product, and no board here can measure it
MIN_LANES = 16


@dataclass(frozen=True)
class Knobs:
    """Tiles per register tile of the product: each broadcast input value updates one output
    channel block of ``tiles`` accumulators (fewer where the tile count has no such divisor).

    ``tile_major`` lays the transformed input and the product out tile by tile (each tile's 36
    points one after another) instead of point by point; ``None`` leaves it to :func:`tile_major`.
    """

    tiles: int = 16
    tile_major: bool | None = None


DEFAULT = Knobs()
#: what tuning measures: both tile heights in both layouts (DEFAULT is one of them on every conv)
VARIANTS = (DEFAULT, *(Knobs(tiles, major) for tiles in (16, 8) for major in (True, False)))


#: the most bytes of transformed input and weights a conv lays out tile by tile (Zen 4's L2 a core)
TILE_MAJOR_BYTES = 1 << 20


def tile_major(transformed_bytes: int) -> bool:
    """Whether a conv whose transformed input and weights take ``transformed_bytes`` lays its
    transformed input and product out tile by tile (the default of :class:`Knobs`).

    Point by point, a transform reads or writes each tile's 36 values a point's slab apart
    (channels x tiles x 4 bytes: 4 KB at 16 channels and 64 tiles, where all 36 fall in one L1 set);
    tile by tile they are 36 consecutive vectors, and the product instead gathers each point's values
    from the whole buffer, which pays while that buffer stays in L2 beside the weights. Untuned, on
    Zen 4 (1 MB of L2 a core), paired in one process, tile by tile everywhere against point by point:
    resnet56 1.08x as fast, wrn_16_2 1.13x, but wrn_16_4 0.95x and wrn_40_4 0.98x; by kernel, tile by
    tile took 0-15 % less time on 32 and 64 channels at 16x16 and 32x32 (under 1 MB), and 3-26 % more
    from 128 channels (2.4 MB of weights) up.
    """
    return transformed_bytes <= TILE_MAJOR_BYTES


def boundary_for(target: Any) -> Boundary:
    """The boundary measured on ``target``'s kind of core (an LLVM CPU target), told by its ``mcpu``."""
    return ONE_FMA_UNIT if str(target.attrs.get("mcpu", "")) in ONE_FMA_UNIT_CPUS else TWO_FMA_UNITS


def suits(call: Any, lanes: int, boundary: Boundary) -> bool:
    """Whether the blocked-layout conv ``call`` (NCHW[bi]c data, OIHW[bi]i[bo]o weight) is one
    Winograd computes faster on a core with ``lanes``-float vectors and ``boundary``: 3x3, stride 1,
    dilation 1, padding 1, one group, float32, a weight known at compile time, whole 4x4 tiles, and
    wide enough for its output size."""
    from tvm.ir.expr import Constant

    attrs = call.attrs
    if lanes < MIN_LANES or not isinstance(call.args[1], Constant):
        return False
    out_chunks, in_chunks, kh, kw, bi, bo = (int(s) for s in call.args[1].ty.shape)
    _, _, height, width, _ = (int(s) for s in call.args[0].ty.shape)
    if ((kh, kw) != (3, 3) or [int(s) for s in attrs.strides] != [1, 1] or [int(d) for d in attrs.dilation] != [1, 1]
            or [int(p) for p in attrs.padding] != [1, 1, 1, 1] or int(attrs.groups) != 1
            or str(call.args[0].ty.dtype) != "float32" or str(attrs.out_dtype) not in ("", "float32")
            or height % TILE or width % TILE):
        return False
    return boundary.takes(min(out_chunks * bo, in_chunks * bi), height * width)


@functools.cache
def _weight_transform() -> np.ndarray:
    """F(4x4, 3x3)'s weight transform G in float64, from TOPI's Cook-Toom points; computed once (numpy's
    polynomial arithmetic took 13 ms a conv, 1.4 s of resnet110's lowering), read-only since it is shared."""
    from tvm.topi.nn.winograd_util import _cook_toom_convolution, _interpolation_points

    g = _cook_toom_convolution(_interpolation_points(ALPHA - 1), TILE, 3)[2].astype(np.float64)
    g.flags.writeable = False
    return g


def transformed_weight(weight: np.ndarray) -> np.ndarray:
    """The blocked weight ``[O/bo, I/bi, 3, 3, bi, bo]`` as ``[6, 6, O/bo, I, bo]``: G w G^T for every
    channel pair, in float64 then rounded once."""
    g = _weight_transform()
    oc, ic, _, _, bi, bo = weight.shape
    u = np.einsum("ek,oikljm,nl->enoijm", g, weight.astype(np.float64), g)
    return u.reshape(ALPHA, ALPHA, oc, ic * bi, bo).astype(weight.dtype)


def compute(data: Any, weight: Any) -> Any:
    """The TE compute of the conv of NCHW[bi]c ``data`` with a :func:`transformed_weight` (padding 1)."""
    from tvm import te, topi
    from tvm.topi.nn.winograd_util import winograd_transform_matrices

    a, b, _ = winograd_transform_matrices(TILE, 3, "float32")
    batch, in_chunks, height, width, bi = (int(s) for s in data.shape)
    out_chunks, channels, bo = (int(s) for s in weight.shape[2:])
    th, tw = height // TILE, width // TILE
    pad = topi.nn.pad(data, (0, 0, 1, 1, 0), (0, 0, 1, 1, 0), name=PAD)
    r = te.reduce_axis((0, ALPHA), "r")
    rows = te.compute((batch, in_chunks, th, tw, ALPHA, ALPHA, bi), lambda n, c, y, x, e, s, cb: te.sum(
        b[r, e] * pad[n, c, y * TILE + r, x * TILE + s, cb], axis=r), name=ROWS_IN)
    s = te.reduce_axis((0, ALPHA), "s")
    v = te.compute((ALPHA, ALPHA, in_chunks, batch, th, tw, bi), lambda e, f, c, n, y, x, cb: te.sum(
        rows[n, c, y, x, e, s, cb] * b[s, f], axis=s), name=INPUT)
    ci = te.reduce_axis((0, channels), "ci")
    m = te.compute((ALPHA, ALPHA, out_chunks, batch, th, tw, bo), lambda e, f, k, n, y, x, kb: te.sum(
        v[e, f, ci // bi, n, y, x, ci % bi] * weight[e, f, k, ci, kb], axis=ci), name=PRODUCT)
    s2 = te.reduce_axis((0, ALPHA), "s2")
    cols = te.compute((batch, out_chunks, th, tw, ALPHA, TILE, bo), lambda n, k, y, x, e, j, kb: te.sum(
        m[e, s2, k, n, y, x, kb] * a[s2, j], axis=s2), name=ROWS_OUT)
    r2 = te.reduce_axis((0, ALPHA), "r2")
    return te.compute((batch, out_chunks, height, width, bo), lambda n, k, h, w, kb: te.sum(
        a[r2, h % TILE] * cols[n, k, h // TILE, w // TILE, r2, w % TILE, kb], axis=r2), name=OUTPUT)


def applies(func: Any) -> bool:
    """Whether ``func`` is a Winograd conv of :func:`compute` (with or without a fused epilogue)."""
    from devbench.backends.tvm_conv_template import has_block

    return has_block(func, PRODUCT)


def schedule(func: Any, knobs: Knobs = DEFAULT) -> Any:
    """The s_tir ``Schedule`` of ``func`` (a PrimFunc for which :func:`applies`) with ``knobs``."""
    import tvm
    from tvm import s_tir

    from devbench.backends.tvm_conv_template import divisor, fused_epilogue

    sch = s_tir.Schedule(tvm.IRModule({"main": func}))
    epilogue, _ = fused_epilogue(sch, OUTPUT)
    product = sch.get(sch.get_sblock(PRODUCT))
    transformed = sum(math.prod(int(d) for d in r.source.shape) * 4 for r in product.reads)  # float32
    if knobs.tile_major if knobs.tile_major is not None else tile_major(transformed):
        sch.transform_layout(sch.get_sblock(INPUT), ("write", 0), lambda e, f, c, n, y, x, cb: (c, n, y, x, e, f, cb))
        sch.transform_layout(sch.get_sblock(PRODUCT), ("write", 0), lambda e, f, k, n, y, x, kb: (k, n, y, x, e, f, kb))

    # the input: a row of tiles per iteration, its padded rows computed there, each tile in registers
    block = sch.get_sblock(INPUT)
    e, f, c, n, y, x, cb, s = sch.get_loops(block)
    sch.reorder(n, c, y, x, e, f, s, cb)
    row = sch.fuse(n, c, y)
    sch.parallel(row)
    _per_tile(sch, sch.get_sblock(ROWS_IN), x)
    sch.compute_at(sch.get_sblock(PAD), row)
    for loop in (e, f, s):
        sch.unroll(loop)
    sch.vectorize(cb)
    sch.decompose_reduction(block, s)

    # the product: per point and output block, ``tiles`` tiles' accumulators over the input channels
    block = sch.get_sblock(PRODUCT)
    e, f, k, n, y, x, kb, ci = sch.get_loops(block)
    tiles = sch.fuse(n, y, x)
    outer, inner = sch.split(tiles, [None, divisor(sch.get(tiles).extent, knobs.tiles)])
    sch.reorder(e, f, k, outer, ci, inner, kb)
    sch.parallel(sch.fuse(e, f, k, outer))
    sch.unroll(inner)
    sch.vectorize(kb)
    sch.decompose_reduction(block, ci)

    # the output: a row of tiles per iteration, the epilogue applied to each tile
    block = sch.get_sblock(OUTPUT)
    n, k, h, w, kb, r2 = sch.get_loops(block)
    ho, hi = sch.split(h, [None, TILE])
    wo, wi = sch.split(w, [None, TILE])
    sch.reorder(n, k, ho, wo, hi, wi, r2, kb)
    sch.parallel(sch.fuse(n, k, ho))
    _per_tile(sch, sch.get_sblock(ROWS_OUT), wo)
    for loop in (hi, wi, r2):
        sch.unroll(loop)
    sch.vectorize(kb)
    if epilogue is not None:
        sch.reverse_compute_at(epilogue, wo)
        *tile, lanes = sch.get_loops(epilogue)[-3:]
        for loop in tile:
            sch.unroll(loop)
        sch.vectorize(lanes)
    sch.decompose_reduction(block, r2)
    return sch


def _per_tile(sch: Any, block: Any, loop: Any) -> None:
    """The first pass of a transform (``B^T d`` or ``m A``), computed for one tile at a time under
    ``loop``: every value of the tile unrolled (the constant matrix folds into adds), the channel
    block the vector."""
    sch.compute_at(block, loop)
    i, j, lanes, r = sch.get_loops(block)[-4:]
    sch.reorder(i, j, r, lanes)
    for inner in (i, j, r):
        sch.unroll(inner)
    sch.vectorize(lanes)
    sch.decompose_reduction(block, r)
