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
