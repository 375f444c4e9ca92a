"""The blocked conv layout: which channel block a tensor gets, and which networks take it."""

from __future__ import annotations

import pytest
import torch

from devbench.backends.tvm_layout import block_for, blocked_layout_applies
from devbench.bench import load_model


@pytest.mark.parametrize(("channels", "lanes", "block"), [
    (64, 16, 16),   # a whole number of vectors
    (8, 16, 8),     # narrower than a vector: all of it
    (27, 16, 9),    # the largest divisor that fits a vector
    (46, 16, 23),   # no divisor up to a vector: the smallest up to two
    (13, 16, 13),   # a prime up to two vectors: one masked vector
    (37, 16, None), # a prime beyond: only 1 would divide, the conv would not vectorize
    (12, 4, 4),     # NEON
])
def test_block_for(channels: int, lanes: int, block: int | None) -> None:
    assert block_for(channels, lanes) == block


def test_registered_networks_take_the_blocked_layout_on_avx512() -> None:
    import tvm

    from devbench.backends.tvm_backend import import_network, optimize_graph

    target = tvm.target.Target({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    cuda = tvm.target.Target({"kind": "cuda", "arch": "sm_87"})
    for name in ("resnet20", "pruned_resnet"):  # pruned widths (11, 9, 18, ...) take divisor blocks
        model = load_model(name)
        mod, _ = import_network(model.module, torch.randn(1, *model.spec.input_shape))
        mod = optimize_graph(mod)
        with target:
            assert blocked_layout_applies(mod, target)
        assert not blocked_layout_applies(mod, cuda)  # GPUs keep NCHW
    # concats of 12-channel tensors: every tensor a concat joins takes blocks of 12; pruned bottlenecks
    # no block fits (43) are padded
    for name in ("densenet_bc_40", "pruned_densenet"):
        model = load_model(name)
        mod = optimize_graph(import_network(model.module, torch.randn(1, *model.spec.input_shape))[0])
        with target:
            assert blocked_layout_applies(mod, target)
        assert not blocked_layout_applies(mod, cuda)


class _ConvBnAddBn(torch.nn.Module):
    """conv -> BN (folded into the conv), then an add and a BN after it (decomposed to constants)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False), torch.nn.BatchNorm2d(4)
        self.bn2, self.conv2 = torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 8, 3, padding=1)
        for bn in (self.bn1, self.bn2):  # statistics far from identity, so every constant is computed
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.2, 3)
            bn.weight.data.uniform_(0.5, 2)
            bn.bias.data.uniform_(-1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.bn2(torch.relu(self.bn1(self.conv1(x))) + x))


def test_constants_folded_in_numpy_are_fold_constants_bit_for_bit() -> None:
    """BN folding, then weight packing, in numpy: FoldConstant's constants, and none left for it to compile."""
    import tvm
    import tvm_ffi
    from tvm import relax

    from devbench.backends.tvm_backend import import_network
    from devbench.backends.tvm_layout import _calls, fold_in_numpy

    def folds_like_fold_constant(mod: object, ops: set[str]) -> object:
        assert ops <= {c.op.name for c in _calls(mod)}
        folded = fold_in_numpy(mod)
        assert not [c.op.name for c in _calls(folded) if not any(isinstance(a, relax.Var) for a in c.args)]
        assert tvm_ffi.structural_equal(folded, relax.transform.FoldConstant()(mod), map_free_vars=True)
        return folded

    torch.manual_seed(0)
    mod = import_network(_ConvBnAddBn().eval(), torch.randn(1, 4, 8, 8))[0]
    mod = tvm.transform.Sequential([
        relax.transform.FoldBatchnormToConv2D(),
        relax.transform.DecomposeOpsForInference(),
        relax.transform.CanonicalizeBindings(),
    ])(mod)
    folded = folds_like_fold_constant(mod, {"relax.sqrt", "relax.divide", "relax.reshape", "relax.expand_dims"})
    layouts = {"relax.nn.conv2d": ["NCHW4c", "OIHW4i4o", "NCHW4c"]}
    packed = relax.transform.Normalize()(relax.transform.ConvertLayout(layouts)(folded))
    folds_like_fold_constant(packed, {"relax.layout_transform"})


class _ReluOfBuffer(torch.nn.Module):
    """An input plus relu of a constant: relu is no op numpy folds here, so FoldConstant must."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("offset", torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.relu(self.offset)


@pytest.mark.parametrize("network", [_ConvBnAddBn, _ReluOfBuffer])
def test_fold_constants_runs_fold_constant_where_it_could_fold(network: type[torch.nn.Module]) -> None:
    """FoldConstant legalizes every op to look for constant ones, so it is skipped when none is left
    after numpy's folding; the module comes out as it would with it, and what only it folds is folded."""
    import tvm_ffi
    from tvm import relax

    from devbench.backends.tvm_backend import import_network
    from devbench.backends.tvm_layout import _calls, _left_to_fold, fold_constants, fold_in_numpy

    torch.manual_seed(0)
    mod = import_network(network().eval(), torch.randn(1, 4, 4, 4))[0]
    in_numpy = fold_in_numpy(mod)
    assert _left_to_fold(in_numpy) == (network is _ReluOfBuffer)
    folded = fold_constants()(mod)
    assert tvm_ffi.structural_equal(folded, relax.transform.FoldConstant()(in_numpy), map_free_vars=True)
    if network is _ReluOfBuffer:
        assert "relax.nn.relu" not in {c.op.name for c in _calls(folded)}


def test_fold_constants_writes_a_shape_variable_in_place_as_fold_constant_does() -> None:
    import tvm_ffi
    from tvm import relax

    from devbench.backends.tvm_layout import fold_constants

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((2, 8), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit_output(bb.emit(relax.op.reshape(x, bb.emit(relax.ShapeExpr([4, 4])))))
        bb.emit_func_output(y)
    mod = bb.get()
    folded = fold_constants()(mod)
    assert not tvm_ffi.structural_equal(folded, mod)  # the reshape takes R.shape([4, 4]) itself
    assert tvm_ffi.structural_equal(folded, relax.transform.FoldConstant()(mod))
