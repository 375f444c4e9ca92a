"""The blocked conv layout TVM's CPU kernels are fast in: NCHW[x]c activations, OIHW[x]i[y]o weights.

With the channel axis split into blocks of one vector (16 floats with AVX-512, 4 with NEON), a conv
keeps a row of outputs for one channel block in vector registers and updates it with one weight
vector and one broadcast input per step (see :mod:`.tvm_conv_template`). The weights are laid out
at compile time (``FoldConstant`` folds their layout transform: the weight pre-packing).

Pruned and reduced networks have odd widths (13, 27): their tensors take the largest block that
divides (27 -> 9) or the whole channel axis (13), a vector with some lanes masked. Each tensor's
block follows from its channel count alone, so a producer and its consumers always agree and no
layout transform appears between convs. A network with a channel count no block fits (a prime
above two vectors), or with a channel concat (DenseNet: the joined tensors' blocks differ), keeps
NCHW altogether, and MetaSchedule's generic schedules.
"""

from __future__ import annotations

from typing import Any

CONV = "relax.nn.conv2d"
CONCAT = "relax.concat"


def channel_block(target: Any) -> int:
    """Floats in one SIMD register of ``target`` (an LLVM CPU target): 16 with AVX-512, 4 with NEON."""
    from tvm.target import codegen

    return max(1, int(codegen.llvm_get_vector_width(target)) // 32)


def _calls(mod: Any) -> list[Any]:
    """Every operator call in ``mod``'s Relax functions."""
    from tvm import relax
    from tvm.ir import Op

    calls = []

    @relax.expr_functor.visitor
    class _Collect(relax.PyExprVisitor):
        def visit_call_(self, call: Any) -> None:
            if isinstance(call.op, Op):
                calls.append(call)
            super().visit_call_(call)

    for _, func in mod.functions_items():
        if isinstance(func, relax.Function):
            _Collect().visit_expr(func)
    return calls


def _channels(call: Any) -> tuple[int, int]:
    """(input channels, output channels) of an NCHW/OIHW conv call."""
    return int(call.args[0].ty.shape[1]), int(call.args[1].ty.shape[0])


def block_for(channels: int, lanes: int) -> int | None:
    """The channel block of a tensor with ``channels`` channels: a full vector where it divides.

    Otherwise the largest divisor between 4 and ``lanes`` (27 -> 9), else the smallest one up to
    two vectors (13 -> 13, 46 -> 23); ``None`` when only a tiny block would fit (37 -> 1), which
    would leave the conv unvectorized.
    """
    if channels % lanes == 0:
        return lanes
    for d in [*range(lanes, 3, -1), *range(lanes + 1, 2 * lanes + 1)]:
        if channels % d == 0:
            return d
    return None


def _fits(call: Any, lanes: int) -> bool:
    attrs = call.attrs
    if str(attrs.data_layout) != "NCHW" or str(attrs.kernel_layout) != "OIHW" or int(attrs.groups) != 1:
        return False
    if str(call.args[0].ty.dtype) != "float32":
        return False
    ic, oc = _channels(call)
    return block_for(oc, lanes) is not None and (block_for(ic, lanes) is not None or ic <= lanes)


def blocked_layout_applies(mod: Any, target: Any) -> bool:
    """Whether every conv of ``mod`` can take the blocked layout on ``target``."""
    if target.kind.name != "llvm":
        return False
    lanes = channel_block(target)
    calls = _calls(mod)
    convs = [c for c in calls if c.op.name == CONV]
    # a concat (DenseNet) joins tensors of different blocks, which TVM's layout inference rejects
    if any(c.op.name == CONCAT for c in calls):
        return False
    return lanes >= 4 and bool(convs) and all(_fits(c, lanes) for c in convs)


def to_blocked_layout(mod: Any, target: Any) -> Any:
    """``mod`` with its convs in NCHW[x]c, legalized to TOPI's ``conv2d_NCHWc`` (weights pre-packed)."""
    import tvm
    from tvm import relax, topi

    lanes = channel_block(target)

    def layouts(call: Any) -> dict[str, list[str]]:
        if getattr(call.op, "name", "") != CONV:
            return {}
        ic, oc = _channels(call)
        # every tensor's block depends on its channel count only, so producer and consumer agree
        bi, bo = block_for(ic, lanes) or ic, block_for(oc, lanes)
        return {CONV: [f"NCHW{bi}c", f"OIHW{bi}i{bo}o", f"NCHW{bo}c"]}

    def legalize(bb: Any, call: Any) -> Any:
        attrs = call.attrs
        return bb.call_te(
            topi.nn.conv2d_NCHWc, call.args[0], call.args[1], attrs.strides, attrs.padding, attrs.dilation,
            attrs.data_layout, attrs.out_layout, attrs.out_dtype if str(attrs.out_dtype) else "float32",
            primfunc_name_hint="conv2d_NCHWc",
        )

    return tvm.transform.Sequential([
        relax.transform.ConvertLayout({}, layouts),
        relax.transform.Normalize(),
        relax.transform.FoldConstant(),  # the weights' layout transform happens here, once
        relax.transform.LegalizeOps({CONV: legalize}),
    ])(mod)
