"""DenseNet-BC in TVM's blocked conv layout: concats join whole channel blocks, bottlenecks are padded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from devbench.backends.tvm_backend import build, import_network, lower_to_tir, optimize_graph, tvm_target
from devbench.backends.tvm_layout import CONV, _calls, blocked_layout_applies, padded_width, to_blocked_layout
from devbench.models import build_model
from devbench.models.spec import ArchSpec
from devbench.targets import get_target

#: three layers per stage: stages of 24 + 12i, 30 + 12i and 33 + 12i channels. The first takes
#: blocks of 12 as is; the third has its transition's output padded (33 -> 36) so that every tensor a
#: concat joins takes blocks of 12, not (33 and 12 share only 3) none at all. The second's bottlenecks
#: write whole vectors (16), so it takes them too: growth 12 -> 16, its transition output 30 -> 32.
#: A pruned bottleneck of 43 channels is padded to 45, in blocks of 15.
TINY = ArchSpec(family="densenet_bc", inner=((43, 20, 8), (16, 16, 16), (8, 8, 8)), stem_channels=24, growth=12,
                compression=0.5, input_shape=(3, 8, 8), num_classes=10, name="tiny_densenet")


@pytest.mark.parametrize(("channels", "width"), [(12, 12), (26, 26), (27, 28), (34, 36), (43, 45), (46, 48)])
def test_padded_width_takes_the_fewest_vectors(channels: int, width: int) -> None:
    assert padded_width(channels, 16) == width


@pytest.fixture(scope="module")
def tiny() -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = build_model(TINY).eval()
    for m in net.modules():  # BN statistics far from identity, so a wrong channel order shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.2, 3)
            m.weight.data.uniform_(0.5, 2)
            m.bias.data.uniform_(-1, 1)
    return net, torch.randn(1, *TINY.input_shape)


def test_densenet_compiles_in_the_blocked_layout_like_pytorch(tiny: tuple[torch.nn.Module, torch.Tensor]) -> None:
    import tvm
    from tvm import relax

    net, x = tiny
    target = tvm_target(get_target("local", threads=2))
    mod = optimize_graph(import_network(net, x)[0])
    with target:
        assert blocked_layout_applies(mod, target)
        blocked = to_blocked_layout(mod, target)
    kernels = [(c.args[0].name_hint, c.ty) for c in _calls(blocked) if c.op.name == "relax.call_tir"]
    assert not [c for c in _calls(blocked) if c.op.name == CONV]  # every conv became a conv2d_NCHWc kernel
    assert any(name.startswith("conv2d_NCHWc") for name, _ in kernels)
    concats = [ty for name, ty in kernels if name.startswith("concatenate")]
    assert concats and all(len(ty.shape) == 5 for ty in concats)  # joined along the channel-block axis
    widths = [(int(ty.shape[1]) * int(ty.shape[-1]), int(ty.shape[-1])) for ty in concats]
    # (channels with padding, block) of each concat, three a stage
    assert widths == [(36, 12), (48, 12), (60, 12), (48, 16), (64, 16), (80, 16), (48, 12), (60, 12), (72, 12)]
    # the input's (for the stem and its BN-folded copy) and the head's: none inside the dense blocks
    assert sum("layout_transform" in name for name, _ in kernels) <= 3

    exe, _ = build(lower_to_tir(mod, target), target, None)
    out = relax.VirtualMachine(exe, tvm.cpu())["main"](tvm.runtime.tensor(x.numpy())).numpy()
    with torch.no_grad():
        ref = net(x).numpy()
    assert np.abs(out - ref).max() < 1e-3  # the board runner's default --atol
