"""The blocked conv layout TVM's CPU kernels are fast in: NCHW[x]c activations, OIHW[x]i[y]o weights.

With the channel axis split into blocks of one vector (16 floats with AVX-512, 4 with NEON), a conv
keeps a row of outputs for one channel block in vector registers and updates it with one weight
vector and one broadcast input per step (see :mod:`.tvm_conv_template`). The weights are laid out
at compile time, in numpy (:func:`fold_constants` folds their layout transform: the weight pre-packing).

Pruned and reduced networks have odd widths (13, 27): their tensors take the largest block that
divides (27 -> 9) or the whole channel axis (13), a vector with some lanes masked. Tensors that an
elementwise op, a pool or a concat joins share one block (:class:`_Plan`), so a producer and its
consumers always agree and no layout transform appears between convs: a residual stage has one
channel count and takes its block; a DenseNet stage (the stem or transition output, each layer's
k new channels and every concat of them) takes the block of the gcd of its channel counts (12 for
DenseNet-BC-40), so each concat appends whole blocks on the outer channel axis. Where a block would
waste vector lanes, convs write padding channels after their own (zero filters; the convs reading
them have zero weights there): a pruned bottleneck of 43 becomes 45 in blocks of 15; a
DenseNet stage whose channel counts share only a small divisor gets its transition output padded
(DenseNet-BC-100's 150 + 12i: 156 + 12i, blocks of 12 instead of 6; a depth-reduced 33 + 12i,
which shares only 3: 36 + 12i). A DenseNet stage whose bottlenecks write whole vectors pads its
growth to whole vectors too where that adds at most a third (12 -> 16 with AVX-512: DenseNet-BC-100
is 1.12x as fast; see :meth:`_Plan._whole_vectors_pay`). A network with a tensor no block fits that
cannot be padded (a prime above two vectors in a residual stage) keeps NCHW altogether, and
MetaSchedule's generic schedules.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from devbench.backends import tvm_winograd

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


def padded_width(channels: int, lanes: int) -> int:
    """The fewest channels at or above ``channels`` that split into the fewest vectors evenly.

    A conv's cost is its count of output vectors, ``ceil(channels / lanes)`` at best: 27 channels
    in blocks of 9 take three where 28 in blocks of 14 take two, and a block wider than a vector
    (46 -> 23, 34 -> 17) is two of them, one mostly empty (measured 25x slower than its neighbours
    for 34 channels: LLVM's odd-width vectors). A tensor that can be padded with zero channels
    takes this width: 27 -> 28, 34 -> 36, 43 -> 45, 46 -> 48.
    """
    vectors = -(-channels // lanes)
    return vectors * -(-channels // vectors)


#: elementwise ops that keep a zero channel zero (with :data:`_PAD_VALUE` for their constants)
_ELEMENTWISE = frozenset({
    "relax.add", "relax.subtract", "relax.multiply", "relax.divide", "relax.nn.relu", "relax.clip",
})
#: ops whose output has the layout of their 4-D inputs, so these tensors must share one channel block
_SAME_LAYOUT = _ELEMENTWISE | {"relax.nn.avg_pool2d", "relax.nn.max_pool2d", CONCAT}
#: what a padded channel's constant operand is: zero keeps a zero channel zero, a divisor of one too
_PAD_VALUE = {"relax.divide": 1.0}


def _is_nchw(expr: Any) -> bool:
    from tvm import relax

    return isinstance(expr, relax.Var) and len(getattr(expr.ty, "shape", None) or ()) == 4


class _Plan:
    """The channel block of every conv's input and output: tensors an elementwise op, a pool or a
    concat joins form one group and share one block.

    A group without a concat has one channel count, whose :func:`block_for` it takes (as each tensor
    did alone). A group with a concat (a DenseNet stage: the stem or transition output, every
    growth-rate conv output and every concatenation of them) takes the block of the gcd of its
    channel counts, so that the concat joins whole blocks along the outer channel axis and needs no
    layout transform: DenseNet-BC-40's stages (24 + 12i, 48 + 12i, 60 + 12i) take 12.

    Where a group's block would waste vector lanes, its convs write padding channels after their
    own (:attr:`padding`, :meth:`_padding_block`): a pruned bottleneck of 43 becomes 45 in blocks
    of 15; :attr:`maps` says where each tensor's real channels are.
    """

    def __init__(self, mod: Any, lanes: int) -> None:
        from tvm import relax
        from tvm.ir import Op

        self.lanes = lanes
        self.parent: dict[Any, Any] = {}
        self.producer: dict[Any, Any] = {}
        self.consumers: dict[Any, list[Any]] = {}
        self.concats: list[Any] = []
        self.convs: list[tuple[Any, Any]] = []  # (call, its output var)
        self.escaping: set[Any] = set()  # used other than as an operator's operand: their shape is seen
        for _, func in mod.functions_items():
            if not isinstance(func, relax.Function):
                continue
            self.escaping.update(relax.analysis.free_vars(func.body.body))
            for block in func.body.blocks:
                for binding in block.bindings:
                    call = binding.value
                    if not isinstance(call, relax.Call) or not isinstance(call.op, Op):
                        self.escaping.update(relax.analysis.free_vars(call))
                        continue
                    if _is_nchw(binding.var):
                        self._root(binding.var)
                        self.producer[binding.var] = call
                    args = _joined(call)
                    for arg in args:
                        if _is_nchw(arg):
                            self.consumers.setdefault(arg, []).append(call)
                    if call.op.name == CONV:
                        self.convs.append((call, binding.var))
                    elif call.op.name in _SAME_LAYOUT and _is_nchw(binding.var):
                        if call.op.name == CONCAT:
                            self.concats.append(call)
                        for arg in args:
                            if _is_nchw(arg):
                                self._union(arg, binding.var)
        self.members: dict[Any, list[Any]] = {}
        for var in list(self.parent):
            self.members.setdefault(self._root(var), []).append(var)
        self.group_block: dict[Any, int | None] = {}
        self.padding: dict[Any, int] = {}  # group root -> the block its conv outputs are padded to
        for root, vars_ in self.members.items():
            self.group_block[root] = block_for(math.gcd(*(_nchw_channels(v) for v in vars_)), lanes)
            block = self._padding_block(root)
            if block is not None:
                self.padding[root] = block
        self.maps = self._channel_maps()

    def _padding_block(self, root: Any) -> int | None:
        """The block to pad the group of ``root`` to, if padding gives it fewer or fuller vectors.

        Without a concat (a bottleneck): :func:`padded_width`'s. With one (a DenseNet stage): the
        block of its narrowest conv output (the growth rate), where its channel counts share only a
        smaller divisor: DenseNet-BC-100's third stage (150 + 12i) is padded to 156 + 12i, blocks of
        12 instead of 6; a depth-reduced one's (33 + 12i) to 36 + 12i instead of NCHW altogether.
        """
        group = self.members[root]
        if not self._paddable(group):
            return None
        outputs = [_nchw_channels(v) for v in group if self.producer[v].op.name == CONV]
        if not self._has_concat(group):
            width = padded_width(_nchw_channels(group[0]), self.lanes)
            return block_for(width, self.lanes) if width != _nchw_channels(group[0]) else None
        current = self.group_block[root]
        if outputs and self._whole_vectors_pay(group, min(outputs)) and (current or 0) < self.lanes:
            return self.lanes
        block = block_for(min(outputs), self.lanes) if outputs else None
        return block if block is not None and (current is None or block > current) else None

    def _whole_vectors_pay(self, group: list[Any], growth: int) -> bool:
        """Whether a DenseNet stage runs faster with every conv output padded to whole vectors
        (growth 12 -> 16 with AVX-512): where that widens the growth by at most a third and every
        bottleneck conv reading the stage writes whole vectors itself. Measured in the network (paired
        builds, Zen 4): DenseNet-BC-64 1.20x, -100 1.12x, -100 k24 1.22x, -40 1.01x as fast; with
        bottlenecks of 24 or 36 channels (-100 b0.5, b0.75) 0.93x and 0.95x, and 8 -> 16 (k8) 0.62x."""
        whole = -(-growth // self.lanes) * self.lanes
        root = self._root(group[0])
        bottlenecks = [_nchw_channels(out) for call, out in self.convs
                       if call.args[0] in self.parent and self._root(call.args[0]).same_as(root)
                       and not self._has_concat(self.members[self._root(out)])]
        return 3 * whole <= 4 * growth and bool(bottlenecks) and all(b % self.lanes == 0 for b in bottlenecks)

    def _has_concat(self, group: list[Any]) -> bool:
        return any(self.producer.get(v) is not None and self.producer[v].op.name == CONCAT for v in group)

    def _root(self, var: Any) -> Any:
        self.parent.setdefault(var, var)
        while not self.parent[var].same_as(var):
            var = self.parent[var]
        return var

    def _union(self, a: Any, b: Any) -> None:
        self.parent[self._root(a)] = self._root(b)

    def _paddable(self, group: list[Any]) -> bool:
        """Whether ``group``'s convs can write channels after their own (zero filters) that every
        reader ignores: its tensors come from convs, elementwise ops with per-channel constants,
        pools and concats, and stay inside the function; a conv reading one gets zero weights for
        the padding. In a DenseNet stage any other reader (the head) gets the real channels picked
        out (``take``); a bottleneck, only convs and elementwise ops may read."""
        from tvm.ir.expr import Constant

        concat = self._has_concat(group)
        for var in group:
            call = self.producer.get(var)
            if call is None or var in self.escaping or not (_paddable_conv(call) or call.op.name in _SAME_LAYOUT):
                return False
            if call.op.name in _ELEMENTWISE and not all(
                    _is_nchw(a) or (isinstance(a, Constant) and _channel_axis(a, var) is not None)
                    for a in call.args):
                return False
            for use in self.consumers.get(var, []):
                if use.op.name in _SAME_LAYOUT or (_paddable_conv(use) and use.args[0].same_as(var)):
                    continue
                if not concat or not any(a.same_as(var) for a in use.args):
                    return False
        return True

    def _channel_maps(self) -> dict[Any, list[int]]:
        """Per tensor of a padded group, the real channel at each of its channels (-1: padding).

        A group whose elementwise op would join differently padded tensors is not padded after all.
        """
        while True:
            maps: dict[Any, list[int]] = {}
            for var, call in self.producer.items():  # in binding order
                root = self._root(var)
                if root not in self.padding:
                    continue
                channels = _nchw_channels(var)
                if call.op.name == CONV:
                    width = -(-channels // self.padding[root]) * self.padding[root]
                    maps[var] = [*range(channels), *[-1] * (width - channels)]
                    continue
                ins = [maps[a] for a in _joined(call) if _is_nchw(a)]
                if call.op.name == CONCAT:
                    offsets = itertools.accumulate([0, *(len(m) - m.count(-1) for m in ins)])
                    maps[var] = [c + o if c >= 0 else -1 for m, o in zip(ins, offsets, strict=False) for c in m]
                elif any(m != ins[0] for m in ins):
                    del self.padding[root]
                    break
                else:
                    maps[var] = ins[0]
            else:
                return maps

    def block(self, var: Any) -> int | None:
        """The channel block of the 4-D tensor ``var``: its group's."""
        return self.group_block[self._root(var)] if var in self.parent else block_for(_nchw_channels(var), self.lanes)

    def conv_blocks(self, call: Any, out: Any) -> tuple[int | None, int | None]:
        """(input block, output block) of a conv; an input narrower than a vector may be one block."""
        ic = _channels(call)[0]
        bi = self.block(call.args[0]) if _is_nchw(call.args[0]) else block_for(ic, self.lanes)
        return (bi if bi is not None or ic > self.lanes else ic), self.block(out)


def _joined(call: Any) -> list[Any]:
    """The tensor operands of ``call``: a concat's fields, any other op's arguments."""
    from tvm import relax

    if call.op.name == CONCAT and isinstance(call.args[0], relax.Tuple):
        return list(call.args[0].fields)
    return list(call.args)


def _paddable_conv(call: Any) -> bool:
    """Whether ``call`` is a conv whose weights can be padded: a constant, and a layout we block."""
    from tvm.ir.expr import Constant

    return call.op.name == CONV and _fits(call) and isinstance(call.args[1], Constant)


def _channel_axis(const: Any, var: Any) -> int | None:
    """The axis of ``const`` (an operand of the op that makes ``var``) along its channels, -1 for a
    scalar or broadcast one, ``None`` for any other shape."""
    shape = [int(d) for d in const.ty.shape]
    if all(d == 1 for d in shape):
        return -1
    if len(shape) in (3, 4) and shape[-3] == _nchw_channels(var) and all(d == 1 for d in shape[-2:]):
        return len(shape) - 3
    return None


def _spread(data: Any, axis: int, channels: list[int], value: float) -> Any:
    """``data`` with ``axis`` laid out as ``channels`` (a real channel, or -1 for ``value``)."""
    import numpy as np

    out = np.moveaxis(np.take(data, [max(c, 0) for c in channels], axis=axis), axis, 0).copy()
    out[[i for i, c in enumerate(channels) if c < 0]] = value
    return np.moveaxis(out, 0, axis)


def _pad_channels(mod: Any, plan: _Plan) -> Any:
    """``mod`` with the groups of ``plan.padding`` widened by channels after each conv output's own:
    zero filters make them, per-channel constants get values that keep them finite (zero stays
    zero), convs reading them zero weights, and other readers the real channels alone."""
    import numpy as np
    from tvm import relax
    from tvm.ir.expr import Constant

    # call -> arg index -> [(axis, channel map, pad value)], axis None for a take of the real channels; a
    # conv that reads one padded group and writes another has its weights' two axes spread
    rewrites: dict[Any, dict[int, list[tuple[int | None, list[int], float]]]] = {}

    def rewrite(call: Any, arg: int, axis: int | None, channels: list[int], value: float = 0.0) -> None:
        rewrites.setdefault(call, {}).setdefault(arg, []).append((axis, channels, value))

    for var, channels in plan.maps.items():
        call = plan.producer[var]
        if call.op.name == CONV:
            rewrite(call, 1, 0, channels)
        elif call.op.name in _ELEMENTWISE:
            for i, arg in enumerate(call.args):
                if isinstance(arg, Constant) and _channel_axis(arg, var) != -1:
                    rewrite(call, i, _channel_axis(arg, var), channels, _PAD_VALUE.get(call.op.name, 0.0))
        for use in plan.consumers.get(var, []):
            if _paddable_conv(use) and use.args[0].same_as(var):
                rewrite(use, 1, 1, channels)
            elif use.op.name not in _SAME_LAYOUT:
                rewrite(use, [a.same_as(var) for a in use.args].index(True), None, channels)

    @relax.expr_functor.mutator
    class _Widen(relax.PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            if call not in rewrites:
                return super().visit_call_(call)
            args = [self.visit_expr(a) for a in call.args]
            for i, changes in rewrites[call].items():
                for axis, channels, value in changes:
                    if axis is None:
                        real = [channels.index(c) for c in range(len(channels) - channels.count(-1))]
                        args[i] = self.builder_.emit(relax.op.take(args[i], relax.const(np.array(real)), axis=1))
                    else:
                        data = args[i].value.numpy()
                        args[i] = relax.const(_spread(data, axis, channels, value), str(data.dtype))
            return relax.Call(call.op, args, call.attrs, call.ty_args, call.span)

    mod = mod.clone()
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            mod[gv] = _Widen().visit_expr(func)
    return mod


def _nchw_channels(var: Any) -> int:
    return int(var.ty.shape[1])


def _fits(call: Any) -> bool:
    attrs = call.attrs
    if str(attrs.data_layout) != "NCHW" or str(attrs.kernel_layout) != "OIHW" or int(attrs.groups) != 1:
        return False
    return str(call.args[0].ty.dtype) == "float32"


def _blocked_plan(mod: Any, target: Any) -> tuple[Any, dict[Any, tuple[int, int]]] | None:
    """``mod`` with its unfit groups padded, and per conv weight of it its (input block, output
    block); ``None`` where some conv cannot take the blocked layout."""
    if target.kind.name != "llvm":
        return None
    lanes = channel_block(target)
    plan = _Plan(mod, lanes)
    if plan.padding:
        mod = _pad_channels(mod, plan)
        plan = _Plan(mod, lanes)
    if lanes < 4 or not plan.convs:
        return None
    if any(int(c.attrs.axis) % 4 != 1 for c in plan.concats):
        return None  # only a concat of channels keeps the blocks whole
    blocks: dict[Any, tuple[int, int]] = {}
    for call, out in plan.convs:
        bi, bo = plan.conv_blocks(call, out)
        if not _fits(call) or bi is None or bo is None or blocks.setdefault(call.args[1], (bi, bo)) != (bi, bo):
            return None
    return mod, blocks


def blocked_layout_applies(mod: Any, target: Any) -> bool:
    """Whether every conv of ``mod`` can take the blocked layout on ``target`` (some after padding)."""
    return _blocked_plan(mod, target) is not None


def to_blocked_layout(mod: Any, target: Any, winograd: bool | tvm_winograd.Boundary = True) -> Any:
    """``mod`` with its convs in NCHW[x]c, legalized to TOPI's ``conv2d_NCHWc`` (weights pre-packed),
    or, with ``winograd``, to a Winograd conv where :func:`.tvm_winograd.suits` (weights pre-transformed):
    by the boundary of the target's kind of core, or by the one ``winograd`` gives."""
    import tvm
    import tvm_ffi
    from tvm import relax, topi

    planned = _blocked_plan(mod, target)
    if planned is None:
        raise ValueError("to_blocked_layout: the module does not fit the blocked layout (see blocked_layout_applies)")
    mod, blocks = planned

    def layouts(call: Any) -> dict[str, list[str]]:
        if getattr(call.op, "name", "") != CONV:
            return {}
        bi, bo = blocks[call.args[1]]
        return {CONV: [f"NCHW{bi}c", f"OIHW{bi}i{bo}o", f"NCHW{bo}c"]}

    lanes = channel_block(target)
    boundary = winograd if isinstance(winograd, tvm_winograd.Boundary) else tvm_winograd.boundary_for(target)

    # a conv's kernel, by its Winograd choice, operand types and attributes: lowering TE to TIR took
    # 15-20 ms a conv, 2 s of resnet110's 111, which have 10 shapes
    kernels: dict[Any, Any] = {}

    def legalize(bb: Any, call: Any) -> Any:
        data, weight, attrs = call.args[0], call.args[1], call.attrs
        fast = winograd is not False and tvm_winograd.suits(call, lanes, boundary)
        if fast:
            weight = relax.const(tvm_winograd.transformed_weight(weight.value.numpy()))
        key = fast, tvm_ffi.StructuralKey([data.ty, weight.ty, attrs])
        if key in kernels:
            kernel = kernels[key]
            return relax.op.call_tir(kernel.args[0], relax.Tuple([data, weight]), kernel.ty_args[0])
        if fast:
            kernel = bb.call_te(tvm_winograd.compute, data, weight, primfunc_name_hint="conv2d_winograd_NCHWc")
        else:
            kernel = bb.call_te(
                topi.nn.conv2d_NCHWc, data, weight, attrs.strides, attrs.padding, attrs.dilation,
                attrs.data_layout, attrs.out_layout, attrs.out_dtype if str(attrs.out_dtype) else "float32",
                primfunc_name_hint="conv2d_NCHWc",
            )
        kernels[key] = kernel
        return kernel

    return tvm.transform.Sequential([
        relax.transform.ConvertLayout({}, layouts),
        relax.transform.Normalize(),
        fold_constants(),  # the weights' layout transform happens here, once
        relax.transform.LegalizeOps({CONV: legalize}),
    ])(mod)


#: elementwise arithmetic numpy computes exactly as TVM's kernels do (IEEE float32, one rounding each)
_NUMPY_ARITHMETIC = {
    "relax.add": "add", "relax.subtract": "subtract", "relax.multiply": "multiply", "relax.divide": "divide",
    "relax.sqrt": "sqrt",
}
#: ops that only give the same data another shape
_NUMPY_RESHAPES = frozenset({"relax.reshape", "relax.expand_dims"})
#: every op :func:`_evaluate` computes, on tensors of the dtypes numpy has as TVM does
_NUMPY_OPS = frozenset({*_NUMPY_ARITHMETIC, *_NUMPY_RESHAPES, "relax.permute_dims", "relax.layout_transform"})
_NUMPY_DTYPES = frozenset({"float32", "float64"})


class _NotFoldable(Exception):
    """A constant expression numpy does not compute here: left for Relax's FoldConstant."""


def fold_constants() -> Any:
    """A pass computing constant expressions: :func:`fold_in_numpy`, then FoldConstant for the rest.

    Relax's FoldConstant compiles and runs a TVM kernel for each constant expression: the BN folding
    of every conv's weights and the pre-packing of every weight into the blocked layout took 14 s of
    the 20 s resnet110 needed to reach its tuning tasks, where numpy takes milliseconds. It also
    legalizes every op it visits, constant or not, to find out (0.5-0.9 s a run on resnet110's 700
    ops), so it runs only where :func:`_left_to_fold` finds a call it could fold.
    """
    import tvm
    from tvm import relax

    @tvm.transform.module_pass(opt_level=0, name="FoldConstantsInNumpy")
    def _pass(mod: Any, _ctx: Any) -> Any:
        mod = fold_in_numpy(mod)
        return relax.transform.FoldConstant()(mod) if _left_to_fold(mod) else mod

    return _pass


def _left_to_fold(mod: Any) -> bool:
    """Whether FoldConstant could change ``mod``: a call none of whose operands is a tensor variable
    (a constant expression), or one given a variable bound to a shape (FoldConstant writes the shape
    in its place). Where neither is, it returns the module as it was."""
    from tvm import relax

    for func in mod.functions.values():
        if not isinstance(func, relax.Function):
            continue
        shapes = set()  # variables bound to a shape so far: a binding comes before its uses
        for binding in (b for block in func.body.blocks for b in block.bindings):
            value = getattr(binding, "value", None)
            if isinstance(value, relax.ShapeExpr):
                shapes.add(binding.var)
            elif isinstance(value, relax.Call) and (not any(_has_tensor_var(a) for a in value.args)
                                                    or any(a in shapes for a in value.args)):
                return True
    return False


def _has_tensor_var(expr: Any) -> bool:
    """Whether ``expr`` is (or a tuple holds) a variable that is not a shape: a value known at run time only."""
    from tvm import relax

    if isinstance(expr, relax.Tuple):
        return any(_has_tensor_var(field) for field in expr.fields)
    return isinstance(expr, relax.Var) and not isinstance(expr.ty, relax.ShapeType)


def fold_in_numpy(mod: Any) -> Any:
    """``mod`` with the constant expressions of the ops numpy computes here folded into constants.

    Elementwise arithmetic, reshapes, transposes and layout transforms: the same IEEE float32
    operations as TVM's kernels, so the constants are bit for bit the ones FoldConstant makes (and
    constants are inlined into their uses as FoldConstant does).
    """
    from tvm import relax
    from tvm.ir.expr import GenericConst

    @relax.expr_functor.mutator
    class _Fold(relax.PyExprMutator):
        def visit_call_(self, call: Any) -> Any:
            call = super().visit_call_(call)
            try:
                value = _evaluate(call)
            except _NotFoldable:
                return call
            return relax.const(value.astype(str(call.ty.dtype), copy=False))

        def visit_var_(self, var: Any) -> Any:
            return self._constant(super().visit_var_(var))

        def visit_dataflow_var_(self, var: Any) -> Any:
            return self._constant(super().visit_dataflow_var_(var))

        def _constant(self, var: Any) -> Any:
            bound = self.lookup_binding(var)
            return bound if isinstance(bound, GenericConst) else var

    mod = mod.clone()
    for gv, func in list(mod.functions_items()):
        if isinstance(func, relax.Function):
            mod[gv] = relax.analysis.remove_all_unused(_Fold().visit_expr(func))
    return mod


def _evaluate(call: Any) -> Any:
    """The value of ``call`` as a numpy array; :class:`_NotFoldable` unless it is a supported op on constants."""
    import numpy as np
    from tvm.ir import Op

    name = call.op.name if isinstance(call.op, Op) else ""
    if name not in _NUMPY_OPS or str(call.ty.dtype) not in _NUMPY_DTYPES:
        raise _NotFoldable
    if name in _NUMPY_ARITHMETIC:
        return getattr(np, _NUMPY_ARITHMETIC[name])(*(_operand(a) for a in call.args))
    if name in _NUMPY_RESHAPES:
        return _operand(call.args[0]).reshape([int(d) for d in call.ty.shape])
    if name == "relax.permute_dims":
        axes = call.attrs.axes
        return np.transpose(_operand(call.args[0]), None if axes is None else [int(a) for a in axes])
    if call.attrs.pad_value is not None:  # a layout transform that pads
        raise _NotFoldable
    return _layout_transform(_operand(call.args[0]), call.attrs.index_map, [int(d) for d in call.ty.shape])


def _operand(expr: Any) -> Any:
    """A constant operand's value: a tensor's array, a scalar's numpy scalar of its dtype."""
    import numpy as np
    from tvm.ir.expr import GenericConst
    from tvm.ir.prim.expr import FloatImm, IntImm

    if isinstance(expr, GenericConst):
        return expr.value.numpy()
    if isinstance(expr, FloatImm | IntImm):
        return np.array(expr.value, dtype=str(expr.ty))[()]
    raise _NotFoldable


def _layout_transform(data: Any, index_map: Any, shape: list[int]) -> Any:
    """``data`` laid out by ``index_map`` (a TIR IndexMap) into ``shape``: every element moved at once."""
    import numpy as np

    if math.prod(shape) != data.size:
        raise _NotFoldable  # padded: what fills the gaps is FoldConstant's to decide
    env = dict(zip(index_map.initial_indices, np.indices(data.shape, sparse=True), strict=True))
    where = tuple(np.broadcast_to(_index(e, env), data.shape) for e in index_map.final_indices)
    out = np.empty(shape, data.dtype)
    out[where] = data
    return out


def _index(expr: Any, env: dict[Any, Any]) -> Any:
    """The integer index expression ``expr`` over the index arrays of ``env``."""
    import operator

    import numpy as np
    from tvm.ir.expr import Var
    from tvm.ir.prim.expr import Add, FloorDiv, FloorMod, IntImm, Mul, Sub

    if isinstance(expr, Var):
        return env[expr]
    if isinstance(expr, IntImm):
        return int(expr.value)
    ops = {Add: operator.add, Sub: operator.sub, Mul: operator.mul, FloorDiv: np.floor_divide, FloorMod: np.mod}
    if type(expr) not in ops:
        raise _NotFoldable
    return ops[type(expr)](_index(expr.a, env), _index(expr.b, env))
